//! bnx: what does Batch Normalization actually do to training?
//!
//! Data flows one way: [`config`] → [`data`] + [`model`] → [`train`] → [`report`];
//! [`experiment`] strings them together for the commands in `cli`.

pub mod cli;
pub mod config;
pub mod data;
pub mod experiment;
pub mod model;
pub mod report;
pub mod study;
pub mod train;

use thiserror::Error;

/// Every error the library reports; each message is one sentence for the user.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error(transparent)]
    Train(#[from] train::TrainError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
}
