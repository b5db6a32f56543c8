//! How running, comparing or inspecting a network fails.

use thiserror::Error;

/// Why a run, a comparison or an inspection failed; each message is one sentence for the user.
#[derive(Debug, Error)]
pub enum ExperimentError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Image(#[from] crate::data::digits::ImageError),
    #[error(transparent)]
    Fetch(#[from] crate::data::fetch::FetchError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    Backend(#[from] crate::runtime::BackendError),
    #[error(transparent)]
    Lock(#[from] crate::runtime::lock::LockError),
    #[error("cannot use checkpoint {path}: {message}")]
    Checkpoint {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("cannot resume {dir}: {message}")]
    Resume {
        dir: std::path::PathBuf,
        message: String,
    },
    /// The output folder holds kept work this command would otherwise train over.
    #[error("will not train into {dir}: {message}")]
    Occupied {
        dir: std::path::PathBuf,
        message: String,
    },
}
