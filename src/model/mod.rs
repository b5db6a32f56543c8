//! The four networks of the Keras BatchNormalization guide, built from one config.
//!
//! MLP: 784 → Dense 128 → [BN] → ReLU → Dense 64 → [BN] → ReLU → Dense 32 → [BN] → ReLU → Dense 10
//! CNN: Conv 32 3×3 → [BN] → ReLU → MaxPool 2 → Conv 64 3×3 → [BN] → ReLU → MaxPool 2 →
//!      Flatten (1600) → Dense 64 → [BN] → ReLU → Dense 10
//!
//! `spec` describes a network (data), `activation` its nonlinearity, `norm` the normalization
//! layers, `blocks` the hidden blocks (layer, norm, activation, pooling), `network` the Burn module
//! built from a spec, `init` Keras' Glorot-uniform initialization, `noise` Santurkar et al.'s
//! noisy BatchNorm, `probes` what the studies read inside an MLP.

pub mod activation;
mod blocks;
pub mod init;
pub mod kind;
pub mod network;
pub mod noise;
pub mod norm;
pub mod probes;
pub mod spec;

pub use activation::Activation;
pub use kind::ModelKind;
pub use network::{Network, ParameterCounts};
pub use noise::NormNoise;
pub use norm::{BatchNormSettings, NormKind, NormPosition};
pub use spec::{GUIDE_MLP_WIDTHS, Layer, NetworkConfig};
