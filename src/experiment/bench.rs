//! `bnx bench`: training steps timed per network, variant and backend, on the threads a run of
//! that network gets.

use crate::config::ExperimentConfig;
use crate::data::LoadedData;
use crate::model::{ModelKind, NetworkConfig, NormKind};
use crate::report::Table;
use crate::report::files::BURN_VERSION;
use crate::runtime::peak::{self, FmaPeak};
use crate::runtime::{Backend, Progress, threads};
use crate::train::{self, bench::BenchResult};

use super::run::run_threads;

/// One row of `bnx bench`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    pub model: ModelKind,
    pub bn: bool,
    pub backend: crate::runtime::BackendKind,
    pub device: String,
    /// "bnx 0.1.0, Burn 0.22.1".
    pub version: String,
    /// The CPU threads the steps computed on (none for a GPU backend).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    pub result: BenchResult,
    /// Billions of floating-point operations a second in the convolutions and dense layers
    /// (`NetworkConfig::training_flops_per_sample` times the samples a second).
    pub gflops: f64,
    /// The fp32 FMA peak of the same number of threads, measured just before (CPU backends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak: Option<FmaPeak>,
    /// `gflops` over the peak's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_share: Option<f64>,
}

/// Times `steps` training steps of each network (`variants`: false = no BN, true = BN) on each
/// backend, trained as `config.training` says.
#[allow(clippy::too_many_arguments)]
pub fn bench(
    config: &ExperimentConfig,
    models: &[ModelKind],
    variants: &[bool],
    backends: &[Backend],
    data: &LoadedData,
    warmup: usize,
    steps: usize,
    progress: &Progress,
) -> Vec<BenchRow> {
    let mut rows = Vec::new();
    // One peak per thread count, measured on a pool built as the runs' are.
    let mut peaks: Vec<FmaPeak> = Vec::new();
    for (model, bn, network, threads) in variant_networks(config, models, variants) {
        for backend in backends {
            let result = threads::with_training_threads(threads, backend.flush_subnormals, || {
                train::bench::bench(
                    &network,
                    &data.train,
                    &backend.device,
                    &config.training,
                    warmup,
                    steps,
                    60_000,
                )
            });
            let gflops =
                network.training_flops_per_sample() as f64 * result.samples_per_second / 1e9;
            let peak = backend
                .kind
                .runs_on_cpu()
                .then(|| peak_of(&mut peaks, threads));
            let peak_share = peak.map(|p| gflops / p.gflops);
            progress.line(format!(
                    "{:<8} {:<8} {:>9.0} samples/s  {:>8.2} ms/step  {:>8.1} s/epoch  {:>6.1} GFLOP/s{}",
                    network.label(),
                    backend.kind,
                    result.samples_per_second,
                    result.milliseconds_per_step,
                    result.projected_epoch_seconds,
                    gflops,
                    peak.zip(peak_share).map_or(String::new(), |(p, share)| format!(
                        " ({:.0} % of {:.0})",
                        100.0 * share,
                        p.gflops
                    ))
                ));
            rows.push(BenchRow {
                model,
                bn,
                backend: backend.kind,
                device: backend.device_name.clone(),
                version: format!("{}, Burn {BURN_VERSION}", env!("CARGO_PKG_VERSION")),
                threads: backend
                    .kind
                    .runs_on_cpu()
                    .then(|| threads::effective(threads)),
                result,
                gflops,
                peak,
                peak_share,
            });
        }
    }
    rows
}

/// Each network of `models` in each variant (false = no BN), with the threads a run of it
/// gets.
pub(super) fn variant_networks<'a>(
    config: &'a ExperimentConfig,
    models: &'a [ModelKind],
    variants: &'a [bool],
) -> impl Iterator<Item = (ModelKind, bool, NetworkConfig, usize)> + 'a {
    models.iter().flat_map(move |&model| {
        variants.iter().map(move |&bn| {
            let network = variant_network(config, model, bn);
            let threads = run_threads(&network, config.training.batch_size, 1);
            (model, bn, network, threads)
        })
    })
}

/// `config`'s network as `model`, with BatchNorm or without.
fn variant_network(config: &ExperimentConfig, model: ModelKind, bn: bool) -> NetworkConfig {
    NetworkConfig {
        model,
        norm: if bn { NormKind::Batch } else { NormKind::None },
        ..config.network.clone()
    }
}

/// The FMA peak of the pool a run of `threads` gets: measured once per pool size.
fn peak_of(peaks: &mut Vec<FmaPeak>, threads: usize) -> FmaPeak {
    let on = threads::effective(threads);
    if let Some(peak) = peaks.iter().find(|p| p.threads == on) {
        return *peak;
    }
    let peak = peak::measure(threads);
    peaks.push(peak);
    peak
}

/// The bench rows as a table.
pub fn bench_table(rows: &[BenchRow]) -> Table {
    let rows = rows
        .iter()
        .map(|row| {
            vec![
                format!(
                    "{}{}",
                    row.model.name().to_uppercase(),
                    if row.bn { "+BN" } else { "" }
                ),
                row.backend.to_string(),
                row.result.batch_size.to_string(),
                format!("{:.0}", row.result.samples_per_second),
                format!("{:.2}", row.result.milliseconds_per_step),
                format!("{:.1}", row.result.projected_epoch_seconds),
                format!("{:.1}", row.gflops),
                row.peak_share
                    .map_or("–".into(), |share| format!("{:.1}", 100.0 * share)),
            ]
        })
        .collect();
    Table::new(
        &[
            "network",
            "backend",
            "batch",
            "samples/s",
            "ms/step",
            "epoch s (60k)",
            "GFLOP/s",
            "% of FMA peak",
        ],
        rows,
    )
    .numeric()
}
