//! The networks as Burn modules: blocks, forward passes, parameter counts and probes.

use burn::nn::Linear;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use super::blocks::{ConvBlock, DenseBlock};
use super::norm::Norm;
use burn::nn::BatchNorm;

pub(super) const CNN_CHANNELS: [usize; 2] = [32, 64];
pub(super) const CNN_KERNEL: usize = 3;
pub(super) const CNN_DENSE: usize = 64;
/// 28 → conv 26 → pool 13 → conv 11 → pool 5: 64 channels × 5 × 5.
pub(super) const CNN_FLAT: usize = 64 * 5 * 5;

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
    /// This network without noisy BatchNorm's noise.
    pub fn without_noise(mut self) -> Self {
        match &mut self {
            Network::Mlp(mlp) => mlp.hidden.iter_mut().for_each(|b| b.noise = None),
            Network::Cnn(cnn) => {
                cnn.features.iter_mut().for_each(|b| b.noise = None);
                cnn.dense.noise = None;
            }
        }
        self
    }
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
                let x = cnn
                    .features
                    .iter()
                    .fold(images, |x, block| block.forward(x));
                let x = cnn.dense.forward(x.flatten::<2>(1, 3));
                cnn.output.forward(x)
            }
        }
    }

    /// The normalization layers in forward order.
    fn norms(&self) -> Vec<&Norm> {
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

    /// The BatchNorm layers in forward order, to change their settings (momentum).
    pub fn batch_norms_mut(&mut self) -> Vec<&mut BatchNorm> {
        let norms: Vec<&mut Norm> = match self {
            Network::Mlp(mlp) => mlp
                .hidden
                .iter_mut()
                .filter_map(|b| b.norm.as_mut())
                .collect(),
            Network::Cnn(cnn) => cnn
                .features
                .iter_mut()
                .filter_map(|b| b.norm.as_mut())
                .chain(cnn.dense.norm.as_mut())
                .collect(),
        };
        norms
            .into_iter()
            .filter_map(|norm| match norm {
                Norm::Batch(bn) => Some(bn),
                _ => None,
            })
            .collect()
    }

    /// The BatchNorm layers in forward order (empty without BatchNorm).
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        self.norms()
            .into_iter()
            .filter_map(|norm| match norm {
                Norm::Batch(bn) => Some(bn),
                _ => None,
            })
            .collect()
    }

    pub fn parameter_counts(&self) -> ParameterCounts {
        let norms = self.norms();
        let norm_params: usize = norms.iter().map(|n| n.num_params()).sum();
        let norm_trainable: usize = norms.iter().map(|n| n.trainable()).sum();
        // Burn's `num_params` counts BatchNorm's running statistics too; Keras lists them apart.
        ParameterCounts {
            trainable: self.num_params() - norm_params + norm_trainable,
            running_statistics: norm_params - norm_trainable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::norm::{BatchNormSettings, group_count};
    use crate::model::{ModelKind, NetworkConfig, NormKind, NormPosition};

    fn config(model: ModelKind, bn: bool) -> NetworkConfig {
        NetworkConfig::guide(model, bn)
    }

    fn counts(config: &NetworkConfig) -> ParameterCounts {
        config.init(0, &Device::flex()).parameter_counts()
    }

    #[test]
    fn layer_and_group_norm_have_trainable_scale_and_shift_only() {
        for norm in [NormKind::Layer, NormKind::Group] {
            // The same 2 × (128 + 64 + 32) and 2 × (32 + 64 + 64) values as BatchNorm's γ and β.
            let mlp = counts(&config(ModelKind::Mlp, false).with_norm(norm));
            assert_eq!(
                mlp,
                ParameterCounts {
                    trainable: 111_594,
                    running_statistics: 0
                },
                "{norm}"
            );
            let cnn = counts(&config(ModelKind::Cnn, false).with_norm(norm));
            assert_eq!(
                cnn,
                ParameterCounts {
                    trainable: 122_250,
                    running_statistics: 0
                },
                "{norm}"
            );
        }
    }

    #[test]
    fn norm_kinds_build_the_right_layers() {
        let device = Device::flex();
        let layers = |model, norm| {
            let network = config(model, false).with_norm(norm).init(0, &device);
            network
                .norms()
                .iter()
                .map(|n| match n {
                    Norm::Batch(bn) => format!("bn{}", bn.gamma.shape().num_elements()),
                    Norm::Layer(ln) => format!("ln{}", ln.gamma.shape().num_elements()),
                    Norm::Group(gn) => format!("gn{}/{}", gn.num_channels, gn.num_groups),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            layers(ModelKind::Mlp, NormKind::Layer),
            ["ln128", "ln64", "ln32"]
        );
        assert_eq!(
            layers(ModelKind::Mlp, NormKind::Group),
            ["gn128/8", "gn64/8", "gn32/8"]
        );
        // A conv layer's LayerNorm spans channels × positions: GroupNorm with one group.
        assert_eq!(
            layers(ModelKind::Cnn, NormKind::Layer),
            ["gn32/1", "gn64/1", "ln64"]
        );
        assert_eq!(
            layers(ModelKind::Cnn, NormKind::Group),
            ["gn32/8", "gn64/8", "gn64/8"]
        );
        assert_eq!(
            layers(ModelKind::Cnn, NormKind::Batch),
            ["bn32", "bn64", "bn64"]
        );
        assert!(layers(ModelKind::Cnn, NormKind::None).is_empty());
    }

    #[test]
    fn group_count_is_the_largest_divisor_up_to_eight() {
        let cases = [
            (32, 8),
            (64, 8),
            (128, 8),
            (100, 5),
            (7, 7),
            (3, 3),
            (13, 1),
            (12, 6),
        ];
        for (channels, groups) in cases {
            assert_eq!(group_count(channels), groups, "{channels} channels");
        }
    }

    #[test]
    fn every_norm_and_position_maps_a_batch_to_ten_logits() {
        let device = Device::flex().autodiff();
        let images =
            Tensor::<4>::random([4, 1, 28, 28], burn::tensor::Distribution::Default, &device);
        for model in ModelKind::ALL {
            for norm in NormKind::ALL {
                for position in NormPosition::ALL {
                    let network = NetworkConfig {
                        position,
                        ..config(model, false).with_norm(norm)
                    }
                    .init(1, &device);
                    let logits = network.forward(images.clone());
                    assert_eq!(logits.dims(), [4, 10], "{model} {norm} {position}");
                    assert!(values(logits).iter().all(|v| v.is_finite()));
                }
            }
        }
    }

    #[test]
    fn position_decides_whether_the_norm_sees_relu_output() {
        let device = Device::flex().autodiff();
        let x = Tensor::<2>::random([16, 784], burn::tensor::Distribution::Default, &device);
        for (position, may_be_negative) in
            [(NormPosition::Before, false), (NormPosition::After, true)]
        {
            let network = NetworkConfig {
                position,
                ..config(ModelKind::Mlp, true)
            }
            .init(2, &device);
            let Network::Mlp(mlp) = network else {
                unreachable!()
            };
            let out = values(mlp.hidden[0].forward(x.clone()));
            let min = out.iter().cloned().fold(f32::MAX, f32::min);
            // ReLU last gives no negatives; BatchNorm last centres the ReLU output at zero.
            assert_eq!(min < 0.0, may_be_negative, "{position}: min {min}");
        }
    }

    #[test]
    fn depth_and_width_shape_the_mlp() {
        let deep = NetworkConfig {
            mlp_widths: vec![64; 16],
            ..config(ModelKind::Mlp, false)
        };
        let expected = 784 * 64 + 64 + 15 * (64 * 64 + 64) + 64 * 10 + 10;
        assert_eq!(counts(&deep).trainable, expected);
        assert_eq!(deep.label(), "mlp16x64");
        let deep_bn = NetworkConfig {
            mlp_widths: vec![64; 16],
            ..config(ModelKind::Mlp, true)
        };
        assert_eq!(
            counts(&deep_bn),
            ParameterCounts {
                trainable: expected + 16 * 128,
                running_statistics: 16 * 128
            }
        );
        let Network::Mlp(mlp) = deep.init(0, &Device::flex()) else {
            unreachable!()
        };
        assert_eq!(mlp.hidden.len(), 16);
    }

    #[test]
    fn probe_preactivations_use_batch_statistics_and_leave_running_ones() {
        let device = Device::flex();
        let network = config(ModelKind::Mlp, true).init(3, &device);
        let images = Tensor::<4>::random(
            [64, 1, 28, 28],
            burn::tensor::Distribution::Default,
            &device,
        );
        let z = values(network.hidden_preactivations(images.clone(), 2).unwrap());
        assert_eq!(z.len(), 64 * 32);
        for feature in 0..32 {
            let mean = z.iter().skip(feature).step_by(32).sum::<f32>() / 64.0;
            assert!(
                mean.abs() < 1e-4,
                "feature {feature}: mean {mean} (γ = 1, β = 0 at init)"
            );
        }
        let bn = network.batch_norms()[2];
        assert_eq!(values(bn.running_mean.value_sync()), vec![0.0; 32]);
        // Without BatchNorm they are the plain Dense outputs.
        let plain = config(ModelKind::Mlp, false).init(3, &device);
        assert!(plain.hidden_preactivations(images.clone(), 0).is_some());
        assert!(
            config(ModelKind::Cnn, false)
                .init(3, &device)
                .hidden_preactivations(images, 0)
                .is_none()
        );
    }

    #[test]
    fn parameter_counts_match_keras() {
        let device = Device::flex();
        let counts = |model, bn| config(model, bn).init(0, &device).parameter_counts();
        let expect = |trainable, running_statistics| ParameterCounts {
            trainable,
            running_statistics,
        };
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
                assert_eq!(
                    network.forward(images.clone()).dims(),
                    [3, 10],
                    "{model} bn={bn}"
                );
            }
        }
    }

    #[test]
    fn both_variants_start_from_the_same_dense_weights() {
        let device = Device::flex();
        let plain = config(ModelKind::Mlp, false).init(5, &device);
        let with_bn = config(ModelKind::Mlp, true).init(5, &device);
        let (Network::Mlp(a), Network::Mlp(b)) = (plain, with_bn) else {
            unreachable!()
        };
        for (x, y) in a.hidden.iter().zip(&b.hidden) {
            assert_eq!(
                x.linear.weight.val().into_data(),
                y.linear.weight.val().into_data()
            );
        }
        assert_eq!(
            a.output.weight.val().into_data(),
            b.output.weight.val().into_data()
        );
    }

    #[test]
    fn cnn_variants_start_from_the_same_conv_and_dense_weights() {
        let device = Device::flex();
        let weights = |bn: bool| {
            let Network::Cnn(cnn) = config(ModelKind::Cnn, bn).init(5, &device) else {
                unreachable!()
            };
            let mut all: Vec<Vec<f32>> = Vec::new();
            for block in &cnn.features {
                all.push(values(block.conv.weight.val()));
                all.push(values(block.conv.bias.as_ref().unwrap().val()));
            }
            all.push(values(cnn.dense.linear.weight.val()));
            all.push(values(cnn.output.weight.val()));
            all
        };
        let (plain, with_bn) = (weights(false), weights(true));
        assert_eq!(plain.len(), 6);
        assert_eq!(plain, with_bn);
        // And another seed draws other weights: the comparison is not vacuous.
        let Network::Cnn(other) = config(ModelKind::Cnn, false).init(6, &device) else {
            unreachable!()
        };
        assert_ne!(values(other.features[0].conv.weight.val()), plain[0]);
    }

    #[test]
    fn batch_norm_settings_follow_keras() {
        let device = Device::flex();
        let network = config(ModelKind::Cnn, true).init(0, &device);
        for bn in network.batch_norms() {
            assert_eq!(bn.epsilon, 1e-3);
            assert!(
                (bn.momentum - 0.01).abs() < 1e-12,
                "Burn momentum is the new batch's weight"
            );
        }
        assert_eq!(network.batch_norms().len(), 3);
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// A [4, 2] batch whose two features have means 2 and 10 and (population) variances 0.5 and 2.5.
    fn probe_batch(device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(
                vec![
                    1.0f32,
                    10.0 - 5f32.sqrt(),
                    2.0,
                    10.0,
                    2.0,
                    10.0,
                    3.0,
                    10.0 + 5f32.sqrt(),
                ],
                [4, 2],
            ),
            device,
        )
    }

    #[test]
    fn training_mode_normalizes_with_batch_statistics() {
        let device = Device::flex().autodiff();
        let bn = BatchNormSettings::default().batch_norm(2, &device);
        let out = values(bn.forward(probe_batch(&device)));
        for feature in 0..2 {
            let column: Vec<f32> = out.iter().skip(feature).step_by(2).cloned().collect();
            let mean = column.iter().sum::<f32>() / 4.0;
            let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
            assert!(mean.abs() < 1e-5, "feature {feature} mean {mean}");
            // Variance v/(v+eps) because epsilon is added before the square root.
            let expected = [0.5f32, 2.5][feature] / ([0.5f32, 2.5][feature] + 1e-3);
            assert!((var - expected).abs() < 1e-4, "feature {feature} var {var}");
        }
    }

    #[test]
    fn running_statistics_move_by_one_hundredth_of_the_batch() {
        let device = Device::flex().autodiff();
        let bn = BatchNormSettings::default().batch_norm(2, &device);
        bn.forward(probe_batch(&device));
        let mean = values(bn.running_mean.value_sync());
        let var = values(bn.running_var.value_sync());
        // new = 0.99 · old + 0.01 · batch, from mean 0 and variance 1.
        assert!(
            (mean[0] - 0.02).abs() < 1e-6 && (mean[1] - 0.10).abs() < 1e-6,
            "{mean:?}"
        );
        assert!((var[0] - (0.99 + 0.005)).abs() < 1e-6, "{var:?}");
        assert!((var[1] - (0.99 + 0.025)).abs() < 1e-6, "{var:?}");
        bn.forward(probe_batch(&device));
        let mean = values(bn.running_mean.value_sync());
        assert!((mean[0] - (0.99 * 0.02 + 0.02)).abs() < 1e-6, "{mean:?}");
    }

    #[test]
    fn inference_mode_uses_running_statistics() {
        let device = Device::flex().autodiff();
        let bn = BatchNormSettings::default().batch_norm(2, &device);
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
