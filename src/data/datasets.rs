//! Finding and loading MNIST, Fashion-MNIST and Kuzushiji-MNIST, with checksums for the record.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::idx::{self, IMAGE_PIXELS, IdxError};

/// Where Debian's `dataset-fashion-mnist` package puts its files.
pub const FASHION_MNIST_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The four canonical file names, without the optional `.gz`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

named_enum! {
    #[derive(Default)]
    pub enum DatasetKind("dataset") {
        #[default]
        Mnist => "mnist",
        FashionMnist => "fashion-mnist",
        Kmnist => "kmnist",
    }
}

impl DatasetKind {
    /// What each of the ten labels means.
    pub fn class_names(self) -> [&'static str; 10] {
        match self {
            DatasetKind::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetKind::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            // Romanized hiragana: one character from each row of the syllabary.
            DatasetKind::Kmnist => ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
        }
    }

    /// "MNIST", "Fashion-MNIST": for titles.
    pub fn title(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
            DatasetKind::Kmnist => "Kuzushiji-MNIST",
        }
    }
}

#[derive(Debug, Error)]
pub enum DataError {
    #[error(transparent)]
    Idx(#[from] IdxError),

    #[error(
        "data directory {dir} does not exist (from --data-dir or the config file's data.data_dir)"
    )]
    MissingDir { dir: PathBuf },

    #[error("{dir} has no {name}.gz or {name}; expected the four IDX files of {dataset}")]
    MissingFile {
        dir: PathBuf,
        name: &'static str,
        dataset: DatasetKind,
    },

    /// Not on this machine: the caller may fetch it (`data::fetch`).
    #[error(
        "{dataset} is not on this machine: `bnx data fetch {dataset}` downloads it, or pass --data-dir DIR (a folder with the four IDX files)"
    )]
    NotFetched { dataset: DatasetKind },

    #[error(
        "bundled file {path} has SHA-256 {found}, expected {expected} (assets/mnist/SHA256SUMS); restore it with `git checkout assets/mnist`"
    )]
    ChecksumMismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },

    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The bundled MNIST copy, found next to the crate's manifest.
pub fn bundled_mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join("mnist")
}

/// One file that went into a run, for `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub path: PathBuf,
    pub sha256: String,
}

/// Where a dataset's files were found and what they hash to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetProvenance {
    pub name: DatasetKind,
    pub dir: PathBuf,
    /// SHA-256 of the four files' digests in canonical order: one value names the data.
    pub sha256: String,
    pub files: Vec<FileDigest>,
}

/// A split held in memory as bytes: the compact form the data loader indexes into. The bytes
/// are kept in the `Vec` they were read into (`Arc<[u8]>` would copy 47 MB of MNIST once more
/// while the first copy is alive, which set a run's peak memory).
#[derive(Debug, Clone)]
pub struct ImageSet {
    pixels: Arc<Vec<u8>>,
    labels: Arc<Vec<u8>>,
}

/// One sample as the data loader hands it to the batcher.
#[derive(Debug, Clone)]
pub struct ImageItem {
    pub pixels: [u8; IMAGE_PIXELS],
    pub label: u8,
}

impl ImageSet {
    /// Builds a set from whole images and one label each.
    pub fn new(pixels: Vec<u8>, labels: Vec<u8>) -> Self {
        assert_eq!(
            pixels.len(),
            labels.len() * IMAGE_PIXELS,
            "one label per 28×28 image"
        );
        Self {
            pixels: Arc::new(pixels),
            labels: Arc::new(labels),
        }
    }

    /// The first `limit` samples (all of them when `limit` is larger).
    pub fn take(&self, limit: usize) -> Self {
        let n = limit.min(self.labels.len());
        Self {
            pixels: Arc::new(self.pixels[..n * IMAGE_PIXELS].to_vec()),
            labels: Arc::new(self.labels[..n].to_vec()),
        }
    }

    /// Sample `index`'s pixels.
    pub fn image(&self, index: usize) -> [u8; IMAGE_PIXELS] {
        self.pixels[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]
            .try_into()
            .expect("whole images")
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }
}

impl Dataset<ImageItem> for ImageSet {
    fn get(&self, index: usize) -> Result<ImageItem, DatasetError> {
        // Out of range panics, as the trait specifies; in-memory data cannot fail otherwise.
        let label = self.labels[index];
        let start = index * IMAGE_PIXELS;
        let mut pixels = [0u8; IMAGE_PIXELS];
        pixels.copy_from_slice(&self.pixels[start..start + IMAGE_PIXELS]);
        Ok(ImageItem { pixels, label })
    }

    fn len(&self) -> usize {
        self.labels.len()
    }
}

/// Train and test splits with where they came from.
#[derive(Debug, Clone)]
pub struct LoadedData {
    pub train: ImageSet,
    pub test: ImageSet,
    pub provenance: DatasetProvenance,
}

impl LoadedData {
    /// Keeps the first `train` / `test` samples of each split.
    pub fn limited(mut self, train: Option<usize>, test: Option<usize>) -> Self {
        if let Some(n) = train {
            self.train = self.train.take(n);
        }
        if let Some(n) = test {
            self.test = self.test.take(n);
        }
        self
    }
}

/// Finds `name.gz` or `name` in `dir`.
fn find_file(dir: &Path, name: &'static str, dataset: DatasetKind) -> Result<PathBuf, DataError> {
    [format!("{name}.gz"), name.to_string()]
        .into_iter()
        .map(|candidate| dir.join(candidate))
        .find(|path| path.is_file())
        .ok_or_else(|| DataError::MissingFile {
            dir: dir.to_path_buf(),
            name,
            dataset,
        })
}

