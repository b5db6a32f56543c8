//! Every BatchNorm layer's running variances, per channel, after each epoch (raw: the report
//! derives from them how much of the variance validation divided by was still its start).

use super::measurement::{Measurement, Recorder, RunSetup};
use crate::study::lookup::Runs;
use crate::study::runs::{Measured, RunOutcome, Schedule};
use crate::train::hooks::RunningVariances;
use crate::train::{EpochMetrics, Hook, STALE_SHARE, TrainError, Trainer};

pub const ID: &str = "bn_running_var";

pub struct BnRunningVar;

/// The run's snapshots, one per completed epoch (empty without BatchNorm).
pub fn of(run: &RunOutcome) -> Vec<RunningVariances> {
    run.measured.read(ID)
}

#[derive(Default)]
struct Snapshots(Vec<RunningVariances>);

impl Hook for Snapshots {
    fn on_epoch(
        &mut self,
        trainer: &mut Trainer,
        _metrics: &EpochMetrics,
        steps_done: usize,
    ) -> Result<(), TrainError> {
        self.0
            .extend(RunningVariances::of(trainer.model(), steps_done));
        Ok(())
    }
}

impl Recorder for Snapshots {
    /// Kept for a diverged run too: its completed epochs were validated with them.
    fn keep(self: Box<Self>, _diverged: bool, measured: &mut Measured) {
        measured.insert(ID, &self.0);
    }
}

impl Measurement for BnRunningVar {
    fn id(&self) -> &'static str {
        ID
    }

    fn recorder(&self, _schedule: Schedule, _setup: &RunSetup) -> Option<Box<dyn Recorder>> {
        Some(Box::new(Snapshots::default()))
    }

    fn reads_back(&self, measured: &Measured) -> bool {
        measured.reads_as::<Vec<RunningVariances>>(ID)
    }

    fn caveat(&self, runs: &Runs) -> Option<String> {
        stale_statistics_caveat(runs.all)
    }
}

/// Names the runs and epochs whose BatchNorm validation used a running variance that was still
/// mostly its initial value, from the raw variances in `run.json` (dead channels skipped; see
/// `train::hooks::RunningVariances::stale_share`).
fn stale_statistics_caveat(outcomes: &[RunOutcome]) -> Option<String> {
    let mut places: Vec<String> = Vec::new();
    let mut worst = (0.0f64, String::new());
    let mut flagged_runs = 0;
    for o in outcomes {
        let stale: Vec<(usize, f64)> = of(o)
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((i + 1, v.stale_share()?.share)))
            .filter(|(_, share)| *share > STALE_SHARE)
            .collect();
        if stale.is_empty() {
            continue;
        }
        flagged_runs += 1;
        let epochs: Vec<String> = stale.iter().map(|(e, _)| e.to_string()).collect();
        let place = format!(
            "{} · {} (epoch {})",
            o.spec.series.title(),
            o.spec.point,
            epochs.join(", ")
        );
        if !places.contains(&place) {
            places.push(place);
        }
        for (epoch, share) in stale {
            if share > worst.0 {
                worst = (
                    share,
                    format!(
                        "{} · {}, epoch {epoch}",
                        o.spec.series.title(),
                        o.spec.point
                    ),
                );
            }
        }
    }
    (flagged_runs > 0).then(|| {
        format!(
            "BatchNorm's running variance starts at 1 and forgets 1 % of that start per step (Keras momentum 0.99); a layer whose true variance is small (the CNN's first conv layer: ~0.005) needs about 900 steps before validation stops dividing by a variance far larger than the true one. In {flagged_runs} of {} runs, after some epochs over {:.0} % of some live channel's running variance (+ε) was still that start — {} — so validation accuracy there understates the network (at worst {:.0} % of a running variance was still its start: {}). Computed from the per-channel running variances in run.json; channels dead in training mode too are skipped.",
            outcomes.len(),
            100.0 * STALE_SHARE,
            places.join("; "),
            100.0 * worst.0,
            worst.1
        )
    })
}
