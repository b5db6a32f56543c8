//! Turns samples into tensors on the training device.

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;

use burn::data::dataset::Dataset;

use super::datasets::{ImageItem, ImageSet};
use super::idx::{IMAGE_PIXELS, IMAGE_SIDE};

/// A batch of images `[batch, 1, 28, 28]` with pixels in [0, 1], and their labels.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    pub images: Tensor<4>,
    pub targets: Tensor<1, Int>,
}

impl ImageBatch {
    pub fn len(&self) -> usize {
        self.targets.dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Scales bytes to [0, 1] as the Keras guide does (`x / 255`), nothing else.
#[derive(Debug, Clone, Default)]
pub struct ImageBatcher;

impl ImageBatcher {
    /// The images of samples `range` (clamped to the set) as one batch, e.g. a fixed probe batch.
    pub fn images(set: &ImageSet, range: std::ops::Range<usize>, device: &Device) -> Tensor<4> {
        let end = range.end.min(set.len());
        let items = (range.start.min(end)..end)
            .map(|i| set.get(i))
            .filter_map(Result::ok)
            .collect();
        ImageBatcher.batch(items, device).images
    }
}

impl Batcher<ImageItem, ImageBatch> for ImageBatcher {
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let batch = items.len();
        let mut pixels = Vec::with_capacity(batch * IMAGE_PIXELS);
        let mut labels = Vec::with_capacity(batch);
        for item in &items {
            pixels.extend(item.pixels.iter().map(|&p| f32::from(p) / 255.0));
            labels.push(i64::from(item.label));
        }
        let images = Tensor::<4>::from_data(
            TensorData::new(pixels, [batch, 1, IMAGE_SIDE, IMAGE_SIDE]),
            device,
        );
        let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), device);
        ImageBatch { images, targets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_pixels_to_unit_range_and_keeps_labels() {
        let device = Device::flex();
        let mut first = [0u8; IMAGE_PIXELS];
        first[0] = 255;
        first[1] = 51;
        let items = vec![
            ImageItem {
                pixels: first,
                label: 7,
            },
            ImageItem {
                pixels: [0; IMAGE_PIXELS],
                label: 2,
            },
        ];
        let batch = ImageBatcher.batch(items, &device);
        assert_eq!(batch.images.dims(), [2, 1, 28, 28]);
        let values = batch.images.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(&values[..2], &[1.0, 0.2]);
        assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
        let labels = batch
            .targets
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(labels, vec![7, 2]);
    }
}