/// Loads a dataset's four files from `dir`, validating every one.
pub fn load(kind: DatasetKind, dir: &Path) -> Result<LoadedData, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDir {
            dir: dir.to_path_buf(),
        });
    }
    let paths = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
        .map(|name| find_file(dir, name, kind));
    let [train_images, train_labels, test_images, test_labels] = paths;
    let (train_images, train_labels) = (train_images?, train_labels?);
    let (test_images, test_labels) = (test_images?, test_labels?);

    let files = [&train_images, &train_labels, &test_images, &test_labels]
        .into_iter()
        .map(|path| {
            Ok(FileDigest {
                path: path.clone(),
                sha256: sha256_file(path)?,
            })
        })
        .collect::<Result<Vec<_>, DataError>>()?;
    if dir == bundled_mnist_dir() {
        verify_bundled(&files)?;
    }

    let (train_x, train_y) = idx::read_pair(&train_images, &train_labels)?;
    let (test_x, test_y) = idx::read_pair(&test_images, &test_labels)?;
    let combined = hex(&Sha256::digest(
        files
            .iter()
            .map(|f| f.sha256.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    ));
    Ok(LoadedData {
        train: ImageSet::new(train_x.pixels, train_y),
        test: ImageSet::new(test_x.pixels, test_y),
        provenance: DatasetProvenance {
            name: kind,
            dir: dir.to_path_buf(),
            sha256: combined,
            files,
        },
    })
}

/// Checks the bundled copy against `assets/mnist/SHA256SUMS`, so a damaged checkout is caught
/// before its numbers are trusted.
fn verify_bundled(files: &[FileDigest]) -> Result<(), DataError> {
    let sums_path = bundled_mnist_dir().join("SHA256SUMS");
    let sums = std::fs::read_to_string(&sums_path).map_err(|source| DataError::Io {
        path: sums_path.clone(),
        source,
    })?;
    for file in files {
        let name = file
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let expected = sums
            .lines()
            .filter_map(|line| line.split_once("  "))
            .find(|(_, listed)| *listed == name)
            .map(|(sum, _)| sum.to_string());
        match expected {
            Some(expected) if expected == file.sha256 => {}
            Some(expected) => {
                return Err(DataError::ChecksumMismatch {
                    path: file.path.clone(),
                    found: file.sha256.clone(),
                    expected,
                });
            }
            None => {
                return Err(DataError::ChecksumMismatch {
                    path: file.path.clone(),
                    found: file.sha256.clone(),
                    expected: "an entry in SHA256SUMS".into(),
                });
            }
        }
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let mut file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|source| DataError::Io {
        path: path.into(),
        source,
    })?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    fn write_set(dir: &Path, train: usize, test: usize, gzip: bool) {
        let suffix = if gzip { ".gz" } else { "" };
        let images = |n: usize| {
            (0..n * IMAGE_PIXELS)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<_>>()
        };
        let labels = |n: usize| (0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>();
        idx::write_images(
            &dir.join(format!("{TRAIN_IMAGES}{suffix}")),
            &images(train),
            gzip,
        )
        .unwrap();
        idx::write_labels(
            &dir.join(format!("{TRAIN_LABELS}{suffix}")),
            &labels(train),
            gzip,
        )
        .unwrap();
        idx::write_images(
            &dir.join(format!("{TEST_IMAGES}{suffix}")),
            &images(test),
            gzip,
        )
        .unwrap();
        idx::write_labels(
            &dir.join(format!("{TEST_LABELS}{suffix}")),
            &labels(test),
            gzip,
        )
        .unwrap();
    }

    #[test]
    fn loads_a_folder_of_raw_or_gzipped_files_and_limits_it() {
        for gzip in [true, false] {
            let dir = TempDir::new().unwrap();
            write_set(dir.path(), 12, 5, gzip);
            let data = load(DatasetKind::Mnist, dir.path()).unwrap();
            assert_eq!((data.train.len(), data.test.len()), (12, 5));
            assert_eq!(data.provenance.files.len(), 4);
            let item = data.train.get(3).unwrap();
            assert_eq!(item.label, 3);
            assert_eq!(item.pixels[0], ((3 * IMAGE_PIXELS) % 251) as u8);
            let limited = data.limited(Some(4), Some(100));
            assert_eq!((limited.train.len(), limited.test.len()), (4, 5));
        }
    }

    #[test]
    fn missing_file_names_folder_and_file() {
        let dir = TempDir::new().unwrap();
        write_set(dir.path(), 3, 3, true);
        std::fs::remove_file(dir.path().join(format!("{TEST_LABELS}.gz"))).unwrap();
        let message = load(DatasetKind::Mnist, dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(TEST_LABELS) && message.contains("four IDX files"),
            "{message}"
        );
    }

    #[test]
    fn bundled_mnist_matches_its_checksums() {
        let dir = bundled_mnist_dir();
        let files = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS].map(|name| {
            let path = find_file(&dir, name, DatasetKind::Mnist).unwrap();
            FileDigest {
                sha256: sha256_file(&path).unwrap(),
                path,
            }
        });
        verify_bundled(&files).unwrap();
        let mut tampered = files.clone();
        tampered[1].sha256 = "0".repeat(64);
        assert!(matches!(
            verify_bundled(&tampered),
            Err(DataError::ChecksumMismatch { .. })
        ));
    }
}
