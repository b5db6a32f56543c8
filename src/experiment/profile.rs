//! `bnx bench --profile`: a training step of each network broken down per operation, on the
//! threads a run of that network gets.

use crate::config::ExperimentConfig;
use crate::data::LoadedData;
use crate::model::ModelKind;
use crate::report::Table;
use crate::runtime::{Backend, Progress, threads};
use crate::train::profile::{self, Phase, StepProfile};

use super::bench::variant_networks;

/// Profiles every network of `models` in every variant (false = no BN) on `backend` (flex).
#[allow(clippy::too_many_arguments)]
pub fn profile(
    config: &ExperimentConfig,
    models: &[ModelKind],
    variants: &[bool],
    backend: &Backend,
    data: &LoadedData,
    warmup: usize,
    steps: usize,
    progress: &Progress,
) -> Vec<StepProfile> {
    let mut profiles = Vec::new();
    for (_, _, network, threads) in variant_networks(config, models, variants) {
        let profile = threads::with_training_threads(threads, backend.flush_subnormals, || {
            profile::profile(
                &network,
                &data.train,
                &backend.device,
                &config.training,
                warmup,
                steps,
            )
        });
        progress.line(format!(
            "{:<8} batch {:<4} {:>8.2} ms/step on {} thread{}",
            network.label(),
            profile.batch_size,
            profile.step_milliseconds,
            threads::effective(threads),
            if threads::effective(threads) == 1 {
                ""
            } else {
                "s"
            }
        ));
        profiles.push(profile);
    }
    profiles
}

/// Several profiles side by side, each operation kind added up over the layers (e.g. every
/// convolution's input gradient): milliseconds a step and share of the step per profile.
pub fn profile_summary_table(profiles: &[StepProfile]) -> Table {
    let mut kinds: Vec<(Phase, String)> = Vec::new();
    for row in profiles.iter().flat_map(|p| &p.rows) {
        if !kinds.contains(&(row.phase, row.kind.clone())) {
            kinds.push((row.phase, row.kind.clone()));
        }
    }
    let rows = kinds
        .iter()
        .map(|(phase, kind)| {
            let mut cells = vec![format!("{}: {kind}", phase_name(*phase))];
            for profile in profiles {
                let times: Vec<f64> = profile
                    .rows
                    .iter()
                    .filter(|r| r.phase == *phase && r.kind == *kind)
                    .map(|r| r.milliseconds)
                    .collect();
                if times.is_empty() {
                    cells.extend(["–".to_string(), "–".to_string()]);
                    continue;
                }
                let ms: f64 = times.iter().sum();
                cells.push(format!("{ms:.2}"));
                cells.push(format!("{:.1}", 100.0 * ms / profile.step_milliseconds));
            }
            cells
        })
        .chain(std::iter::once(
            std::iter::once("the whole step".to_string())
                .chain(
                    profiles
                        .iter()
                        .flat_map(|p| [format!("{:.2}", p.step_milliseconds), "100.0".to_string()]),
                )
                .collect(),
        ))
        .collect();
    let headers: Vec<String> = std::iter::once("operation (all layers)".to_string())
        .chain(profiles.iter().flat_map(|p| {
            let name = format!("{}, batch {}", p.network.to_uppercase(), p.batch_size);
            [format!("{name}: ms"), format!("{name}: %")]
        }))
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    Table::new(&headers, rows).numeric()
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Forward => "forward",
        Phase::Backward => "backward",
        Phase::Optimizer => "optimizer",
    }
}

/// A sentence for each phase whose kernels, timed alone, took longer than the whole phase did in
/// the training steps (its rest is negative): then the machine was busier while one of them
/// was timed, and the profile should be run again.
pub fn profile_warnings(profile: &StepProfile) -> Vec<String> {
    profile
        .rows
        .iter()
        .filter(|row| row.is_rest() && row.milliseconds < 0.0)
        .map(|row| {
            format!(
                "The {} pass's kernels timed alone took {:.3} ms longer than the pass itself in \
                 the training steps, so its rest is negative: the machine was busy while they \
                 were timed. Run the profile again.",
                phase_name(row.phase),
                -row.milliseconds
            )
        })
        .collect()
}

/// One profile as a table: each operation's time per step, its share of the step, and its rate.
pub fn profile_table(profile: &StepProfile) -> Table {
    let rows = profile
        .rows
        .iter()
        .map(|row| {
            vec![
                format!("{}: {}", phase_name(row.phase), row.operation),
                format!("{:.3}", row.milliseconds),
                format!(
                    "{:.1}",
                    100.0 * row.milliseconds / profile.step_milliseconds
                ),
                row.gflops.map_or("–".into(), |g| format!("{g:.1}")),
                row.gbytes_per_second
                    .map_or("–".into(), |g| format!("{g:.1}")),
            ]
        })
        .collect();
    Table::new(
        &["operation", "ms/step", "% of step", "GFLOP/s", "GB/s"],
        rows,
    )
    .numeric()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::profile::ProfileRow;

    fn row(phase: Phase, kind: &str, milliseconds: f64) -> ProfileRow {
        ProfileRow {
            phase,
            operation: kind.into(),
            kind: kind.into(),
            milliseconds,
            gflops: None,
            gbytes_per_second: None,
        }
    }

    #[test]
    fn a_negative_rest_is_called_out_and_a_positive_one_is_not() {
        let profile = |forward_rest: f64| StepProfile {
            network: "cnn".into(),
            batch_size: 8,
            step_milliseconds: 3.0,
            rows: vec![
                row(Phase::Forward, "conv: convolution", 2.0),
                row(Phase::Forward, "rest", forward_rest),
                row(Phase::Backward, "rest", 0.5),
            ],
        };
        assert!(profile_warnings(&profile(0.25)).is_empty());
        let warnings = profile_warnings(&profile(-0.25));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("forward pass") && warnings[0].contains("0.250 ms"));
    }
}
