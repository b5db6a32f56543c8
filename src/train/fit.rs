//! The training loop: epochs of steps through a [`Trainer`], Keras-style epoch metrics,
//! validation in inference mode, and [`Hook`]s told what happens.

use std::sync::Arc;
use std::time::Instant;

use burn::data::dataloader::DataLoader;
use burn::data::dataset::Dataset;
use burn::prelude::*;

use super::epoch::EpochMetrics;
use super::error::TrainError;
use super::evaluate::{eval_loader, evaluate};
use super::hooks::Hook;
use super::prefetch::prefetched;
use super::recalibrate::recalibrated;
use super::trainer::{Step, Trainer};
use crate::config::TrainingConfig;
use crate::data::{ImageBatch, ImageSet};
use crate::runtime::{Progress, interrupt};

/// Losses and hit counts are read back from the device every this many steps (or sooner when
/// the progress bar has waited `READBACK_INTERVAL`), not every step.
pub const READBACK_EVERY: usize = 25;
const READBACK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// Trains for `training.epochs` epochs of `training.batch_size` batches of `train` (shuffled from
/// `training.seed`), validating on `test` after every epoch. `label` goes in front of progress
/// bars. Each hook hears of every step, read-back and epoch as it happens, so a hook can persist
/// an epoch before the next one starts.
pub fn fit(
    trainer: &mut Trainer,
    train: &ImageSet,
    test: &ImageSet,
    training: &TrainingConfig,
    label: &str,
    progress: &Progress,
    hooks: &mut [&mut dyn Hook],
) -> Result<Vec<EpochMetrics>, TrainError> {
    // One loader for the whole run: it reshuffles at every epoch from the run's seed.
    let train_loader = trainer.loader(train, training.batch_size, training.seed);
    let test_loader = eval_loader(test, trainer.inference_device());
    let run = Epochs {
        train,
        training,
        label,
        progress,
        steps: train.len().div_ceil(training.batch_size),
    };
    // A resumed trainer continues after its last completed epoch: the loader reshuffles once
    // per `iter()`, so drawing the skipped epochs' orders puts the data order where it was.
    let epochs_done = trainer.completed().len();
    for _ in 0..epochs_done {
        drop(train_loader.iter());
    }
    for hook in hooks.iter_mut() {
        if epochs_done == 0 {
            hook.on_start(trainer.model())?;
        } else {
            hook.on_resume(trainer.completed(), trainer.steps_done());
        }
    }
    for epoch in epochs_done + 1..=training.epochs {
        let started = Instant::now();
        let tally = run.train_epoch(trainer, &train_loader, epoch, hooks)?;
        let train_seconds = started.elapsed().as_secs_f64();
        let metrics = run.validate(trainer, test_loader.as_ref(), epoch, &tally, started);
        run.report(&metrics, train_seconds);
        trainer.complete_epoch(metrics.clone());
        let steps_done = trainer.steps_done();
        for hook in hooks.iter_mut() {
            hook.on_epoch(trainer, &metrics, steps_done)?;
        }
    }
    Ok(trainer.completed()[epochs_done..].to_vec())
}

/// What every epoch of a run shares.
struct Epochs<'a> {
    train: &'a ImageSet,
    training: &'a TrainingConfig,
    label: &'a str,
    progress: &'a Progress,
    /// Optimizer steps per epoch.
    steps: usize,
}

