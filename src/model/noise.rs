//! Santurkar et al.'s (2018, §2.1) "noisy BatchNorm": after every normalization layer, noise
//! whose distribution has a non-zero mean and a non-unit variance and changes at every step,
//! so each layer's input distribution keeps shifting although BatchNorm normalized it.
//!
//! The noise is drawn on the host from the run's own seeded generator, never from Burn's
//! device-wide one: runs training side by side (`--jobs 2`) stay reproducible.

use std::sync::{Arc, Mutex};

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// How strong the noise is. At every training step, for every unit (channel) `j` of a
/// normalized layer, a scale `s_j ~ U(scale_low, scale_high)` and a mean `m_j ~ U(−mean_bound,
/// mean_bound)` are drawn; each sample's value becomes `s_j · x + m_j + sample_sd · z` with `z`
/// standard normal, drawn independently for every sample and position. The defaults keep the
/// expected transformation the identity (E s = 1, E m = 0), so inference, which adds no noise,
/// runs the network training saw on average.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NormNoise {
    pub mean_bound: f64,
    pub scale_low: f64,
    pub scale_high: f64,
    pub sample_sd: f64,
}

impl Default for NormNoise {
    fn default() -> Self {
        Self {
            mean_bound: 1.0,
            scale_low: 0.5,
            scale_high: 1.5,
            sample_sd: 0.5,
        }
    }
}

impl NormNoise {
    /// A field that is out of range, with what it must be.
    pub fn invalid_field(&self) -> Option<(&'static str, &'static str)> {
        let finite = [
            self.mean_bound,
            self.scale_low,
            self.scale_high,
            self.sample_sd,
        ]
        .iter()
        .all(|v| v.is_finite());
        if !finite || self.mean_bound < 0.0 || self.sample_sd < 0.0 {
            return Some((
                "network.norm_noise",
                "finite, with mean_bound and sample_sd at least 0",
            ));
        }
        (self.scale_low <= 0.0 || self.scale_high < self.scale_low).then_some((
            "network.norm_noise",
            "a scale range with 0 < scale_low ≤ scale_high",
        ))
    }
}

/// One layer's noise generator. Clones share it (Burn rebuilds modules every step), so every
/// forward pass in training mode draws the next noise; a copy that must not draw (BatchNorm
/// recalibration) drops it with `Network::without_noise`.
#[derive(Debug, Clone)]
pub struct NoiseSource {
    settings: NormNoise,
    rng: Arc<Mutex<StdRng>>,
}

impl NoiseSource {
    pub fn new(settings: NormNoise, seed: u64) -> Self {
        Self {
            settings,
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed))),
        }
    }

    /// `x` (`[batch, units, …]`) with this step's noise in training mode (an autodiff device);
    /// unchanged in inference, as dropout is.
    pub fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let device = x.device();
        if !device.is_autodiff() {
            return x;
        }
        let dims = x.dims();
        let units = dims[1];
        let inner: usize = dims[2..].iter().product();
        let count: usize = dims.iter().product();
        let NormNoise {
            mean_bound,
            scale_low,
            scale_high,
            sample_sd,
        } = self.settings;
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let scales: Vec<f64> = (0..units)
            .map(|_| uniform(&mut rng, scale_low, scale_high))
            .collect();
        let means: Vec<f64> = (0..units)
            .map(|_| uniform(&mut rng, -mean_bound, mean_bound))
            .collect();
        let shift: Vec<f32> = (0..count)
            .map(|k| (means[(k / inner) % units] + sample_sd * standard_normal(&mut rng)) as f32)
            .collect();
        // One scale per unit, broadcast over the batch and positions.
        let mut unit_dims = [1; D];
        unit_dims[1] = units;
        let scale: Vec<f32> = scales.iter().map(|&s| s as f32).collect();
        let scale = Tensor::<D>::from_data(TensorData::new(scale, unit_dims), &device);
        let shift = Tensor::<D>::from_data(TensorData::new(shift, dims), &device);
        x * scale + shift
    }
}

fn uniform(rng: &mut StdRng, low: f64, high: f64) -> f64 {
    if high > low {
        rng.random_range(low..high)
    } else {
        low
    }
}

/// Box–Muller: the one normal draw bnx needs, rather than another crate (rand_distr).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn training_noise_moves_each_unit_and_changes_every_step() {
        let device = Device::flex().autodiff();
        let source = NoiseSource::new(NormNoise::default(), 7);
        let (batch, units) = (4000, 3);
        let x = Tensor::<2>::zeros([batch, units], &device);
        let first = values(source.apply(x.clone()));
        let second = values(source.apply(x.clone()));
        assert_ne!(first, second, "a new draw every step");
        for unit in 0..units {
            let column: Vec<f64> = first
                .iter()
                .skip(unit)
                .step_by(units)
                .map(|&v| f64::from(v))
                .collect();
            let mean = column.iter().sum::<f64>() / batch as f64;
            let sd = (column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / batch as f64).sqrt();
            // Zero input: the step's mean m_j ∈ (−1, 1) plus per-sample N(0, 0.5²).
            assert!(mean.abs() < 1.0, "unit {unit}: mean {mean}");
            assert!((sd - 0.5).abs() < 0.03, "unit {unit}: sd {sd}");
        }
        // The same seed draws the same noise: reproducible per run.
        let again = NoiseSource::new(NormNoise::default(), 7);
        assert_eq!(values(again.apply(x)), first);
    }

    #[test]
    fn the_scale_multiplies_each_unit_and_inference_adds_nothing() {
        let device = Device::flex().autodiff();
        let settings = NormNoise {
            mean_bound: 0.0,
            scale_low: 2.0,
            scale_high: 2.0,
            sample_sd: 0.0,
        };
        let source = NoiseSource::new(settings, 1);
        let x = Tensor::<4>::ones([2, 3, 2, 2], &device);
        assert!(values(source.apply(x)).iter().all(|&v| v == 2.0));
        let plain = Tensor::<2>::ones([2, 3], &Device::flex());
        assert_eq!(values(source.apply(plain)), vec![1.0; 6]);
    }

    #[test]
    fn noisy_batch_norm_changes_training_steps_only() {
        use crate::model::{ModelKind, Network, NetworkConfig};
        let device = Device::flex().autodiff();
        let plain = NetworkConfig::guide(ModelKind::Mlp, true);
        let noisy = NetworkConfig {
            norm_noise: Some(NormNoise::default()),
            ..plain.clone()
        };
        assert_eq!(noisy.label(), "mlp+bn-noisy");
        let (a, b) = (plain.init(3, &device), noisy.init(3, &device));
        let images = |device: &Device| {
            Tensor::<4>::from_data(
                TensorData::new(
                    (0..8 * 784).map(|i| (i % 11) as f32 / 11.0).collect(),
                    [8, 1, 28, 28],
                ),
                device,
            )
        };
        // Inference adds no noise (read first: training passes move the running statistics).
        let inference = |n: &Network| values(n.valid().forward(images(&device.clone().inner())));
        assert_eq!(inference(&a), inference(&b));
        let training = |n: &Network| values(n.forward(images(&device)));
        assert_ne!(training(&a), training(&b));
        assert_ne!(training(&b), training(&b), "new noise every step");
    }

    #[test]
    fn out_of_range_settings_are_named() {
        assert!(NormNoise::default().invalid_field().is_none());
        let bad = NormNoise {
            scale_low: 0.0,
            ..NormNoise::default()
        };
        assert!(bad.invalid_field().is_some());
        let negative = NormNoise {
            sample_sd: -1.0,
            ..NormNoise::default()
        };
        assert!(negative.invalid_field().is_some());
    }
}
