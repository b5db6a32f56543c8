//! bnx: what does Batch Normalization actually do to training?
//!
//! Data flows one way, and a module imports only from those before it:
//! [`runtime`] (backend, threads, progress, atomic files) and [`data`] → [`model`] →
//! [`config`] → [`train`] → [`report`] → [`experiment`] (one run end to end) → [`study`] →
//! [`commands`] (one module per command) → [`cli`] (the top-level clap definition).

/// A fieldless enum whose variants have fixed names, shared by the command line, config
/// files, JSON results and messages.
pub trait Named: Sized + Copy + 'static {
    /// What a value names, for messages: "backend", "study", …
    const WHAT: &'static str;
    fn all() -> &'static [Self];
    fn name(self) -> &'static str;

    /// The value called `name`, or a message listing the valid names.
    fn from_name(name: &str) -> Result<Self, String> {
        Self::all()
            .iter()
            .copied()
            .find(|v| v.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::all().iter().map(|v| v.name()).collect();
                format!(
                    "unknown {} '{name}', expected one of {}",
                    Self::WHAT,
                    names.join(", ")
                )
            })
    }
}

/// Declares a [`Named`] enum: `ALL`, `name()`, `Display`, `FromStr` and serde all use the
/// names given here, so a value reads the same on the command line, in JSON and in messages.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: [Self; [$($text),+].len()] = [$($name::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl $crate::Named for $name {
            const WHAT: &'static str = $what;
            fn all() -> &'static [Self] {
                &Self::ALL
            }
            fn name(self) -> &'static str {
                $name::name(self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, not `write_str`, so `{:<8}` lines up columns.
                f.pad(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                <Self as $crate::Named>::from_name(s)
            }
        }
    };
}

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

use thiserror::Error;

/// The exit status of every error the user can mend (a file, a flag, a folder): one sentence on
/// stderr. clap's usage errors exit with 2, a stop by Ctrl-C with 130
/// ([`runtime::interrupt::INTERRUPTED_EXIT_CODE`]).
pub const USER_ERROR_EXIT_CODE: u8 = 1;
/// The exit status of an internal error (a panic: a bug in bnx, never the user's doing),
/// sysexits' EX_SOFTWARE. Tests treat it, and any message saying "internal error", as a failure.
pub const INTERNAL_ERROR_EXIT_CODE: u8 = 70;

/// Every error the library reports; each message is one sentence for the user.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Data(#[from] data::DataError),
    #[error(transparent)]
    Image(#[from] data::digits::ImageError),
    #[error(transparent)]
    Fetch(#[from] data::fetch::FetchError),
    #[error(transparent)]
    Train(#[from] train::TrainError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error(transparent)]
    Backend(#[from] runtime::BackendError),
    #[error(transparent)]
    Lock(#[from] runtime::lock::LockError),
    #[error("{0}")]
    Study(String),
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