impl Epochs<'_> {
    /// One epoch's steps, with the hooks told of each and of every read-back.
    fn train_epoch(
        &self,
        trainer: &mut Trainer,
        loader: &Arc<dyn DataLoader<ImageBatch>>,
        epoch: usize,
        hooks: &mut [&mut dyn Hook],
    ) -> Result<StepTally, TrainError> {
        let started = Instant::now();
        let bar =
            self.progress
                .epoch_bar(self.label, epoch, self.training.epochs, self.steps as u64);
        let mut tally = StepTally::default();
        let mut last_readback = Instant::now();
        // The next batch is built while this one's step computes.
        for (step, batch) in prefetched(loader.clone()).enumerate() {
            let batch = batch.map_err(|e| TrainError::Data {
                epoch,
                message: e.to_string(),
            })?;
            for hook in hooks.iter_mut() {
                hook.before_step(trainer.model(), &batch, trainer.steps_done())?;
            }
            tally.push(trainer.step(batch));
            let steps_done = trainer.steps_done();
            if interrupt::requested() {
                return Err(TrainError::Interrupted {
                    epochs_done: epoch - 1,
                });
            }
            for hook in hooks.iter_mut() {
                hook.on_step(trainer.model(), steps_done)?;
            }
            let due =
                tally.pending() >= READBACK_EVERY || last_readback.elapsed() >= READBACK_INTERVAL;
            if due || step + 1 == self.steps {
                let losses = tally.flush(epoch, step + 1)?;
                for hook in hooks.iter_mut() {
                    hook.on_readback(&losses);
                }
                last_readback = Instant::now();
                bar.set_position((step + 1) as u64);
                bar.set_message(format!(
                    "loss {:.4} acc {:.2}%  {:.1} steps/s",
                    tally.mean_loss(),
                    100.0 * tally.accuracy(),
                    (step + 1) as f64 / started.elapsed().as_secs_f64()
                ));
            }
        }
        self.progress.finish_bar(&bar);
        Ok(tally)
    }

    /// The epoch's metrics: its training tally and validation in inference mode (after
    /// recalibrating BatchNorm's statistics when asked to). `started`: when the epoch began.
    fn validate(
        &self,
        trainer: &mut Trainer,
        test_loader: &dyn DataLoader<ImageBatch>,
        epoch: usize,
        tally: &StepTally,
        started: Instant,
    ) -> EpochMetrics {
        if self.training.recalibrate_bn && !trainer.model().batch_norms().is_empty() {
            // Only the running statistics change: training-mode steps never read them.
            let model = recalibrated(trainer.model(), self.train, trainer.device());
            trainer.set_model(model);
        }
        let (val_loss, val_acc) = evaluate(&trainer.model().valid(), test_loader);
        EpochMetrics {
            epoch,
            train_loss: tally.mean_loss(),
            train_acc: tally.accuracy(),
            val_loss,
            val_acc,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// The epoch's line on the progress display.
    fn report(&self, metrics: &EpochMetrics, train_seconds: f64) {
        self.progress.epoch_line(format!(
            "{} epoch {:>2}/{}  train loss {:.4} acc {:.2}%  val loss {:.4} acc {:.2}%  {:.1} s  {:.0} samples/s",
            self.label,
            metrics.epoch,
            self.training.epochs,
            metrics.train_loss,
            100.0 * metrics.train_acc,
            metrics.val_loss,
            100.0 * metrics.val_acc,
            metrics.seconds,
            self.train.len() as f64 / train_seconds,
        ));
    }
}

/// Running sums of an epoch's losses and hits, read back from the device in chunks.
#[derive(Default)]
pub(super) struct StepTally {
    pending: Vec<Step>,
    loss_sum: f64,
    correct: u64,
    seen: u64,
}

impl StepTally {
    pub(super) fn push(&mut self, step: Step) {
        self.pending.push(step);
    }

    pub(super) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Reads the pending steps back and returns their losses; `step` is the 1-based index of
    /// the last pending step in its epoch.
    pub(super) fn flush(&mut self, epoch: usize, step: usize) -> Result<Vec<f32>, TrainError> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let steps = std::mem::take(&mut self.pending);
        let sizes: Vec<usize> = steps.iter().map(|s| s.size).collect();
        let (losses, correct): (Vec<_>, Vec<_>) =
            steps.into_iter().map(|s| (s.loss, s.correct)).unzip();
        let losses = Tensor::cat(losses, 0)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 data");
        let correct = Tensor::cat(correct, 0)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .expect("i64 data");
        let first_step = step + 1 - sizes.len();
        for (i, ((loss, hits), size)) in losses.iter().zip(&correct).zip(&sizes).enumerate() {
            if !loss.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    epoch,
                    step: first_step + i,
                    value: *loss,
                });
            }
            self.loss_sum += f64::from(*loss) * *size as f64;
            self.correct += *hits as u64;
            self.seen += *size as u64;
        }
        Ok(losses)
    }

    pub(super) fn mean_loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    pub(super) fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }
}
