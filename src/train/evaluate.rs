//! Inference over a whole split: loss and accuracy, batch by batch.

use std::sync::Arc;

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;

use super::trainer::count_correct;
use crate::data::{ImageBatch, ImageBatcher, ImageSet};
use crate::model::Network;

/// Validation batch size: inference only, so it changes nothing but speed.
const EVAL_BATCH: usize = 500;

/// Batches of `set` in order, for inference on `device`.
pub fn eval_loader(set: &ImageSet, device: &Device) -> Arc<dyn DataLoader<ImageBatch>> {
    DataLoaderBuilder::new(ImageBatcher)
        .batch_size(EVAL_BATCH)
        .set_device(device.clone())
        .build(set.clone())
}

/// Loss and accuracy over a whole split, in inference mode.
pub fn evaluate(model: &Network, loader: &dyn DataLoader<ImageBatch>) -> (f64, f64) {
    evaluate_each(model, loader, |_| {})
}

/// [`evaluate`], also handing every batch's logits, in order, to `each`.
pub fn evaluate_each(
    model: &Network,
    loader: &dyn DataLoader<ImageBatch>,
    mut each: impl FnMut(Tensor<2>),
) -> (f64, f64) {
    let mut loss_sum = 0.0f64;
    let mut correct = 0i64;
    let mut seen = 0usize;
    for batch in loader.iter() {
        let batch = batch.expect("in-memory test data cannot fail to load");
        let size = batch.len();
        let device = batch.images.device();
        let logits = model.forward(batch.images);
        each(logits.clone());
        correct += count_correct(logits.clone(), batch.targets.clone()).into_scalar::<i64>();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let mean = loss_fn.forward(logits, batch.targets).into_scalar::<f32>();
        loss_sum += f64::from(mean) * size as f64;
        seen += size;
    }
    (loss_sum / seen as f64, correct as f64 / seen as f64)
}
