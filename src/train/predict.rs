//! A trained network's class probabilities (softmax of its logits, in inference mode): what
//! `bnx eval` and `bnx predict` read.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use burn::tensor::activation::softmax;

use crate::data::{ImageBatcher, ImageItem};
use crate::model::Network;

/// The ten classes.
pub const CLASSES: usize = 10;

/// The softmax of each row of `logits` (`[batch, classes]`), read back.
pub fn softmax_rows(logits: Tensor<2>) -> Vec<[f32; CLASSES]> {
    let values = softmax(logits, 1)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data");
    values
        .chunks_exact(CLASSES)
        .map(|row| row.try_into().expect("ten classes"))
        .collect()
}

/// The probabilities of loose images (28×28 bytes each), e.g. the files `bnx predict` was
/// given. `model` must be in inference mode (`Network::valid`).
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
    softmax_rows(model.forward(ImageBatcher.batch(items, device).images))
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
