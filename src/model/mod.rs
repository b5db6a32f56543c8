//! The four networks of the Keras BatchNormalization guide, built from one config.
//!
//! MLP: 784 → Dense 128 → [BN] → ReLU → Dense 64 → [BN] → ReLU → Dense 32 → [BN] → ReLU → Dense 10
//! CNN: Conv 32 3×3 → [BN] → ReLU → MaxPool 2 → Conv 64 3×3 → [BN] → ReLU → MaxPool 2 →
//!      Flatten (1600) → Dense 64 → [BN] → ReLU → Dense 10

pub mod init;

use std::fmt;
use std::str::FromStr;

use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use crate::data::idx::{IMAGE_PIXELS, NUM_CLASSES};
use init::GlorotUniform;

const MLP_WIDTHS: [usize; 3] = [128, 64, 32];
const CNN_CHANNELS: [usize; 2] = [32, 64];
const CNN_KERNEL: usize = 3;
const CNN_DENSE: usize = 64;
/// 28 → conv 26 → pool 13 → conv 11 → pool 5: 64 channels × 5 × 5.
const CNN_FLAT: usize = 64 * 5 * 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Mlp,
    Cnn,
}

impl ModelKind {
    pub const ALL: [ModelKind; 2] = [ModelKind::Mlp, ModelKind::Cnn];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| format!("unknown model '{s}', expected mlp or cnn"))
    }
}

/// BatchNormalization settings in Keras' terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormSettings {
    /// Added to the variance before the square root. Keras: 1e-3 (Burn's default is 1e-5).
    pub epsilon: f64,
    /// Keras convention: the weight of the *old* running value,
    /// `running = momentum · running + (1 − momentum) · batch`. Keras: 0.99.
    /// Burn's `momentum` is the weight of the new batch, so Burn gets `1 − momentum`.
    pub momentum: f64,
}

impl Default for BatchNormSettings {
    fn default() -> Self {
        Self { epsilon: 1e-3, momentum: 0.99 }
    }
}

impl BatchNormSettings {
    fn layer(&self, features: usize, device: &Device) -> BatchNorm {
        BatchNormConfig::new(features)
            .with_epsilon(self.epsilon)
            .with_momentum(1.0 - self.momentum)
            .init(device)
    }
}

/// Everything that decides a network's structure and initial weights.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    pub model: ModelKind,
    /// `Some` inserts BatchNorm between every Dense/Conv layer and its ReLU.
    pub batch_norm: Option<BatchNormSettings>,
}

impl NetworkConfig {
    /// The layer sequence in one line, e.g. "784 → Dense 128 → BN → ReLU → … → Dense 10".
    pub fn describe(&self) -> String {
        let bn = if self.batch_norm.is_some() { " → BN" } else { "" };
        match self.model {
            ModelKind::Mlp => {
                let hidden: Vec<String> =
                    MLP_WIDTHS.iter().map(|w| format!("Dense {w}{bn} → ReLU")).collect();
                format!("{IMAGE_PIXELS} → {} → Dense {NUM_CLASSES}", hidden.join(" → "))
            }
            ModelKind::Cnn => {
                let convs: Vec<String> = CNN_CHANNELS
                    .iter()
                    .map(|c| format!("Conv {c} 3×3{bn} → ReLU → MaxPool 2"))
                    .collect();
                format!(
                    "1×28×28 → {} → Flatten {CNN_FLAT} → Dense {CNN_DENSE}{bn} → ReLU → Dense {NUM_CLASSES}",
                    convs.join(" → ")
                )
            }
        }
    }

    /// "mlp", "mlp+bn", …
    pub fn label(&self) -> String {
        format!("{}{}", self.model, if self.batch_norm.is_some() { "+bn" } else { "" })
    }

