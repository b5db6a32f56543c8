//! What a network is, as data: model, normalization, initialization scale and MLP widths.

use burn::nn::pool::MaxPool2dConfig;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::activation::Activation;
use super::init::GlorotUniform;
use super::kind::ModelKind;
use super::network::{
    CNN_CHANNELS, CNN_DENSE, CNN_FLAT, CNN_KERNEL, Cnn, ConvBlock, DenseBlock, Mlp, Network,
};
use super::noise::{NoiseSource, NormNoise};
use super::norm::{BatchNormSettings, NormKind, NormPosition, group_count};
use crate::data::idx::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

/// Mixed into the run's seed for each layer's noise generator (any odd constant).
const NOISE_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The MLP's hidden widths in the guide.
pub const GUIDE_MLP_WIDTHS: [usize; 3] = [128, 64, 32];

/// One convolution or dense layer, with the shapes one sample takes through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// A valid (unpadded) square convolution of a `side` × `side` input, then 2 × 2 max-pooling.
    Conv {
        channels_in: usize,
        channels_out: usize,
        side: usize,
        kernel: usize,
    },
    Dense {
        inputs: usize,
        outputs: usize,
    },
}

impl Layer {
    /// The side of a convolution's output (before pooling).
    pub fn output_side(self) -> usize {
        match self {
            Self::Conv { side, kernel, .. } => side - (kernel - 1),
            Self::Dense { .. } => 1,
        }
    }

    /// Forward multiply-adds per sample.
    pub fn multiply_adds(&self) -> usize {
        match *self {
            Self::Conv {
                channels_in,
                channels_out,
                kernel,
                ..
            } => self.output_side().pow(2) * channels_out * channels_in * kernel * kernel,
            Self::Dense { inputs, outputs } => inputs * outputs,
        }
    }
}

/// Everything that decides a network's structure and initial weights: the `network` section of
/// a config file, and what every run records. Fields left out of a file keep the guide's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    pub model: ModelKind,
    pub norm: NormKind,
    pub position: NormPosition,
    pub norm_settings: BatchNormSettings,
    /// Multiplies the Glorot-uniform bound of every Dense/Conv layer (1 = Keras' default).
    pub init_scale: f64,
    /// The MLP's hidden widths (the CNN's shape is fixed: leave it at the guide's).
    pub mlp_widths: Vec<usize>,
    /// Every hidden layer's nonlinearity (the guide: ReLU).
    #[serde(skip_serializing_if = "Activation::is_relu")]
    pub activation: Activation,
    /// Santurkar et al.'s noisy BatchNorm: noise after every norm layer, in training only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub norm_noise: Option<NormNoise>,
}

impl Default for NetworkConfig {
    /// The guide's MLP without normalization.
    fn default() -> Self {
        Self::guide(ModelKind::Mlp, false)
    }
}

impl NetworkConfig {
    /// One of the guide's four networks, exactly as the guide builds it.
    pub fn guide(model: ModelKind, bn: bool) -> Self {
        Self {
            model,
            norm: if bn { NormKind::Batch } else { NormKind::None },
            position: NormPosition::Before,
            norm_settings: BatchNormSettings::default(),
            init_scale: 1.0,
            mlp_widths: GUIDE_MLP_WIDTHS.to_vec(),
            activation: Activation::Relu,
            norm_noise: None,
        }
    }

    /// Multiply-adds of one sample's forward pass through the convolutions and dense layers
    /// (normalization, activations and pooling aside): a training step does about three times
    /// this per sample. What bnx's thread policy sizes a run by.
    pub fn multiply_adds_per_sample(&self) -> usize {
        self.layer_multiply_adds().iter().sum()
    }

    /// Floating-point operations of one sample's training step in its convolutions and dense
    /// layers, a multiply-add counting two: the forward pass, the weight gradient, and the
    /// input gradient of every layer but the first (nothing needs the image's gradient).
    /// Normalization, activations, pooling, the loss and Adam are left out: they are memory
    /// bound and add well under 1 % of the arithmetic.
    pub fn training_flops_per_sample(&self) -> usize {
        let layers = self.layer_multiply_adds();
        2 * (3 * layers.iter().sum::<usize>() - layers.first().copied().unwrap_or(0))
    }

    /// Forward multiply-adds per sample of each convolution and dense layer, input first.
    fn layer_multiply_adds(&self) -> Vec<usize> {
        self.layers().iter().map(Layer::multiply_adds).collect()
    }

