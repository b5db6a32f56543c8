//! bnx: what does Batch Normalization actually do to training?
//!
//! Data flows one way, and a module imports only from those before it:
//! [`runtime`] (backend, threads, progress, atomic files) and [`data`] → [`model`] →
//! [`config`] → [`train`] → [`report`] → [`experiment`] (one run end to end) → [`study`] →
//! [`commands`] (one module per command) → [`cli`] (the top-level clap definition). Each layer
//! has its own error type (`TrainError`, `ExperimentError`, `StudyError`, …); the commands add
//! context at the edge. No two source files import each other, directly or through a ring
//! (`tests/e2e/layers.rs` checks both rules).

#[macro_use]
mod named;

pub use named::Named;

pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod experiment;
pub mod model;
pub mod report;
pub mod runtime;
pub mod study;
pub mod train;

/// The exit status of every error the user can mend (a file, a flag, a folder): one sentence on
/// stderr. clap's usage errors exit with 2, a stop by Ctrl-C with 130
/// ([`runtime::interrupt::INTERRUPTED_EXIT_CODE`]).
pub const USER_ERROR_EXIT_CODE: u8 = 1;
/// The exit status of an internal error (a panic: a bug in bnx, never the user's doing),
/// sysexits' EX_SOFTWARE. Tests treat it, and any message saying "internal error", as a failure.
pub const INTERNAL_ERROR_EXIT_CODE: u8 = 70;
