//! Results on disk: `metrics.json`, `config.json`, comparison summaries, tables and charts.
//! Every write is atomic (see `runtime::files`).

pub mod charts;
pub mod error;
pub mod eval_charts;
pub mod evaluation;
pub mod files;
pub mod forest;
pub mod power;
pub mod seeded;
pub mod sign_flip;
pub mod stats;
pub mod summary;
pub mod table;
pub mod tensorboard;

pub use error::ReportError;
pub use files::{RunMetrics, RunRecord};
pub use seeded::SeededSummary;
pub use summary::ComparisonSummary;
pub use table::Table;