    /// Builds the network with Glorot-uniform weights drawn from `seed`.
    pub fn init(&self, seed: u64, device: &Device) -> Network {
        let mut glorot = GlorotUniform::new(seed);
        let norm = |features: usize| self.batch_norm.map(|bn| bn.layer(features, device));
        match self.model {
            ModelKind::Mlp => {
                let mut d_input = IMAGE_PIXELS;
                let hidden = MLP_WIDTHS
                    .iter()
                    .map(|&width| {
                        let linear = glorot.linear(d_input, width, device);
                        d_input = width;
                        DenseBlock { linear, norm: norm(width) }
                    })
                    .collect();
                let output = glorot.linear(d_input, NUM_CLASSES, device);
                Network::Mlp(Mlp { hidden, output })
            }
            ModelKind::Cnn => {
                let mut channels_in = 1;
                let features = CNN_CHANNELS
                    .iter()
                    .map(|&channels| {
                        let conv = glorot.conv2d(channels_in, channels, CNN_KERNEL, device);
                        channels_in = channels;
                        ConvBlock {
                            conv,
                            norm: norm(channels),
                            pool: MaxPool2dConfig::new([2, 2]).init(),
                        }
                    })
                    .collect();
                let dense = DenseBlock {
                    linear: glorot.linear(CNN_FLAT, CNN_DENSE, device),
                    norm: norm(CNN_DENSE),
                };
                let output = glorot.linear(CNN_DENSE, NUM_CLASSES, device);
                Network::Cnn(Cnn { features, dense, output })
            }
        }
    }
}

/// Dense → [BatchNorm] → ReLU.
#[derive(Module, Debug)]
pub struct DenseBlock {
    pub linear: Linear,
    pub norm: Option<BatchNorm>,
}

impl DenseBlock {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.linear.forward(x);
        let x = match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        relu(x)
    }
}

/// Conv 3×3 → [BatchNorm] → ReLU → MaxPool 2×2.
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub conv: burn::nn::conv::Conv2d,
    pub norm: Option<BatchNorm>,
    pub pool: MaxPool2d,
}

impl ConvBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let x = match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        self.pool.forward(relu(x))
    }
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub hidden: Vec<DenseBlock>,
    pub output: Linear,
}

#[derive(Module, Debug)]
pub struct Cnn {
    pub features: Vec<ConvBlock>,
    pub dense: DenseBlock,
    pub output: Linear,
}

#[derive(Module, Debug)]
pub enum Network {
    Mlp(Mlp),
    Cnn(Cnn),
}

/// Trainable parameters and BatchNorm running statistics, counted as Keras counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterCounts {
    pub trainable: usize,
    /// BatchNorm's moving mean and variance (Keras' "non-trainable params").
    pub running_statistics: usize,
}

