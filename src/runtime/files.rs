//! Result files: every write goes through a temporary file in the same folder and a rename, so
//! a crash or Ctrl-C never leaves half a file and a reader never sees one.

use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FileError {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path} is not a valid bnx results file: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let fail = |source| FileError::Write {
        path: path.into(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    // Results are for sharing: tempfile creates 0600, a plain write would give 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(fail)?;
    }
    file.as_file().sync_all().map_err(fail)?;
    file.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Pretty JSON with a trailing newline, written atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), FileError> {
    let mut text = serde_json::to_string_pretty(value).expect("results serialize to JSON");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Reads and parses a JSON file bnx wrote; a file that does not parse is named in the error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Read {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| FileError::Parse {
        path: path.into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temporaries() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("nested/out.json");
        write_atomic(&path, b"first version, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let entries = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(entries, 1);
    }

    /// A write replaces the file (a new inode) instead of rewriting it in place, so a reader
    /// holding the old file, or opening it at any moment, reads one whole version.
    #[cfg(unix)]
    #[test]
    fn a_write_replaces_the_file_and_readers_never_see_part_of_one() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("metrics.json");
        let versions = [vec![b'a'; 1 << 18], vec![b'b'; 3 << 17]];
        write_atomic(&path, &versions[0]).unwrap();
        let held = std::fs::File::open(&path).unwrap();
        let inode = held.metadata().unwrap().ino();
        write_atomic(&path, &versions[1]).unwrap();
        assert_ne!(
            std::fs::metadata(&path).unwrap().ino(),
            inode,
            "not replaced"
        );
        assert_eq!(held.metadata().unwrap().len(), versions[0].len() as u64);
        assert_eq!(
            std::fs::metadata(&path).unwrap().mode() & 0o777,
            0o644,
            "readable by others, as a plain write would leave it"
        );

        // A reader racing at least 100 writes of alternating versions only ever reads a whole
        // one. The writer goes on until the reader has read at least once, so that a busy
        // machine that starts the reader late cannot make the race vacuous.
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let (done, reads) = (AtomicBool::new(false), AtomicUsize::new(0));
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    let bytes = std::fs::read(&path).unwrap();
                    assert!(
                        versions.contains(&bytes),
                        "read {} bytes, a torn file",
                        bytes.len()
                    );
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
            let mut i = 0;
            // (A reader that failed its assertion has finished: stop writing then too.)
            while i < 100 || (reads.load(Ordering::Relaxed) == 0 && !reader.is_finished()) {
                write_atomic(&path, &versions[i % 2]).unwrap();
                i += 1;
            }
            done.store(true, Ordering::Relaxed);
            reader.join().unwrap();
            assert!(reads.load(Ordering::Relaxed) > 0);
        });
    }

    #[test]
    fn unreadable_and_corrupt_files_are_named() {
        let dir = tempfile::TempDir::new().unwrap();
        let missing = dir.path().join("none.json");
        let err = read_json::<serde_json::Value>(&missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot read {}", missing.display())
        );
        let corrupt = dir.path().join("bad.json");
        std::fs::write(&corrupt, "{\"a\": ").unwrap();
        let err = read_json::<serde_json::Value>(&corrupt).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "{} is not a valid bnx results file",
                corrupt.display()
            )),
            "{err}"
        );
    }
}
