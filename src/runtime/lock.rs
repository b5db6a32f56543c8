//! One process per run folder: two runs writing `metrics.json`, the checkpoint and the state into
//! the same folder would interleave epochs of different runs. The lock is the operating system's
//! (`flock` on the folder itself), so it is released when the process exits, however it exits;
//! a small file in the folder says who holds it, for the message the second process prints.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Names the holder; removed when the lock is released normally.
pub const HOLDER_FILE: &str = ".bnx-lock";

#[derive(Debug, Error)]
pub enum LockError {
    #[error(
        "{dir} is in use by another bnx process ({holder}); wait for it to finish or choose another --out"
    )]
    Busy { dir: PathBuf, holder: String },
    #[error("cannot write {dir}")]
    Create {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {dir}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Held while a run writes into its folder.
#[derive(Debug)]
pub struct RunLock {
    dir: PathBuf,
    _folder: File,
}

impl RunLock {
    /// Creates `dir` if needed and locks it, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            dir: dir.into(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|source| LockError::Create {
            dir: dir.into(),
            source,
        })?;
        let folder = File::open(dir).map_err(io)?;
        match folder.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(dir.join(HOLDER_FILE))
                    .map(|text| text.trim().to_string())
                    .unwrap_or_else(|_| "holder unknown".into());
                return Err(LockError::Busy {
                    dir: dir.into(),
                    holder,
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        // Best effort: the lock itself is what excludes, this only helps the message.
        let _ = std::fs::write(dir.join(HOLDER_FILE), holder_description());
        Ok(Self {
            dir: dir.into(),
            _folder: folder,
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(HOLDER_FILE));
    }
}

/// "pid 1234 on host-1, started 2026-11-27 12:00:00 UTC: bnx train --bn".
fn holder_description() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this machine".into());
    let command: Vec<String> = std::env::args().collect();
    format!(
        "pid {} on {host}: {}",
        std::process::id(),
        command.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_naming_the_holder() {
        let dir = tempfile::TempDir::new().unwrap();
        let run = dir.path().join("run");
        let first = RunLock::acquire(&run).unwrap();
        let err = RunLock::acquire(&run).unwrap_err().to_string();
        assert!(err.contains("in use by another bnx process"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(!run.join(HOLDER_FILE).exists());
        let _again = RunLock::acquire(&run).unwrap();
        // Another folder is independent.
        let _other = RunLock::acquire(&dir.path().join("other")).unwrap();
    }
}