    /// The convolutions and dense layers a sample goes through, input first; the last is the
    /// output layer (no norm, no activation).
    pub fn layers(&self) -> Vec<Layer> {
        let dense = |widths: &[usize]| {
            widths
                .windows(2)
                .map(|w| Layer::Dense {
                    inputs: w[0],
                    outputs: w[1],
                })
                .collect::<Vec<_>>()
        };
        match self.model {
            ModelKind::Mlp => {
                let widths: Vec<usize> = std::iter::once(IMAGE_PIXELS)
                    .chain(self.mlp_widths.iter().copied())
                    .chain([NUM_CLASSES])
                    .collect();
                dense(&widths)
            }
            ModelKind::Cnn => {
                let (mut side, mut channels_in, mut layers) = (IMAGE_SIDE, 1, Vec::new());
                for channels in CNN_CHANNELS {
                    layers.push(Layer::Conv {
                        channels_in,
                        channels_out: channels,
                        side,
                        kernel: CNN_KERNEL,
                    });
                    (side, channels_in) = ((side - (CNN_KERNEL - 1)) / 2, channels);
                }
                layers.extend(dense(&[CNN_FLAT, CNN_DENSE, NUM_CLASSES]));
                layers
            }
        }
    }

    pub fn with_norm(self, norm: NormKind) -> Self {
        Self { norm, ..self }
    }

    /// The layer sequence in one line, e.g. "784 → Dense 128 → BN → ReLU → … → Dense 10".
    pub fn describe(&self) -> String {
        let activation = self.activation.title();
        let block = |layer: String, channels: usize| {
            let noise = if self.norm_noise.is_some() {
                " + noise"
            } else {
                ""
            };
            let norm = match self.norm {
                NormKind::None => return format!("{layer} → {activation}"),
                NormKind::Batch => format!("BN{noise}"),
                NormKind::Layer => "LN".to_string(),
                NormKind::Group => format!("GN({} groups)", group_count(channels)),
            };
            match self.position {
                NormPosition::Before => format!("{layer} → {norm} → {activation}"),
                NormPosition::After => format!("{layer} → {activation} → {norm}"),
            }
        };
        let scale = if self.init_scale == 1.0 {
            String::new()
        } else {
            format!(" (init {}× Glorot)", self.init_scale)
        };
        match self.model {
            ModelKind::Mlp => {
                let hidden: Vec<String> = self
                    .mlp_widths
                    .iter()
                    .map(|&w| block(format!("Dense {w}"), w))
                    .collect();
                format!(
                    "{IMAGE_PIXELS} → {} → Dense {NUM_CLASSES}{scale}",
                    hidden.join(" → ")
                )
            }
            ModelKind::Cnn => {
                let convs: Vec<String> = CNN_CHANNELS
                    .iter()
                    .map(|&c| format!("{} → MaxPool 2", block(format!("Conv {c} 3×3"), c)))
                    .collect();
                format!(
                    "1×28×28 → {} → Flatten {CNN_FLAT} → {} → Dense {NUM_CLASSES}{scale}",
                    convs.join(" → "),
                    block(format!("Dense {CNN_DENSE}"), CNN_DENSE)
                )
            }
        }
    }

    /// "mlp", "mlp+bn", "mlp6x64+ln-after", "cnn+gn×0.1", "mlp3x100-sigmoid+bn", …: short,
    /// for progress bars.
    pub fn label(&self) -> String {
        let mut label = self.model.name().to_string();
        if self.model == ModelKind::Mlp && self.mlp_widths != GUIDE_MLP_WIDTHS {
            let uniform = self.mlp_widths.windows(2).all(|w| w[0] == w[1]);
            match (uniform, self.mlp_widths.first()) {
                (true, Some(width)) => {
                    label.push_str(&format!("{}x{width}", self.mlp_widths.len()))
                }
                _ => label.push_str(&format!(
                    "[{}]",
                    self.mlp_widths
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                )),
            }
        }
        if self.activation != Activation::Relu {
            label.push('-');
            label.push_str(self.activation.name());
        }
        if self.norm != NormKind::None {
            label.push('+');
            label.push_str(self.norm.tag());
            if self.norm_noise.is_some() {
                label.push_str("-noisy");
            }
            if self.position == NormPosition::After {
                label.push_str("-after");
            }
        }
        if self.init_scale != 1.0 {
            label.push_str(&format!("×{}", self.init_scale));
        }
        label
    }

