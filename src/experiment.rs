//! What the commands do, end to end: load data, build networks, train, write results.
//! The CLI only parses arguments and calls these.

use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;

use crate::Error;
use crate::config::ExperimentConfig;
use crate::data::{self, LoadedData};
use crate::model::{ModelKind, NetworkConfig, NormKind, NormPosition};
use crate::report::files::{BURN_VERSION, CHECKPOINT_FILE};
use crate::report::{self, ComparisonSummary, ReportError, RunMetrics, RunRecord, charts};
use crate::train::backend::{Backend, BackendKind};
use crate::train::progress::Progress;
use crate::train::{self, FitOptions, bench::BenchResult};

/// Loads the configured dataset and applies the sample limits.
pub fn load_data(config: &ExperimentConfig) -> Result<LoadedData, Error> {
    let dir = data::datasets::resolve_dir(config.dataset, config.data_dir.as_deref())?;
    let loaded = data::datasets::load(config.dataset, &dir)?;
    Ok(loaded.limited(config.limit_train, config.limit_test))
}

/// The default output folder: `results/<model>`, `results/<model>-bn`, `results/mlp-ln-after`, …
pub fn default_run_dir(config: &ExperimentConfig) -> PathBuf {
    let network = config.network();
    let mut name = network.label().replace('+', "-").replace('×', "-init");
    if name.is_empty() {
        name = config.model.to_string();
    }
    PathBuf::from("results").join(name)
}

/// Trains one network (as `config` describes it) and writes `config.json`, `metrics.json`
/// (after every epoch), `model.bpk` and `curves.png` into `out`.
pub fn train_run(
    config: &ExperimentConfig,
    data: &LoadedData,
    out: &Path,
    progress: &Progress,
) -> Result<RunMetrics, Error> {
    let network = config.network();
    let backend = config.backend.open()?;
    let parameters = network
        .init(config.seed, &backend.device)
        .parameter_counts();
    progress.line(format!(
        "{} on {} ({} train / {} test samples), backend {}, seed {}",
        title(&network),
        config.dataset,
        data.train.len(),
        data.test.len(),
        describe_backend(config.backend, &backend),
        config.seed
    ));
    progress.line(format!("  {}", network.describe()));
    progress.line(format!(
        "  parameters: {} trainable{}",
        thousands(parameters.trainable),
        if parameters.running_statistics > 0 {
            format!(
                " + {} BatchNorm running statistics",
                thousands(parameters.running_statistics)
            )
        } else {
            String::new()
        }
    ));
    let outputs = RunOutputs {
        checkpoint: true,
        curves: true,
        step_losses: false,
    };
    let run = execute_run(config, &network, data, out, outputs, None, progress)
        .map_err(|failed| failed.error)?;
    Ok(run.metrics)
}

/// Which files a run writes besides `config.json` and `metrics.json`.
#[derive(Debug, Clone, Copy)]
pub struct RunOutputs {
    pub checkpoint: bool,
    pub curves: bool,
    /// Hand back every step's training loss.
    pub step_losses: bool,
}

/// A finished run: its metrics and the per-step record.
pub struct RunResult {
    pub metrics: RunMetrics,
    pub step_losses: Vec<f32>,
    pub probes: Vec<train::ProbePoint>,
    /// Per epoch, the share of a BatchNorm running variance still at its initial value (see
    /// `train::initial_variance_share`); empty without BatchNorm.
    pub initial_variance_shares: Vec<f64>,
}

/// A run that stopped early: why, and the epochs it completed (already on disk).
#[derive(Debug)]
pub struct FailedRun {
    pub error: Error,
    pub metrics: RunMetrics,
}

