//! Keras-style initialization in one place: Glorot-uniform weights, zero biases.
//!
//! Weights are drawn on the host from one seeded generator, in layer order, so the same seed
//! gives the same initial weights on every backend, and the with/without-BatchNorm variants of a
//! network start from identical Dense/Conv weights (BatchNorm itself draws nothing).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

pub struct GlorotUniform {
    rng: StdRng,
    scale: f64,
}

impl GlorotUniform {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            scale: 1.0,
        }
    }

    /// Multiplies every bound by `scale` (the init study's knob). The same uniform draws are
    /// scaled, so runs that differ only in scale start from proportional weights.
    pub fn with_scale(self, scale: f64) -> Self {
        Self { scale, ..self }
    }

    /// `U(-limit, limit)` with `limit = scale · sqrt(6 / (fan_in + fan_out))`, as Keras'
    /// `glorot_uniform` when `scale` is 1.
    fn draw(&mut self, count: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
        let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
        let scale = self.scale as f32;
        (0..count)
            .map(|_| scale * self.rng.random_range(-limit..limit))
            .collect()
    }

    /// A Dense layer: weight `[d_input, d_output]`, zero bias.
    pub fn linear(&mut self, d_input: usize, d_output: usize, device: &Device) -> Linear {
        let values = self.draw(d_input * d_output, d_input, d_output);
        let weight = Tensor::<2>::from_data(TensorData::new(values, [d_input, d_output]), device);
        let mut linear = LinearConfig::new(d_input, d_output)
            .with_initializer(Initializer::Zeros)
            .init(device);
        linear.weight = Param::from_tensor(weight);
        linear
    }

    /// A 'valid' convolution with stride 1: weight `[out, in, k, k]`, zero bias.
    pub fn conv2d(
        &mut self,
        channels_in: usize,
        channels_out: usize,
        kernel: usize,
        device: &Device,
    ) -> Conv2d {
        let receptive = kernel * kernel;
        let values = self.draw(
            channels_out * channels_in * receptive,
            channels_in * receptive,
            channels_out * receptive,
        );
        let weight = Tensor::<4>::from_data(
            TensorData::new(values, [channels_out, channels_in, kernel, kernel]),
            device,
        );
        let mut conv = Conv2dConfig::new([channels_in, channels_out], [kernel, kernel])
            .with_initializer(Initializer::Zeros)
            .init(device);
        conv.weight = Param::from_tensor(weight);
        conv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_stay_inside_the_glorot_bound_and_biases_are_zero() {
        let device = Device::flex();
        let linear = GlorotUniform::new(1).linear(784, 128, &device);
        let limit = (6.0f32 / (784.0 + 128.0)).sqrt();
        let weights = linear.weight.val().into_data().try_to_vec::<f32>().unwrap();
        assert!(weights.iter().all(|w| w.abs() <= limit));
        // Spread over the whole interval, not a constant.
        let max = weights.iter().cloned().fold(f32::MIN, f32::max);
        assert!(max > 0.9 * limit);
        let bias = linear
            .bias
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(bias.iter().all(|b| *b == 0.0));
    }

    #[test]
    fn same_seed_same_weights() {
        let device = Device::flex();
        let a = GlorotUniform::new(7)
            .conv2d(1, 32, 3, &device)
            .weight
            .val()
            .into_data();
        let b = GlorotUniform::new(7)
            .conv2d(1, 32, 3, &device)
            .weight
            .val()
            .into_data();
        let c = GlorotUniform::new(8)
            .conv2d(1, 32, 3, &device)
            .weight
            .val()
            .into_data();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn scale_multiplies_the_same_draws() {
        let device = Device::flex();
        let values = |scale| {
            GlorotUniform::new(5)
                .with_scale(scale)
                .linear(20, 10, &device)
                .weight
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let (one, tenth) = (values(1.0), values(0.1));
        for (a, b) in one.iter().zip(&tenth) {
            assert!(
                (0.1 * a - b).abs() <= 1e-6 * a.abs().max(1e-3),
                "{a} vs {b}"
            );
        }
    }
}
