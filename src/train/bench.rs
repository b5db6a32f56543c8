//! Training throughput, measured: a fixed number of optimizer steps after a warm-up.

use std::time::Instant;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use serde::Serialize;

use super::{adam, train_step};
use crate::config::AdamSettings;
use crate::data::{ImageBatcher, ImageSet};
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

/// Times `steps` training steps (after `warmup` untimed ones) of `network` on `train`.
/// Every step waits for the device, so the time is the real training time.
pub fn bench(
    network: &NetworkConfig,
    train: &ImageSet,
    device: &Device,
    batch_size: usize,
    warmup: usize,
    steps: usize,
    epoch_samples: usize,
) -> BenchResult {
    let train_device = device.clone().autodiff();
    let mut model = network.init(0, &train_device).train();
    let mut optimizer = adam(&AdamSettings::default()).init();
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
    let loader = DataLoaderBuilder::new(ImageBatcher)
        .batch_size(batch_size)
        .shuffle(0)
        .set_device(train_device.clone())
        .build(train.clone());
    assert!(
        train.len() >= batch_size,
        "bench needs at least one full batch"
    );

    let mut started = Instant::now();
    let mut done = 0;
    'outer: loop {
        for batch in loader.iter() {
            let batch = batch.expect("in-memory data cannot fail to load");
            if batch.len() < batch_size {
                continue; // keep every timed step the same size
            }
            let (next, loss, _, _) = train_step(model, &mut optimizer, &loss_fn, batch, 1e-3);
            model = next;
            // Read the loss back: it forces the step to finish on asynchronous devices.
            let _ = loss.into_scalar::<f32>();
            done += 1;
            if done == warmup {
                started = Instant::now();
            }
            if done == warmup + steps {
                break 'outer;
            }
        }
    }
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
