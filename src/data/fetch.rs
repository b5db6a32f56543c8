//! Datasets fetched from where their authors publish them, into the user's cache folder, each
//! file checked against a SHA-256 pinned here before it is kept.
//!
//! Mirrors and packages re-gzip these files (Debian's Fashion-MNIST and bnx's bundled MNIST
//! are byte-for-byte other `.gz` files than the canonical downloads), so where a copy was at
//! hand to compute it from, the pin is the SHA-256 of the *decompressed* IDX bytes: any server
//! that serves the same images in another gzip stream passes. KMNIST had no copy here (no
//! network but package registries), so its pins are the `.gz` files' SHA-256.
//!
//! A file is downloaded into a temporary file next to its final name and renamed only once its
//! checksum matches; on any failure the temporary file is removed, so the cache holds complete,
//! verified files or none.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::datasets::{DatasetKind, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS};

/// Replaces every dataset's base URL: for mirrors, and for tests against a local server.
pub const MIRROR_VAR: &str = "BNX_DATA_MIRROR";
/// No file of these datasets comes near this, gzipped or not; a server sending more is refused.
const MAX_BYTES: u64 = 128 << 20;

/// What a file must hash to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    /// SHA-256 of the decompressed IDX bytes.
    Idx(&'static str),
    /// SHA-256 of the `.gz` file as published.
    Gzip(&'static str),
}

/// Where a dataset is published and what its four files hash to.
pub struct Remote {
    pub base_url: &'static str,
    /// The four IDX files (without `.gz`) and their pins.
    pub files: [(&'static str, Pin); 4],
    /// Where the pins come from, in words.
    pub pinned_from: &'static str,
}

/// The published location and pinned checksums of `kind`.
pub fn remote(kind: DatasetKind) -> Remote {
    match kind {
        // torchvision's mirror of LeCun's files (yann.lecun.com refuses automated downloads).
        DatasetKind::Mnist => Remote {
            base_url: "https://ossci-datasets.s3.amazonaws.com/mnist",
            files: [
                (
                    TRAIN_IMAGES,
                    Pin::Idx("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
                ),
                (
                    TRAIN_LABELS,
                    Pin::Idx("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
                ),
                (
                    TEST_IMAGES,
                    Pin::Idx("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
                ),
                (
                    TEST_LABELS,
                    Pin::Idx("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
                ),
            ],
            pinned_from: "the decompressed IDX files bundled in assets/mnist",
        },
        // Where Keras' fashion_mnist.load_data() downloads them from.
        DatasetKind::FashionMnist => Remote {
            base_url: "https://storage.googleapis.com/tensorflow/tf-keras-datasets",
            files: [
                (
                    TRAIN_IMAGES,
                    Pin::Idx("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
                ),
                (
                    TRAIN_LABELS,
                    Pin::Idx("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
                ),
                (
                    TEST_IMAGES,
                    Pin::Idx("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
                ),
                (
                    TEST_LABELS,
                    Pin::Idx("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
                ),
            ],
            pinned_from: "the decompressed IDX files of Debian's package dataset-fashion-mnist 0.0~git20200523.55506a9-1",
        },
        // The authors' (ROIS-CODH) download folder, as linked from github.com/rois-codh/kmnist.
        DatasetKind::Kmnist => Remote {
            base_url: "http://codh.rois.ac.jp/kmnist/dataset/kmnist",
            files: [
                (
                    TRAIN_IMAGES,
                    Pin::Gzip("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
                ),
                (
                    TRAIN_LABELS,
                    Pin::Gzip("e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
                ),
                (
                    TEST_IMAGES,
                    Pin::Gzip("edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
                ),
                (
                    TEST_LABELS,
                    Pin::Gzip("20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
                ),
            ],
            pinned_from: "the .gz files as torchvision's dataset definitions pin them; the authors publish no checksums, and no copy could be fetched here to pin the decompressed bytes",
        },
    }
}

#[derive(Debug, Error)]
pub enum FetchError {
    #[error("no cache folder: set XDG_CACHE_HOME or HOME, or pass --cache-dir")]
    NoCacheDir,
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{url}: the server answered HTTP {status}")]
    Http { url: String, status: u16 },
    #[error("{url}: cannot download: {message}")]
    Network { url: String, message: String },
    #[error("{url}: the download stopped after {got} of {expected} bytes")]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },
    #[error(
        "{url}: the server sent more than {MAX_BYTES} bytes, more than any file of this dataset"
    )]
    TooLarge { url: String },
    #[error("{url}: {what} SHA-256 is {found}, expected {expected}; the file was not kept")]
    Mismatch {
        url: String,
        what: &'static str,
        found: String,
        expected: String,
    },
    #[error("{url}: not a valid gzip file ({message}); the file was not kept")]
    NotGzip { url: String, message: String },
    #[error(
        "{MIRROR_VAR} is '{value}', which is not an http:// or https:// URL; set it to a mirror's address, or unset it to download from where the dataset is published"
    )]
    BadMirror { value: String },
    /// A download from a mirror failed: the user may have to change the variable.
    #[error(
        "{error} (the address comes from {MIRROR_VAR}; unset it to download from where the dataset is published)"
    )]
    FromMirror { error: Box<FetchError> },
}

/// The cache folder: `explicit`, else `$XDG_CACHE_HOME/bnx`, else `~/.cache/bnx`.
pub fn cache_root(explicit: Option<&Path>) -> Result<PathBuf, FetchError> {
    if let Some(dir) = explicit {
        return Ok(dir.into());
    }
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(cache) = non_empty("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(cache).join("bnx"));
    }
    non_empty("HOME")
        .map(|home| PathBuf::from(home).join(".cache").join("bnx"))
        .ok_or(FetchError::NoCacheDir)
}

/// Where `kind` lives in the cache: `<root>/data/<name>`.
pub fn dataset_dir(root: &Path, kind: DatasetKind) -> PathBuf {
    root.join("data").join(kind.name())
}

/// The cached folder of `kind` if it holds all four files (only verified files are ever renamed
/// into it).
pub fn cached(root: &Path, kind: DatasetKind) -> Option<PathBuf> {
    let dir = dataset_dir(root, kind);
    remote(kind)
        .files
        .iter()
        .all(|(name, _)| dir.join(format!("{name}.gz")).is_file())
        .then_some(dir)
}

/// Where `kind` is downloaded from: [`MIRROR_VAR`] when set, else where it is published.
pub fn source_url(kind: DatasetKind) -> String {
    mirror().unwrap_or_else(|| remote(kind).base_url.into())
}

/// [`MIRROR_VAR`]'s value, when it is set and not empty.
fn mirror() -> Option<String> {
    std::env::var(MIRROR_VAR).ok().filter(|v| !v.is_empty())
}

/// Told how a download goes, to show it.
pub trait Transfer {
    fn start(&mut self, file: &str, total: Option<u64>);
    fn advance(&mut self, bytes: u64);
    fn finish(&mut self);
}

/// Downloads the files of `kind` that the cache lacks (from [`MIRROR_VAR`] if set) and returns
/// the folder. Nothing unverified is ever left in it.
pub fn fetch(
    kind: DatasetKind,
    root: &Path,
    transfer: &mut dyn Transfer,
) -> Result<PathBuf, FetchError> {
    let remote = remote(kind);
    // A mirror that is no URL at all is named here, not as a download's failure.
    if let Some(value) = mirror()
        && !(value.starts_with("http://") || value.starts_with("https://"))
    {
        return Err(FetchError::BadMirror { value });
    }
    let base = source_url(kind);
    let dir = dataset_dir(root, kind);
    let existed = dir.is_dir();
    std::fs::create_dir_all(&dir).map_err(|source| FetchError::Write {
        path: dir.clone(),
        source,
    })?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(120)))
        .build()
        .into();
    for (name, pin) in remote.files {
        let target = dir.join(format!("{name}.gz"));
        if target.is_file() {
            continue;
        }
        let url = format!("{}/{name}.gz", base.trim_end_matches('/'));
        let downloaded = download(&agent, &url, &target, pin, transfer).map_err(|error| {
            match (&error, mirror().is_some()) {
                (FetchError::Http { .. } | FetchError::Network { .. }, true) => {
                    FetchError::FromMirror {
                        error: Box::new(error),
                    }
                }
                _ => error,
            }
        });
        if let Err(error) = downloaded {
            if !existed {
                // Only removes the folder if nothing (no earlier verified file) is in it.
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(error);
        }
    }
    Ok(dir)
}

/// One file: streamed to a temporary file beside `target`, checked, then renamed to `target`.
fn download(
    agent: &ureq::Agent,
    url: &str,
    target: &Path,
    pin: Pin,
    transfer: &mut dyn Transfer,
) -> Result<(), FetchError> {
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(status) => FetchError::Http {
            url: url.into(),
            status,
        },
        other => FetchError::Network {
            url: url.into(),
            message: other.to_string(),
        },
    })?;
    let expected = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let dir = target.parent().expect("a file in the dataset folder");
    let write = |source| FetchError::Write {
        path: dir.into(),
        source,
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(write)?;
    let mut body = response
        .into_body()
        .into_with_config()
        .limit(MAX_BYTES + 1)
        .reader();
    transfer.start(
        target.file_name().and_then(|n| n.to_str()).unwrap_or(""),
        expected,
    );
    let streamed = stream(&mut body, file.as_file_mut(), url, expected, transfer);
    transfer.finish();
    let (got, gzip_digest) = streamed.map_err(|e| e.in_dir(dir))?;
    if let Some(expected) = expected
        && got != expected
    {
        return Err(FetchError::Truncated {
            url: url.into(),
            got,
            expected,
        });
    }
    match pin {
        Pin::Gzip(expected) => check(url, "the .gz file's", gzip_digest, expected)?,
        Pin::Idx(expected) => {
            let reopened = file.reopen().map_err(write)?;
            let found = idx_digest(reopened).map_err(|message| FetchError::NotGzip {
                url: url.into(),
                message,
            })?;
            check(url, "its decompressed IDX bytes'", found, expected)?;
        }
    }
    // Shared data: tempfile creates 0600, a plain download would give 0644.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(write)?;
    }
    file.as_file().sync_all().map_err(write)?;
    file.persist(target).map_err(|e| write(e.error))?;
    Ok(())
}

/// Why streaming a body stopped: the network, its size, or the file it was written to (whose
/// folder the caller names).
enum StreamError {
    Fetch(FetchError),
    Write(std::io::Error),
}

impl StreamError {
    fn in_dir(self, dir: &Path) -> FetchError {
        match self {
            Self::Fetch(error) => error,
            Self::Write(source) => FetchError::Write {
                path: dir.into(),
                source,
            },
        }
    }
}

/// Copies `body` into `file`, at most [`MAX_BYTES`], telling `transfer`: the bytes copied and
/// their SHA-256. A body cut short of its Content-Length (`expected`) ends without an error
/// here; the caller compares the count.
fn stream(
    body: &mut impl Read,
    file: &mut std::fs::File,
    url: &str,
    expected: Option<u64>,
    transfer: &mut dyn Transfer,
) -> Result<(u64, String), StreamError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        let read = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            // A body cut short of its Content-Length reads as an error here.
            Err(_) if expected.is_some_and(|e| got < e) => break,
            Err(e) => {
                return Err(StreamError::Fetch(FetchError::Network {
                    url: url.into(),
                    message: e.to_string(),
                }));
            }
        };
        got += read as u64;
        if got > MAX_BYTES {
            return Err(StreamError::Fetch(FetchError::TooLarge { url: url.into() }));
        }
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read])
            .map_err(StreamError::Write)?;
        transfer.advance(read as u64);
    }
    Ok((got, hex(&hasher.finalize())))
}

fn check(url: &str, what: &'static str, found: String, expected: &str) -> Result<(), FetchError> {
    if found == expected {
        Ok(())
    } else {
        Err(FetchError::Mismatch {
            url: url.into(),
            what,
            found,
            expected: expected.into(),
        })
    }
}

/// SHA-256 of the IDX bytes inside a gzip stream, reading at most `MAX_BYTES` of them.
fn idx_digest(gz: impl Read) -> Result<String, String> {
    let mut decoder = GzDecoder::new(gz).take(MAX_BYTES + 1);
    let mut hasher = Sha256::new();
    let copied = std::io::copy(&mut decoder, &mut hasher).map_err(|e| e.to_string())?;
    if copied > MAX_BYTES {
        return Err(format!("it decompresses to more than {MAX_BYTES} bytes"));
    }
    Ok(hex(&hasher.finalize()))
}

/// Whether the files of `kind` in `dir` still match their pins: one line per file.
pub fn verify(kind: DatasetKind, dir: &Path) -> Vec<(String, Result<(), String>)> {
    remote(kind)
        .files
        .iter()
        .map(|(name, pin)| {
            let file = format!("{name}.gz");
            let path = dir.join(&file);
            let result = std::fs::File::open(&path)
                .map_err(|e| e.to_string())
                .and_then(|f| match pin {
                    Pin::Idx(expected) => idx_digest(f).and_then(|found| same(found, expected)),
                    Pin::Gzip(expected) => {
                        let mut hasher = Sha256::new();
                        std::io::copy(&mut std::io::BufReader::new(f), &mut hasher)
                            .map_err(|e| e.to_string())?;
                        same(hex(&hasher.finalize()), expected)
                    }
                });
            (file, result)
        })
        .collect()
}

fn same(found: String, expected: &str) -> Result<(), String> {
    (found == expected)
        .then_some(())
        .ok_or_else(|| format!("SHA-256 {found}, expected {expected}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_mnist_matches_its_pins() {
        let dir = super::super::datasets::bundled_mnist_dir();
        for (file, result) in verify(DatasetKind::Mnist, &dir) {
            assert_eq!(result, Ok(()), "{file}");
        }
    }

    #[test]
    fn every_dataset_is_pinned_in_full() {
        for kind in DatasetKind::ALL {
            let remote = remote(kind);
            for (_, pin) in remote.files {
                let (Pin::Idx(hash) | Pin::Gzip(hash)) = pin;
                assert_eq!(hash.len(), 64);
                assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
            }
            assert!(remote.base_url.starts_with("http"));
        }
    }

    #[test]
    fn cache_folder_follows_xdg_then_home() {
        assert_eq!(
            cache_root(Some(Path::new("/x"))).unwrap(),
            PathBuf::from("/x")
        );
        assert_eq!(
            dataset_dir(Path::new("/c/bnx"), DatasetKind::FashionMnist),
            PathBuf::from("/c/bnx/data/fashion-mnist")
        );
    }

    #[test]
    fn a_gzip_stream_is_hashed_by_its_content() {
        let content = b"IDX bytes";
        let mut fast = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        fast.write_all(content).unwrap();
        let mut best = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        best.write_all(content).unwrap();
        best.write_all(b"").unwrap();
        let (fast, best) = (fast.finish().unwrap(), best.finish().unwrap());
        assert_eq!(
            idx_digest(&fast[..]).unwrap(),
            hex(&Sha256::digest(content))
        );
        assert_eq!(idx_digest(&fast[..]), idx_digest(&best[..]));
        assert!(idx_digest(&b"not gzip"[..]).is_err());
    }
}