impl Network {
    /// Images `[batch, 1, 28, 28]` → logits `[batch, 10]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Network::Mlp(mlp) => {
                let x = images.flatten::<2>(1, 3);
                let x = mlp.hidden.iter().fold(x, |x, block| block.forward(x));
                mlp.output.forward(x)
            }
            Network::Cnn(cnn) => {
                let x = cnn.features.iter().fold(images, |x, block| block.forward(x));
                let x = cnn.dense.forward(x.flatten::<2>(1, 3));
                cnn.output.forward(x)
            }
        }
    }

    /// The BatchNorm layers in forward order (empty without BatchNorm).
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        match self {
            Network::Mlp(mlp) => mlp.hidden.iter().filter_map(|b| b.norm.as_ref()).collect(),
            Network::Cnn(cnn) => cnn
                .features
                .iter()
                .filter_map(|b| b.norm.as_ref())
                .chain(cnn.dense.norm.as_ref())
                .collect(),
        }
    }

    pub fn parameter_counts(&self) -> ParameterCounts {
        let running_statistics = self
            .batch_norms()
            .iter()
            .map(|bn| 2 * bn.gamma.shape().num_elements())
            .sum();
        // Burn's `num_params` counts the running statistics too; Keras lists them apart.
        ParameterCounts { trainable: self.num_params() - running_statistics, running_statistics }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(model: ModelKind, bn: bool) -> NetworkConfig {
        NetworkConfig { model, batch_norm: bn.then(BatchNormSettings::default) }
    }

    #[test]
    fn parameter_counts_match_keras() {
        let device = Device::flex();
        let counts = |model, bn| config(model, bn).init(0, &device).parameter_counts();
        let expect = |trainable, running_statistics| ParameterCounts { trainable, running_statistics };
        assert_eq!(counts(ModelKind::Mlp, false), expect(111_146, 0));
        assert_eq!(counts(ModelKind::Mlp, true), expect(111_594, 448));
        assert_eq!(counts(ModelKind::Cnn, false), expect(121_930, 0));
        assert_eq!(counts(ModelKind::Cnn, true), expect(122_250, 320));
    }

    #[test]
    fn every_network_maps_a_batch_to_ten_logits() {
        let device = Device::flex();
        let images = Tensor::<4>::ones([3, 1, 28, 28], &device);
        for model in ModelKind::ALL {
            for bn in [false, true] {
                let network = config(model, bn).init(1, &device);
                assert_eq!(network.forward(images.clone()).dims(), [3, 10], "{model} bn={bn}");
            }
        }
    }

    #[test]
    fn both_variants_start_from_the_same_dense_weights() {
        let device = Device::flex();
        let plain = config(ModelKind::Mlp, false).init(5, &device);
        let with_bn = config(ModelKind::Mlp, true).init(5, &device);
        let (Network::Mlp(a), Network::Mlp(b)) = (plain, with_bn) else { unreachable!() };
        for (x, y) in a.hidden.iter().zip(&b.hidden) {
            assert_eq!(x.linear.weight.val().into_data(), y.linear.weight.val().into_data());
        }
        assert_eq!(a.output.weight.val().into_data(), b.output.weight.val().into_data());
    }

    #[test]
    fn batch_norm_settings_follow_keras() {
        let device = Device::flex();
        let network = config(ModelKind::Cnn, true).init(0, &device);
        for bn in network.batch_norms() {
            assert_eq!(bn.epsilon, 1e-3);
            assert!((bn.momentum - 0.01).abs() < 1e-12, "Burn momentum is the new batch's weight");
        }
        assert_eq!(network.batch_norms().len(), 3);
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// A [4, 2] batch whose two features have means 2 and 10 and (population) variances 1.25 and 5.
    fn probe_batch(device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(vec![1.0f32, 10.0 - 5f32.sqrt(), 2.0, 10.0, 2.0, 10.0, 3.0, 10.0 + 5f32.sqrt()], [4, 2]),
            device,
        )
    }

    #[test]
    fn training_mode_normalizes_with_batch_statistics() {
        let device = Device::flex().autodiff();
        let bn = BatchNormSettings::default().layer(2, &device);
        let out = values(bn.forward(probe_batch(&device)));
        for feature in 0..2 {
            let column: Vec<f32> = out.iter().skip(feature).step_by(2).cloned().collect();
            let mean = column.iter().sum::<f32>() / 4.0;
            let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
            assert!(mean.abs() < 1e-5, "feature {feature} mean {mean}");
            // Variance v/(v+eps) because epsilon is added before the square root.
            let expected = [1.25f32, 5.0][feature] / ([1.25f32, 5.0][feature] + 1e-3);
            assert!((var - expected).abs() < 1e-4, "feature {feature} var {var}");
        }
    }

    #[test]
    fn running_statistics_move_by_one_hundredth_of_the_batch() {
        let device = Device::flex().autodiff();
        let bn = BatchNormSettings::default().layer(2, &device);
        bn.forward(probe_batch(&device));
        let mean = values(bn.running_mean.value_sync());
        let var = values(bn.running_var.value_sync());
        // new = 0.99 · old + 0.01 · batch, from mean 0 and variance 1.
        assert!((mean[0] - 0.02).abs() < 1e-6 && (mean[1] - 0.10).abs() < 1e-6, "{mean:?}");
        assert!((var[0] - (0.99 + 0.0125)).abs() < 1e-6, "{var:?}");
        assert!((var[1] - (0.99 + 0.05)).abs() < 1e-6, "{var:?}");
        bn.forward(probe_batch(&device));
        let mean = values(bn.running_mean.value_sync());
        assert!((mean[0] - (0.99 * 0.02 + 0.02)).abs() < 1e-6, "{mean:?}");
    }

    #[test]
    fn inference_mode_uses_running_statistics() {
        let device = Device::flex().autodiff();
        let bn = BatchNormSettings::default().layer(2, &device);
        bn.forward(probe_batch(&device));
        let valid = bn.valid();
        let input = probe_batch(&device.clone().inner());
        let out = values(valid.forward(input.clone()));
        let mean = values(valid.running_mean.value_sync());
        let var = values(valid.running_var.value_sync());
        let x = values(input);
        for (i, (&x, &y)) in x.iter().zip(&out).enumerate() {
            let f = i % 2;
            let expected = (x - mean[f]) / (var[f] + 1e-3).sqrt();
            assert!((y - expected).abs() < 1e-5, "{i}: {y} vs {expected}");
        }
        // And inference does not move the statistics.
        assert_eq!(values(valid.running_mean.value_sync()), mean);
    }
}
