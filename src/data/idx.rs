//! Reading and writing IDX files (the MNIST format), gzipped or raw.
//!
//! Every check names the file and what was expected. Nothing here trusts the
//! header: the payload is read with a limit of what the header declares plus
//! one byte, so a header claiming 2^31 images in a small file fills only what
//! the file really holds (it reserves at most `MAX_RESERVED` bytes of address
//! space up front, of which only the bytes read are ever touched).

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use thiserror::Error;

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// MNIST and Fashion-MNIST images are 28×28.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in one image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Ten classes, labelled 0 to 9.
pub const NUM_CLASSES: usize = 10;

#[derive(Debug, Error)]
pub enum IdxError {
    #[error("cannot read {path}")]
    Io { path: PathBuf, source: io::Error },

    #[error("{path}: not a valid gzip stream (expected an IDX file, raw or gzipped)")]
    Gzip { path: PathBuf, source: io::Error },

    #[error("{path}: file is {found} bytes long, too short for the {expected}-byte IDX header")]
    ShortHeader {
        path: PathBuf,
        found: usize,
        expected: usize,
    },

    #[error(
        "{path}: magic number is {found:#010x}, expected {expected:#010x} ({what}); is this the right file?"
    )]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        what: &'static str,
    },

    #[error("{path}: images are {rows}×{cols} pixels, expected {IMAGE_SIDE}×{IMAGE_SIDE}")]
    BadImageSize {
        path: PathBuf,
        rows: usize,
        cols: usize,
    },

    #[error("{path}: header declares 0 samples, expected at least one")]
    Empty { path: PathBuf },

    #[error(
        "{path}: header declares {declared} bytes of data but the file holds only {found}; the file is truncated"
    )]
    Truncated {
        path: PathBuf,
        declared: u64,
        found: u64,
    },

    #[error(
        "{path}: file holds more data than the {declared} bytes its header declares; the file is corrupt"
    )]
    TrailingData { path: PathBuf, declared: u64 },

    #[error("{path}: label {label} at index {index} is outside 0–9")]
    BadLabel {
        path: PathBuf,
        index: usize,
        label: u8,
    },

    #[error(
        "{images} holds {image_count} images but {labels} holds {label_count} labels; the counts must match"
    )]
    CountMismatch {
        images: PathBuf,
        image_count: usize,
        labels: PathBuf,
        label_count: usize,
    },
}

/// Images of one IDX file, row-major, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub pixels: Vec<u8>,
}

/// Reads an IDX image file (magic 2051), gzipped or raw.
pub fn read_images(path: &Path) -> Result<IdxImages, IdxError> {
    let mut reader = open(path)?;
    let header = read_header(&mut reader, path, 16, IMAGES_MAGIC, "IDX images, 2051")?;
    let count = be_u32(&header[4..8]) as usize;
    let rows = be_u32(&header[8..12]) as usize;
    let cols = be_u32(&header[12..16]) as usize;
    if rows != IMAGE_SIDE || cols != IMAGE_SIDE {
        return Err(IdxError::BadImageSize {
            path: path.into(),
            rows,
            cols,
        });
    }
    if count == 0 {
        return Err(IdxError::Empty { path: path.into() });
    }
    let declared = count as u64 * IMAGE_PIXELS as u64;
    let pixels = read_payload(&mut reader, path, declared)?;
    Ok(IdxImages { count, pixels })
}

/// Reads an IDX label file (magic 2049), gzipped or raw; every label must be 0–9.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, IdxError> {
    let mut reader = open(path)?;
    let header = read_header(&mut reader, path, 8, LABELS_MAGIC, "IDX labels, 2049")?;
    let count = be_u32(&header[4..8]) as u64;
    if count == 0 {
        return Err(IdxError::Empty { path: path.into() });
    }
    let labels = read_payload(&mut reader, path, count)?;
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= NUM_CLASSES)
    {
        return Err(IdxError::BadLabel {
            path: path.into(),
            index,
            label,
        });
    }
    Ok(labels)
}

/// Reads an image file and its label file and checks that their counts agree.
pub fn read_pair(images: &Path, labels: &Path) -> Result<(IdxImages, Vec<u8>), IdxError> {
    let image_data = read_images(images)?;
    let label_data = read_labels(labels)?;
    if image_data.count != label_data.len() {
        return Err(IdxError::CountMismatch {
            images: images.into(),
            image_count: image_data.count,
            labels: labels.into(),
            label_count: label_data.len(),
        });
    }
    Ok((image_data, label_data))
}

