//! Inference over a whole split: loss and accuracy, batch by batch.

use std::sync::Arc;

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;

use super::trainer::count_correct;
use crate::data::{ImageBatch, ImageBatcher, ImageSet};
use crate::model::Network;

/// Validation batch size: inference only, so it changes nothing but speed. The loss is averaged
/// per batch of this size (an f32 mean), so changing it moves the last digits of every
/// validation loss.
const EVAL_BATCH: usize = 500;

/// Samples the network runs at once inside a validation batch. Inference computes each sample
/// alone (BatchNorm uses its running statistics), so the logits do not depend on it; it bounds
/// the activations held at once (the CNN's first convolution: 8.7 MB for 100 samples, 43 MB for
/// 500), which set the peak memory of a CNN run.
const FORWARD_CHUNK: usize = 100;

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
        let logits = forward_in_chunks(model, batch.images);
        each(logits.clone());
        correct += count_correct(logits.clone(), batch.targets.clone()).into_scalar::<i64>();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let mean = loss_fn.forward(logits, batch.targets).into_scalar::<f32>();
        loss_sum += f64::from(mean) * size as f64;
        seen += size;
    }
    (loss_sum / seen as f64, correct as f64 / seen as f64)
}

/// The network's logits for `images`, at most [`FORWARD_CHUNK`] samples at a time.
fn forward_in_chunks(model: &Network, images: Tensor<4>) -> Tensor<2> {
    let size = images.dims()[0];
    if size <= FORWARD_CHUNK {
        return model.forward(images);
    }
    let parts = size.div_ceil(FORWARD_CHUNK);
    Tensor::cat(
        images
            .chunk(parts, 0)
            .into_iter()
            .map(|part| model.forward(part))
            .collect(),
        0,
    )
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;
    use crate::model::{ModelKind, NetworkConfig};
    use crate::runtime::{Backend, BackendKind};

    /// Inference computes each sample alone, so running a batch in chunks gives the same logits,
    /// bit for bit, in the same order: what keeps every validation loss unchanged.
    #[test]
    fn chunks_give_the_whole_batch_logits_bit_for_bit() {
        let device = Backend::open(BackendKind::Flex, false).unwrap().device;
        for (model, bn) in [
            (ModelKind::Mlp, true),
            (ModelKind::Cnn, true),
            (ModelKind::Cnn, false),
        ] {
            let network = NetworkConfig::guide(model, bn).init(5, &device);
            let shape = [2 * FORWARD_CHUNK + 37, 1, 28, 28];
            let images = Tensor::<4>::random(shape, Distribution::Uniform(0.0, 1.0), &device);
            let bits = |logits: Tensor<2>| -> Vec<u32> {
                let values = logits.into_data().try_to_vec::<f32>().unwrap();
                values.into_iter().map(f32::to_bits).collect()
            };
            let whole = bits(network.forward(images.clone()));
            assert_eq!(whole.len(), shape[0] * 10);
            assert_eq!(
                bits(forward_in_chunks(&network, images)),
                whole,
                "{model:?}, bn {bn}"
            );
        }
    }
}