/// Trains `network` with the loop settings of `config` (epochs, batch size, learning rate,
/// seed, backend) and records it in `out`, `metrics.json` after every epoch.
pub fn execute_run(
    config: &ExperimentConfig,
    network: &NetworkConfig,
    data: &LoadedData,
    out: &Path,
    outputs: RunOutputs,
    probe: Option<train::ProbeSpec>,
    progress: &Progress,
) -> Result<RunResult, FailedRun> {
    let bn = network.norm == NormKind::Batch;
    let mut metrics = RunMetrics {
        model: config.model.to_string(),
        bn,
        dataset: config.dataset.to_string(),
        backend: config.backend.to_string(),
        device: String::new(),
        epochs: Vec::new(),
    };
    let backend = match config.backend.open() {
        Ok(backend) => backend,
        Err(error) => {
            return Err(FailedRun {
                error: error.into(),
                metrics,
            });
        }
    };
    metrics.backend = backend.kind.to_string();
    metrics.device = backend.device_name.clone();
    let device = backend.device.clone();
    if backend.kind.runs_on_cpu() {
        train::subnormals::set_flush(config.flush_subnormals);
    }
    let model = network.init(config.seed, &device);
    let checkpoint = outputs.checkpoint.then(|| out.join(CHECKPOINT_FILE));
    let prepare = || -> Result<(), Error> {
        std::fs::create_dir_all(out).map_err(|source| ReportError::Write {
            path: out.into(),
            source,
        })?;
        RunRecord {
            bnx_version: env!("CARGO_PKG_VERSION").into(),
            burn_version: BURN_VERSION.into(),
            backend: backend.kind.to_string(),
            device: backend.device_name.clone(),
            seed: config.seed,
            bn,
            config: config.clone(),
            network: network.clone(),
            dataset: data.provenance.clone(),
            train_samples: data.train.len(),
            test_samples: data.test.len(),
            parameters: model.parameter_counts(),
            checkpoint: checkpoint.clone(),
        }
        .save(out)?;
        // Rewrite an empty record first, so a stale metrics.json from an earlier run never survives.
        metrics.save(out)?;
        Ok(())
    };
    if let Err(error) = prepare() {
        return Err(FailedRun { error, metrics });
    }
    let options = FitOptions {
        epochs: config.epochs,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        seed: config.seed,
        adam: config.adam,
        label: network.label(),
        checkpoint,
        probe,
    };
    let record_steps = outputs.step_losses;
    let fitted = train::fit(
        model,
        &data.train,
        &data.test,
        &device,
        &options,
        progress,
        |epoch| {
            metrics.epochs.push(epoch.clone());
            metrics.save(out).map_err(|e| e.to_string())
        },
    );
    let outcome = match fitted {
        Ok(outcome) => outcome,
        Err(error) => {
            return Err(FailedRun {
                error: error.into(),
                metrics,
            });
        }
    };
    if outputs.curves {
        let chart = charts::render(
            &out.join("curves.png"),
            &chart_title(&metrics, None),
            &charts::run_panels(&metrics),
        );
        if let Err(error) = chart {
            return Err(FailedRun {
                error: error.into(),
                metrics,
            });
        }
    }
    Ok(RunResult {
        metrics,
        step_losses: if record_steps {
            outcome.step_losses
        } else {
            Vec::new()
        },
        probes: outcome.probes,
        initial_variance_shares: outcome.initial_variance_shares,
    })
}

/// Trains both variants with the same seed, data order and initial Dense/Conv weights into
/// `out/no-bn` and `out/bn`, then writes the charts and `summary.json`.
pub fn compare(
    config: &ExperimentConfig,
    data: &LoadedData,
    out: &Path,
    progress: &Progress,
) -> Result<ComparisonSummary, Error> {
    let variant = |bn: bool| ExperimentConfig {
        bn,
        norm: NormKind::None,
        ..config.clone()
    };
    let no_bn = train_run(&variant(false), data, &out.join("no-bn"), progress)?;
    let bn = train_run(&variant(true), data, &out.join("bn"), progress)?;
    write_comparison(out, &no_bn, &bn)
}