/// Writes 28×28 images as an IDX file, gzipped when `gzip` is set.
pub fn write_images(path: &Path, pixels: &[u8], gzip: bool) -> io::Result<()> {
    assert_eq!(
        pixels.len() % IMAGE_PIXELS,
        0,
        "pixels must hold whole 28×28 images"
    );
    let count = (pixels.len() / IMAGE_PIXELS) as u32;
    let mut bytes = Vec::with_capacity(16 + pixels.len());
    for word in [IMAGES_MAGIC, count, IMAGE_SIDE as u32, IMAGE_SIDE as u32] {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    write_maybe_gzipped(path, &bytes, gzip)
}

/// Writes labels as an IDX file, gzipped when `gzip` is set.
pub fn write_labels(path: &Path, labels: &[u8], gzip: bool) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(8 + labels.len());
    bytes.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    write_maybe_gzipped(path, &bytes, gzip)
}

fn write_maybe_gzipped(path: &Path, bytes: &[u8], gzip: bool) -> io::Result<()> {
    let file = File::create(path)?;
    if gzip {
        let mut encoder = GzEncoder::new(file, Compression::fast());
        encoder.write_all(bytes)?;
        encoder.finish()?.sync_all()
    } else {
        let mut file = file;
        file.write_all(bytes)?;
        file.sync_all()
    }
}

/// Opens a file and, when it starts with the gzip signature, decompresses it on the fly.
fn open(path: &Path) -> Result<IdxReader, IdxError> {
    let io_error = |source| IdxError::Io {
        path: path.into(),
        source,
    };
    let mut file = BufReader::new(File::open(path).map_err(io_error)?);
    let mut signature = [0u8; 2];
    let peeked = read_up_to(&mut file, &mut signature).map_err(io_error)?;
    let prefix = io::Cursor::new(signature[..peeked].to_vec());
    let chained = prefix.chain(file);
    Ok(if peeked == 2 && signature == [0x1f, 0x8b] {
        IdxReader {
            inner: Box::new(GzDecoder::new(chained)),
            gzip: true,
        }
    } else {
        IdxReader {
            inner: Box::new(chained),
            gzip: false,
        }
    })
}

struct IdxReader {
    inner: Box<dyn Read>,
    gzip: bool,
}

impl IdxReader {
    fn error(&self, path: &Path, source: io::Error) -> IdxError {
        if self.gzip && source.kind() != io::ErrorKind::NotFound {
            IdxError::Gzip {
                path: path.into(),
                source,
            }
        } else {
            IdxError::Io {
                path: path.into(),
                source,
            }
        }
    }
}

/// Reads a `len`-byte header, checking the magic number first: a wrong file is named as
/// such even when it is shorter than the header it was mistaken for.
fn read_header(
    reader: &mut IdxReader,
    path: &Path,
    len: usize,
    magic: u32,
    what: &'static str,
) -> Result<Vec<u8>, IdxError> {
    let mut header = vec![0u8; len];
    let found = read_up_to(&mut reader.inner, &mut header).map_err(|e| reader.error(path, e))?;
    if found >= 4 {
        check_magic(path, &header, magic, what)?;
    }
    if found < len {
        return Err(IdxError::ShortHeader {
            path: path.into(),
            found,
            expected: len,
        });
    }
    Ok(header)
}

/// The most a header's declared size reserves before a byte is read: MNIST's and
/// Fashion-MNIST's training images (47 MB) fit, so they are read without the copies
/// a growing buffer makes; a larger file still reads, growing as it goes.
const MAX_RESERVED: u64 = 1 << 26;

fn read_payload(reader: &mut IdxReader, path: &Path, declared: u64) -> Result<Vec<u8>, IdxError> {
    // One byte more than declared, so trailing data is seen without a second buffer.
    let mut payload = Vec::with_capacity(declared.saturating_add(1).min(MAX_RESERVED) as usize);
    (&mut reader.inner)
        .take(declared.saturating_add(1))
        .read_to_end(&mut payload)
        .map_err(|e| reader.error(path, e))?;
    let found = payload.len() as u64;
    if found < declared {
        return Err(IdxError::Truncated {
            path: path.into(),
            declared,
            found,
        });
    }
    if found > declared {
        return Err(IdxError::TrailingData {
            path: path.into(),
            declared,
        });
    }
    Ok(payload)
}

fn check_magic(
    path: &Path,
    header: &[u8],
    expected: u32,
    what: &'static str,
) -> Result<(), IdxError> {
    let found = be_u32(&header[0..4]);
    if found != expected {
        return Err(IdxError::BadMagic {
            path: path.into(),
            found,
            expected,
            what,
        });
    }
    Ok(())
}

