//! One file per claim of the guide. Each implements [`Claim`]: its words, its grid per budget,
//! its primary endpoints and how they are judged (declared here, in code, before any run), its
//! secondary endpoints (reported, never voting) and its chart. Adding a study is one file here
//! plus its line in [`StudyKind`] and [`claim`].

mod batch;
mod convergence;
mod depth;
mod init;
mod lr;
mod noise;
mod position;
mod regularization;
mod shared;
mod shift;
mod smoothness;

pub use shared::{
    BATCH_SIZES, Claim, DEPTHS, Figure, Finding, GridPoint, INIT_SCALES, Judgement, LEARNING_RATES,
    bn_pair, default_scale, default_seeds, training_accuracy,
};

use super::kind::StudyKind;

/// The claim behind a study.
pub fn claim(kind: StudyKind) -> &'static dyn Claim {
    match kind {
        StudyKind::Convergence => &convergence::Convergence,
        StudyKind::Lr => &lr::LearningRate,
        StudyKind::Init => &init::Initialization,
        StudyKind::Batch => &batch::BatchSize,
        StudyKind::Position => &position::Position,
        StudyKind::Depth => &depth::Depth,
        StudyKind::Regularization => &regularization::Regularization,
        StudyKind::Smoothness => &smoothness::Smoothness,
        StudyKind::Shift => &shift::Shift,
        StudyKind::Noise => &noise::NoisyBatchNorm,
    }
}

#[cfg(test)]
pub(crate) mod testing;
