//! Results on disk: metrics and run records as JSON, comparison summaries, charts.
//! Every write is atomic (temporary file + rename), so a crash never leaves half a file.

pub mod charts;
pub mod files;
pub mod summary;

use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use files::{RunMetrics, RunRecord};
pub use summary::ComparisonSummary;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path} is not a valid bnx metrics file: {message}")]
    BadMetrics { path: PathBuf, message: String },

    #[error("cannot render chart {path}: {message}")]
    Chart { path: PathBuf, message: String },

    #[error(
        "{path} holds no results: expected a run folder with metrics.json or a comparison folder with no-bn/ and bn/"
    )]
    NotAResultsDir { path: PathBuf },
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let fail = |source| ReportError::Write {
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
/// Reads and parses a JSON file bnx wrote; a file that does not parse is named in the error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ReportError::BadMetrics {
        path: path.into(),
        message: e.to_string(),
    })
}

pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ReportError> {
    let mut text = serde_json::to_string_pretty(value).expect("results serialize to JSON");
    text.push('\n');
    write_atomic(path, text.as_bytes())
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
}