fn write_comparison(
    out: &Path,
    no_bn: &RunMetrics,
    bn: &RunMetrics,
) -> Result<ComparisonSummary, Error> {
    let summary = ComparisonSummary::new(no_bn, bn);
    let panels = charts::comparison_panels(no_bn, bn);
    let title = chart_title(bn, Some("with vs without BatchNorm"));
    for name in ["comparison.png", "comparison.svg"] {
        charts::render(&out.join(name), &title, &panels)?;
    }
    report::write_json(&out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// Re-renders the charts of a comparison folder (`no-bn/` + `bn/`) or a single run folder.
pub fn plot(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let (no_bn, bn) = (dir.join("no-bn"), dir.join("bn"));
    if no_bn.join(report::files::METRICS_FILE).is_file()
        && bn.join(report::files::METRICS_FILE).is_file()
    {
        let (no_bn, bn) = (RunMetrics::load(&no_bn)?, RunMetrics::load(&bn)?);
        write_comparison(dir, &no_bn, &bn)?;
        return Ok(vec![
            dir.join("comparison.png"),
            dir.join("comparison.svg"),
            dir.join("summary.json"),
        ]);
    }
    if dir.join(report::files::METRICS_FILE).is_file() {
        let metrics = RunMetrics::load(dir)?;
        let path = dir.join("curves.png");
        charts::render(
            &path,
            &chart_title(&metrics, None),
            &charts::run_panels(&metrics),
        )?;
        return Ok(vec![path]);
    }
    Err(ReportError::NotAResultsDir { path: dir.into() }.into())
}

/// One row of `bnx bench`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    pub model: ModelKind,
    pub bn: bool,
    pub backend: BackendKind,
    pub device: String,
    /// "bnx 0.1.0, Burn 0.22.1".
    pub version: String,
    pub result: BenchResult,
}

/// Times `steps` training steps of each network (`variants`: false = no BN, true = BN) on each
/// backend. A backend that cannot be opened stops the bench with its reason.
#[allow(clippy::too_many_arguments)]
pub fn bench(
    config: &ExperimentConfig,
    models: &[ModelKind],
    variants: &[bool],
    backends: &[BackendKind],
    data: &LoadedData,
    warmup: usize,
    steps: usize,
    progress: &Progress,
) -> Result<Vec<BenchRow>, Error> {
    let opened = backends
        .iter()
        .map(|kind| kind.open())
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    for &model in models {
        for &bn in variants {
            for backend in &opened {
                if backend.kind.runs_on_cpu() {
                    train::subnormals::set_flush(config.flush_subnormals);
                }
                let network = ExperimentConfig {
                    model,
                    ..config.clone()
                }
                .network_with(if bn { NormKind::Batch } else { NormKind::None });
                let result = train::bench::bench(
                    &network,
                    &data.train,
                    &backend.device,
                    config.batch_size,
                    warmup,
                    steps,
                    60_000,
                );
                progress.line(format!(
                    "{:<8} {:<8} {:>9.0} samples/s  {:>8.2} ms/step  {:>8.1} s/epoch",
                    network.label(),
                    backend.kind,
                    result.samples_per_second,
                    result.milliseconds_per_step,
                    result.projected_epoch_seconds
                ));
                rows.push(BenchRow {
                    model,
                    bn,
                    backend: backend.kind,
                    device: backend.device_name.clone(),
                    version: format!("{}, Burn {BURN_VERSION}", env!("CARGO_PKG_VERSION")),
                    result,
                });
            }
        }
    }
    Ok(rows)
}

/// A Markdown table of bench rows.
pub fn bench_table(rows: &[BenchRow]) -> String {
    let mut table = String::from(
        "| network | backend | batch | samples/s | ms/step | epoch s (60k) |\n|---|---|---:|---:|---:|---:|\n",
    );
    for row in rows {
        table.push_str(&format!(
            "| {}{} | {} | {} | {:.0} | {:.2} | {:.1} |\n",
            row.model.name().to_uppercase(),
            if row.bn { "+BN" } else { "" },
            row.backend,
            row.result.batch_size,
            row.result.samples_per_second,
            row.result.milliseconds_per_step,
            row.result.projected_epoch_seconds
        ));
    }
    table
}

/// "flex (AMD EPYC …)", or "auto → wgpu (NVIDIA …)" when `auto` chose.
pub fn describe_backend(requested: BackendKind, backend: &Backend) -> String {
    let chosen = format!("{} ({})", backend.kind, backend.device_name);
    if requested == backend.kind {
        chosen
    } else {
        format!("{requested} → {chosen}")
    }
}

fn title(network: &NetworkConfig) -> String {
    let mut title = network.model.name().to_uppercase();
    if network.norm != NormKind::None {
        title.push_str(&format!(" + {}", network.norm.title()));
        if network.position == NormPosition::After {
            title.push_str(" after ReLU");
        }
    }
    title
}

fn chart_title(metrics: &RunMetrics, what: Option<&str>) -> String {
    let model = metrics.model.to_uppercase();
    let dataset = match metrics.dataset.as_str() {
        "mnist" => "MNIST",
        "fashion-mnist" => "Fashion-MNIST",
        other => other,
    };
    match what {
        Some(what) => format!("{model} on {dataset}: {what} ({} backend)", metrics.backend),
        None => format!(
            "{model}{} on {dataset} ({} backend)",
            if metrics.bn { " + BatchNorm" } else { "" },
            metrics.backend
        ),
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(111_594), "111,594");
        assert_eq!(thousands(448), "448");
        assert_eq!(thousands(1_000), "1,000");
    }
}
