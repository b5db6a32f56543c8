//! A trained network's class probabilities (softmax of its logits, in inference mode): what
//! `bnx eval` and `bnx predict` read.

use burn::data::dataloader::DataLoaderBuilder;
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::data::{ImageBatcher, ImageItem, ImageSet};
use crate::model::Network;

/// The ten classes.
pub const CLASSES: usize = 10;
const BATCH: usize = 500;

/// Each image's probabilities, in order. `model` must be in inference mode (`Network::valid`).
pub fn probabilities(model: &Network, images: Tensor<4>) -> Vec<[f32; CLASSES]> {
    let values = softmax(model.forward(images), 1)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data");
    values
        .chunks_exact(CLASSES)
        .map(|row| row.try_into().expect("ten classes"))
        .collect()
}

/// The probabilities of every sample of `set`, in order, computed on `device`.
pub fn set_probabilities(model: &Network, set: &ImageSet, device: &Device) -> Vec<[f32; CLASSES]> {
    let loader = DataLoaderBuilder::new(ImageBatcher)
        .batch_size(BATCH)
        .set_device(device.clone())
        .build(set.clone());
    let mut all = Vec::new();
    for batch in loader.iter() {
        let batch = batch.expect("in-memory data cannot fail to load");
        all.extend(probabilities(model, batch.images));
    }
    all
}

/// The probabilities of loose images (28×28 bytes each), e.g. files `bnx predict` was given.
pub fn image_probabilities(
    model: &Network,
    images: &[[u8; crate::data::idx::IMAGE_PIXELS]],
    device: &Device,
) -> Vec<[f32; CLASSES]> {
    if images.is_empty() {
        return Vec::new();
    }
    let items: Vec<ImageItem> = images
        .iter()
        .map(|&pixels| ImageItem { pixels, label: 0 })
        .collect();
    use burn::data::dataloader::batcher::Batcher;
    probabilities(model, ImageBatcher.batch(items, device).images)
}

/// The index of the largest probability (the first on ties).
pub fn argmax(probabilities: &[f32; CLASSES]) -> usize {
    let mut best = 0;
    for (class, &p) in probabilities.iter().enumerate() {
        if p > probabilities[best] {
            best = class;
        }
    }
    best
}
