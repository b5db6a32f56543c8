//! Training: a [`Trainer`] steps batches through Adam; [`fit`] runs the epochs, validates in
//! inference mode and tells its [`Hook`]s; `bench` times steps.

mod adam;
pub mod bench;
pub mod epoch;
pub mod error;
pub mod evaluate;
pub mod fit;
pub mod hooks;
pub mod landscape;
pub mod predict;
mod prefetch;
pub mod profile;
pub mod recalibrate;
pub mod state;
pub mod trainer;

pub use epoch::EpochMetrics;
pub use error::TrainError;
pub use evaluate::evaluate;
pub use fit::fit;
pub use hooks::{Hook, ProbePoint, STALE_SHARE, SaveState};
pub use state::{STATE_FILE, StateHeader, TrainingState};
pub use trainer::Trainer;

#[cfg(test)]
mod tests;