    /// Builds the network with Glorot-uniform weights drawn from `seed`.
    pub fn init(&self, seed: u64, device: &Device) -> Network {
        let mut glorot = GlorotUniform::new(seed).with_scale(self.init_scale);
        let norm = |features: usize, spatial: bool| {
            self.norm
                .layer(&self.norm_settings, features, spatial, device)
        };
        let after = self.position == NormPosition::After;
        let activation = self.activation;
        // Each normalized layer draws its noise from its own generator, seeded from the run's
        // seed; the weights' draws above are untouched, so noisy and plain BN start alike.
        let mut layers_made = 0u64;
        let mut noise = || {
            layers_made += 1;
            let settings = self.norm_noise.filter(|_| self.norm != NormKind::None)?;
            Some(NoiseSource::new(
                settings,
                seed ^ NOISE_SEED.wrapping_mul(layers_made),
            ))
        };
        match self.model {
            ModelKind::Mlp => {
                let mut d_input = IMAGE_PIXELS;
                let hidden = self
                    .mlp_widths
                    .iter()
                    .map(|&width| {
                        let linear = glorot.linear(d_input, width, device);
                        d_input = width;
                        DenseBlock {
                            linear,
                            norm: norm(width, false),
                            after,
                            activation,
                            noise: noise(),
                        }
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
                            norm: norm(channels, true),
                            after,
                            activation,
                            noise: noise(),
                            pool: MaxPool2dConfig::new([2, 2]).init(),
                        }
                    })
                    .collect();
                let dense = DenseBlock {
                    linear: glorot.linear(CNN_FLAT, CNN_DENSE, device),
                    norm: norm(CNN_DENSE, false),
                    after,
                    activation,
                    noise: noise(),
                };
                let output = glorot.linear(CNN_DENSE, NUM_CLASSES, device);
                Network::Cnn(Cnn {
                    features,
                    dense,
                    output,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiply_adds_count_every_dense_and_conv_layer() {
        // 784·128 + 128·64 + 64·32 + 32·10
        assert_eq!(
            NetworkConfig::guide(ModelKind::Mlp, false).multiply_adds_per_sample(),
            110_912
        );
        // conv 26²·32·9, conv 11²·64·32·9, dense 1600·64 + 64·10; BN adds none.
        assert_eq!(
            NetworkConfig::guide(ModelKind::Cnn, true).multiply_adds_per_sample(),
            194_688 + 2_230_272 + 103_040
        );
    }

    #[test]
    fn a_training_step_counts_three_passes_but_the_image_gradient() {
        let mlp = NetworkConfig::guide(ModelKind::Mlp, false);
        assert_eq!(
            mlp.training_flops_per_sample(),
            2 * (3 * 110_912 - 784 * 128)
        );
        let cnn = NetworkConfig::guide(ModelKind::Cnn, false);
        assert_eq!(
            cnn.training_flops_per_sample(),
            2 * (3 * (194_688 + 2_230_272 + 103_040) - 194_688)
        );
    }

    #[test]
    fn labels_name_every_variation() {
        assert_eq!(NetworkConfig::guide(ModelKind::Mlp, false).label(), "mlp");
        assert_eq!(NetworkConfig::guide(ModelKind::Cnn, true).label(), "cnn+bn");
        let after = NetworkConfig {
            position: NormPosition::After,
            ..NetworkConfig::guide(ModelKind::Mlp, true)
        };
        assert_eq!(after.label(), "mlp+bn-after");
        let scaled = NetworkConfig {
            init_scale: 0.1,
            ..NetworkConfig::guide(ModelKind::Cnn, false).with_norm(NormKind::Group)
        };
        assert_eq!(scaled.label(), "cnn+gn×0.1");
        let sigmoid = NetworkConfig {
            mlp_widths: vec![100; 3],
            activation: crate::model::Activation::Sigmoid,
            ..NetworkConfig::guide(ModelKind::Mlp, true)
        };
        assert_eq!(sigmoid.label(), "mlp3x100-sigmoid+bn");
        assert!(
            sigmoid
                .describe()
                .starts_with("784 → Dense 100 → BN → sigmoid → Dense 100")
        );
        assert!(
            after.describe().contains("Dense 128 → ReLU → BN"),
            "{}",
            after.describe()
        );
    }
}
