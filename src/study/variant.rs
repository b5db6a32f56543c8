//! The variants a study compares, as types: a verdict pairs runs by `Variant`, never by the
//! words a chart shows.

use crate::model::NormKind;
use crate::report::charts::{BN_COLOR, NO_BN_COLOR, PALETTE};

named_enum! {
    /// One curve of a study: what sits in the network's hidden blocks.
    pub enum Variant("variant") {
        NoBn => "no-bn",
        /// BatchNorm before the activation (the guide's Dense → BN → ReLU).
        Bn => "bn",
        /// BatchNorm after the activation.
        BnAfter => "bn-after",
        LayerNorm => "layernorm",
        GroupNorm => "groupnorm",
        /// BatchNorm with Santurkar et al.'s noise after it.
        NoisyBn => "noisy-bn",
    }
}

impl Variant {
    /// The words charts and tables show.
    pub fn title(self) -> &'static str {
        match self {
            Variant::NoBn => "No BN",
            Variant::Bn => "With BN",
            Variant::BnAfter => "BN after ReLU",
            Variant::LayerNorm => "LayerNorm",
            Variant::GroupNorm => "GroupNorm",
            Variant::NoisyBn => "Noisy BN",
        }
    }

    /// The variant whose hidden blocks hold `norm` (before the activation).
    pub fn of_norm(norm: NormKind) -> Self {
        match norm {
            NormKind::None => Variant::NoBn,
            NormKind::Batch => Variant::Bn,
            NormKind::Layer => Variant::LayerNorm,
            NormKind::Group => Variant::GroupNorm,
        }
    }

    pub fn color(self) -> plotters::style::RGBColor {
        match self {
            Variant::NoBn => NO_BN_COLOR,
            Variant::Bn => BN_COLOR,
            Variant::BnAfter => PALETTE[3],
            Variant::LayerNorm => PALETTE[0],
            Variant::GroupNorm => PALETTE[1],
            Variant::NoisyBn => PALETTE[1],
        }
    }
}
