//! Training throughput, measured: a fixed number of optimizer steps after a warm-up; and the
//! first losses of a run, which every backend must agree on.

use std::ops::ControlFlow;
use std::time::Instant;

use burn::data::dataset::Dataset;
use burn::prelude::*;
use serde::Serialize;

use super::fit::READBACK_EVERY;
use super::prefetch::prefetched;
use super::trainer::Trainer;
use crate::config::TrainingConfig;
use crate::data::{ImageBatch, ImageSet};
use crate::model::NetworkConfig;

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub steps: usize,
    pub batch_size: usize,
    pub seconds: f64,
    pub samples_per_second: f64,
    pub milliseconds_per_step: f64,
    /// Seconds one training epoch over `epoch_samples` would take at this rate.
    pub projected_epoch_seconds: f64,
}

/// Times `steps` training steps (after `warmup` untimed ones) of `network`, trained as
/// `training` says, on `train`; only full batches are timed. The device is drained before the
/// clock starts and before it stops, so the time is the real training time of `steps` steps.
pub fn bench(
    network: &NetworkConfig,
    train: &ImageSet,
    device: &Device,
    training: &TrainingConfig,
    warmup: usize,
    steps: usize,
    epoch_samples: usize,
) -> BenchResult {
    let batch_size = training.batch_size;
    let mut trainer = Trainer::new(network.init(training.seed, device), device, training);

    // Losses are read back as the training loop does it: every READBACK_EVERY steps, and to
    // close the warm-up and the timed steps, so the clock sees every step finished.
    let mut pending: Vec<Tensor<1>> = Vec::new();
    fn read_back(pending: &mut Vec<Tensor<1>>) {
        if !pending.is_empty() {
            let _ = Tensor::cat(std::mem::take(pending), 0).into_data();
        }
    }
    let mut started = Instant::now();
    let mut done = 0;
    for_each_full_batch(&mut trainer, train, training, |trainer, batch| {
        pending.push(trainer.step(batch).loss);
        done += 1;
        if done == warmup {
            read_back(&mut pending);
            started = Instant::now();
        }
        if done == warmup + steps {
            read_back(&mut pending);
            return ControlFlow::Break(());
        }
        if pending.len() >= READBACK_EVERY {
            read_back(&mut pending);
        }
        ControlFlow::Continue(())
    });
    let seconds = started.elapsed().as_secs_f64();
    let samples_per_second = (steps * batch_size) as f64 / seconds;
    BenchResult {
        steps,
        batch_size,
        seconds,
        samples_per_second,
        milliseconds_per_step: 1000.0 * seconds / steps as f64,
        projected_epoch_seconds: epoch_samples as f64 / samples_per_second,
    }
}

/// Calls `step` with every full training batch of `train` (shuffled from `training.seed`, epoch
/// after epoch, short last batches skipped so that every timed step is the same size) until it
/// breaks: the step loop of the bench and of the profile.
pub(super) fn for_each_full_batch(
    trainer: &mut Trainer,
    train: &ImageSet,
    training: &TrainingConfig,
    mut step: impl FnMut(&mut Trainer, ImageBatch) -> ControlFlow<()>,
) {
    let batch_size = training.batch_size;
    assert!(
        train.len() >= batch_size,
        "timing needs at least one full batch"
    );
    let loader = trainer.loader(train, batch_size, training.seed);
    loop {
        // Batches are prefetched as training prefetches them (`fit`).
        for batch in prefetched(loader.clone()) {
            let batch = batch.expect("in-memory data cannot fail to load");
            if batch.len() == batch_size && step(trainer, batch).is_break() {
                return;
            }
        }
    }
}

/// The training losses of the first `steps` steps of `network` (initialised from
/// `training.seed`, data shuffled from it) on `device`: what every backend must agree on, since
/// weights are drawn on the host and the data order does not depend on the backend.
pub fn step_losses(
    network: &NetworkConfig,
    train: &ImageSet,
    device: &Device,
    training: &TrainingConfig,
    steps: usize,
) -> Vec<f32> {
    let mut trainer = Trainer::new(network.init(training.seed, device), device, training);
    let loader = trainer.loader(train, training.batch_size, training.seed);
    let mut losses = Vec::with_capacity(steps);
    while losses.len() < steps {
        let before = losses.len();
        for batch in loader.iter().take(steps - losses.len()) {
            let batch = batch.expect("in-memory data cannot fail to load");
            losses.push(trainer.step(batch).loss.into_scalar::<f32>());
        }
        assert!(
            losses.len() > before,
            "step_losses needs a non-empty training set"
        );
    }
    losses
}