/// Like `read_exact`, but reports how much was there instead of failing on a short read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    fn sample_images(count: usize) -> Vec<u8> {
        (0..count * IMAGE_PIXELS)
            .map(|i| (i * 7 % 256) as u8)
            .collect()
    }

    fn raw_file(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn header(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_be_bytes()).collect()
    }

    #[test]
    fn round_trips_gzipped_and_raw() {
        let dir = TempDir::new().unwrap();
        let pixels = sample_images(3);
        let labels = vec![0, 9, 4];
        for gzip in [true, false] {
            let images_path = dir.path().join(format!("images-{gzip}"));
            let labels_path = dir.path().join(format!("labels-{gzip}"));
            write_images(&images_path, &pixels, gzip).unwrap();
            write_labels(&labels_path, &labels, gzip).unwrap();
            let (images, read_labels) = read_pair(&images_path, &labels_path).unwrap();
            assert_eq!(images.count, 3);
            assert_eq!(images.pixels, pixels);
            assert_eq!(read_labels, labels);
        }
    }

    #[test]
    fn wrong_magic_is_named() {
        let dir = TempDir::new().unwrap();
        let labels = dir.path().join("labels");
        write_labels(&labels, &[1, 2], true).unwrap();
        let err = read_images(&labels).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::BadMagic {
                    found: LABELS_MAGIC,
                    ..
                }
            ),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("labels") && message.contains("0x00000803"),
            "{message}"
        );
    }

    #[test]
    fn truncated_payload_is_reported() {
        let dir = TempDir::new().unwrap();
        let mut bytes = header(&[IMAGES_MAGIC, 2, 28, 28]);
        bytes.extend(vec![0u8; IMAGE_PIXELS + 10]);
        let path = raw_file(&dir, "short", &bytes);
        let err = read_images(&path).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::Truncated {
                    declared: 1568,
                    found: 794,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let dir = TempDir::new().unwrap();
        let mut bytes = header(&[LABELS_MAGIC, 2]);
        bytes.extend([1, 2, 3]);
        let path = raw_file(&dir, "long", &bytes);
        assert!(matches!(
            read_labels(&path).unwrap_err(),
            IdxError::TrailingData { declared: 2, .. }
        ));
    }

    #[test]
    fn huge_declared_count_in_small_file_fails_without_allocating_it() {
        let dir = TempDir::new().unwrap();
        let mut bytes = header(&[IMAGES_MAGIC, 1 << 31, 28, 28]);
        bytes.extend(vec![0u8; 100]);
        let path = raw_file(&dir, "liar", &bytes);
        let err = read_images(&path).unwrap_err();
        assert!(
            matches!(err, IdxError::Truncated { found: 100, .. }),
            "{err}"
        );
    }

    #[test]
    fn short_header_is_reported() {
        let dir = TempDir::new().unwrap();
        let path = raw_file(&dir, "tiny", &[0, 0, 8]);
        assert!(matches!(
            read_images(&path).unwrap_err(),
            IdxError::ShortHeader {
                found: 3,
                expected: 16,
                ..
            }
        ));
    }

    #[test]
    fn image_size_other_than_28_is_rejected() {
        let dir = TempDir::new().unwrap();
        let mut bytes = header(&[IMAGES_MAGIC, 1, 32, 32]);
        bytes.extend(vec![0u8; 32 * 32]);
        let path = raw_file(&dir, "cifar-ish", &bytes);
        assert!(matches!(
            read_images(&path).unwrap_err(),
            IdxError::BadImageSize {
                rows: 32,
                cols: 32,
                ..
            }
        ));
    }

    #[test]
    fn labels_outside_0_to_9_are_rejected() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("labels.gz");
        write_labels(&path, &[3, 7, 12], true).unwrap();
        let err = read_labels(&path).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::BadLabel {
                    index: 2,
                    label: 12,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn empty_files_are_rejected() {
        let dir = TempDir::new().unwrap();
        let path = raw_file(&dir, "none", &header(&[LABELS_MAGIC, 0]));
        assert!(matches!(
            read_labels(&path).unwrap_err(),
            IdxError::Empty { .. }
        ));
    }

    #[test]
    fn image_and_label_counts_must_match() {
        let dir = TempDir::new().unwrap();
        let images = dir.path().join("images");
        let labels = dir.path().join("labels");
        write_images(&images, &sample_images(2), false).unwrap();
        write_labels(&labels, &[1, 2, 3], false).unwrap();
        let err = read_pair(&images, &labels).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::CountMismatch {
                    image_count: 2,
                    label_count: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn corrupt_gzip_is_reported_as_such() {
        let dir = TempDir::new().unwrap();
        let good = dir.path().join("good.gz");
        write_images(&good, &sample_images(2), true).unwrap();
        let mut bytes = std::fs::read(&good).unwrap();
        let middle = bytes.len() / 2;
        bytes.truncate(middle);
        let path = raw_file(&dir, "cut.gz", &bytes);
        let err = read_images(&path).unwrap_err();
        assert!(
            matches!(err, IdxError::Gzip { .. } | IdxError::Truncated { .. }),
            "{err}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_labels(Path::new("/nonexistent/labels.gz")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/labels.gz"));
    }
}
