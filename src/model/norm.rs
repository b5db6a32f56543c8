//! Normalization: which kind sits where, its Keras settings, and the layer itself.

use burn::nn::{
    BatchNorm, BatchNormConfig, GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig,
};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

named_enum! {
    /// Which normalization sits in every hidden block.
    #[derive(Default)]
    pub enum NormKind("norm") {
        #[default]
        None => "none",
        /// BatchNorm: per-feature statistics over the batch (and image positions).
        Batch => "batch",
        /// LayerNorm: per-sample statistics over all features (for the CNN: channels × positions).
        Layer => "layer",
        /// GroupNorm: per-sample statistics over groups of channels (MLP: groups of features).
        Group => "group",
    }
}

impl NormKind {
    /// Short tag used in labels and folder names: "bn", "ln", "gn"; empty for none.
    pub fn tag(self) -> &'static str {
        match self {
            NormKind::None => "",
            NormKind::Batch => "bn",
            NormKind::Layer => "ln",
            NormKind::Group => "gn",
        }
    }

    /// "No norm", "BatchNorm", "LayerNorm", "GroupNorm".
    pub fn title(self) -> &'static str {
        match self {
            NormKind::None => "No norm",
            NormKind::Batch => "BatchNorm",
            NormKind::Layer => "LayerNorm",
            NormKind::Group => "GroupNorm",
        }
    }
}

named_enum! {
    /// Where the normalization sits relative to the ReLU.
    #[derive(Default)]
    pub enum NormPosition("norm position") {
        /// Dense/Conv → Norm → ReLU, as the guide (and Ioffe & Szegedy) place it.
        #[default]
        Before => "before",
        /// Dense/Conv → ReLU → Norm.
        After => "after",
    }
}

/// Normalization settings in Keras' terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormSettings {
    /// Added to the variance before the square root, for every norm kind. Keras: 1e-3 for
    /// BatchNormalization, LayerNormalization and GroupNormalization (Burn's default is 1e-5).
    pub epsilon: f64,
    /// Keras convention: the weight of the *old* running value,
    /// `running = momentum · running + (1 − momentum) · batch`. Keras: 0.99.
    /// Burn's `momentum` is the weight of the new batch, so Burn gets `1 − momentum`.
    pub momentum: f64,
}

impl Default for BatchNormSettings {
    fn default() -> Self {
        Self {
            epsilon: 1e-3,
            momentum: 0.99,
        }
    }
}

impl BatchNormSettings {
    /// A Burn BatchNorm with these settings (Burn's momentum is `1 − momentum`).
    pub fn batch_norm(&self, features: usize, device: &Device) -> BatchNorm {
        BatchNormConfig::new(features)
            .with_epsilon(self.epsilon)
            .with_momentum(1.0 - self.momentum)
            .init(device)
    }
}

/// GroupNorm's group count: the largest divisor of `channels` that is at most 8, so every
/// layer of the guide's networks (32, 64, 128 channels) gets 8 groups of 4–16 channels.
pub fn group_count(channels: usize) -> usize {
    (1..=MAX_GROUPS.min(channels))
        .rev()
        .find(|g| channels.is_multiple_of(*g))
        .unwrap_or(1)
}

const MAX_GROUPS: usize = 8;

/// One normalization layer of any kind.
#[derive(Module, Debug)]
pub enum Norm {
    Batch(BatchNorm),
    Layer(LayerNorm),
    Group(GroupNorm),
}

impl Norm {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Norm::Batch(norm) => norm.forward(x),
            Norm::Layer(norm) => norm.forward(x),
            Norm::Group(norm) => norm.forward(x),
        }
    }

    /// Like training-mode `forward`, but BatchNorm uses the batch's own statistics without
    /// touching its running statistics: a side-effect-free look at what training sees.
    pub(super) fn forward_observed(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Norm::Batch(bn) => {
                let mean = x.clone().mean_dim(0);
                let var = x.clone().var_bias(0);
                let normalized = x.sub(mean).div(var.add_scalar(bn.epsilon).sqrt());
                let features = normalized.dims()[1];
                normalized
                    .mul(bn.gamma.val().reshape([1, features]))
                    .add(bn.beta.val().reshape([1, features]))
            }
            other => other.forward(x),
        }
    }

    /// Trainable parameters; BatchNorm's running statistics are not counted.
    pub(super) fn trainable(&self) -> usize {
        match self {
            Norm::Batch(bn) => bn.gamma.shape().num_elements() + bn.beta.shape().num_elements(),
            Norm::Layer(_) | Norm::Group(_) => self.num_params(),
        }
    }
}

impl NormKind {
    /// The norm layer for `features` features (channels when `spatial`), `None` for no norm.
    pub fn layer(
        self,
        settings: &BatchNormSettings,
        features: usize,
        spatial: bool,
        device: &Device,
    ) -> Option<Norm> {
        let epsilon = settings.epsilon;
        Some(match self {
            NormKind::None => return None,
            NormKind::Batch => Norm::Batch(settings.batch_norm(features, device)),
            // LayerNorm over a conv layer normalizes each sample over channels × positions:
            // GroupNorm with one group (Wu & He 2018), with a per-channel scale and shift.
            NormKind::Layer if spatial => Norm::Group(
                GroupNormConfig::new(1, features)
                    .with_epsilon(epsilon)
                    .init(device),
            ),
            NormKind::Layer => Norm::Layer(
                LayerNormConfig::new(features)
                    .with_epsilon(epsilon)
                    .init(device),
            ),
            NormKind::Group => Norm::Group(
                GroupNormConfig::new(group_count(features), features)
                    .with_epsilon(epsilon)
                    .init(device),
            ),
        })
    }
}
