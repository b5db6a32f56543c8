//! Which folder a dataset is read from: the one given, the bundled MNIST, the system's
//! Fashion-MNIST, or the copy fetched into the cache.

use std::path::{Path, PathBuf};

use super::datasets::{DataError, DatasetKind, FASHION_MNIST_SYSTEM_DIR, bundled_mnist_dir};
use super::fetch;

/// Decides which folder to read: `--data-dir` when given, else the bundled MNIST, else the
/// system's Fashion-MNIST (Debian's package), else the copy fetched into the cache folder
/// `cache` (see `data::fetch`); [`DataError::NotFetched`] when there is none.
pub fn resolve_dir(
    kind: DatasetKind,
    data_dir: Option<&Path>,
    cache: Option<&Path>,
) -> Result<PathBuf, DataError> {
    match (data_dir, kind) {
        (Some(dir), _) if dir.is_dir() => return Ok(dir.to_path_buf()),
        (Some(dir), _) => {
            return Err(DataError::MissingDir {
                dir: dir.to_path_buf(),
            });
        }
        (None, DatasetKind::Mnist) => return Ok(bundled_mnist_dir()),
        (None, DatasetKind::FashionMnist) if Path::new(FASHION_MNIST_SYSTEM_DIR).is_dir() => {
            return Ok(FASHION_MNIST_SYSTEM_DIR.into());
        }
        _ => {}
    }
    cache
        .and_then(|root| fetch::cached(root, kind))
        .ok_or(DataError::NotFetched { dataset: kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_data_dir_is_an_error() {
        let err =
            resolve_dir(DatasetKind::Mnist, Some(Path::new("/no/such/dir")), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data directory /no/such/dir does not exist (from --data-dir or the config file's data.data_dir)"
        );
    }
}
