//! The machine a run executes on, below everything that trains: the compute backend (opened
//! once per process, with its thread settings), progress display and atomic result files.

pub mod backend;
pub mod files;
pub mod interrupt;
pub mod jobs;
pub mod lock;
pub mod peak;
pub mod progress;
pub mod subnormals;
pub mod threads;

pub use backend::{Backend, BackendError, BackendKind};
pub use files::{FileError, read_json, write_atomic, write_json};
pub use progress::{Progress, Verbosity};
