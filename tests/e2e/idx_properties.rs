//! Property tests of the IDX reader, raw and gzipped: whatever bytes a file holds — random
//! bytes, a valid file cut short, a valid file with a bit flipped — reading it never panics, and
//! what it returns is either the reader's error or data no larger than the file could hold.

use std::io::Write;
use std::path::Path;

use bnx::data::idx::{IMAGE_PIXELS, read_images, read_labels, write_images, write_labels};
use proptest::prelude::*;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A valid file's bytes: `count` images (or labels) as `write_images` (`write_labels`) writes them.
fn valid(count: usize, images: bool, gzipped: bool) -> Vec<u8> {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("f");
    if images {
        let pixels: Vec<u8> = (0..count * IMAGE_PIXELS).map(|i| (i * 7) as u8).collect();
        write_images(&path, &pixels, gzipped).unwrap();
    } else {
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        write_labels(&path, &labels, gzipped).unwrap();
    }
    std::fs::read(&path).unwrap()
}

/// Reads `bytes` as an image file and as a label file; checks what comes back.
fn read_both(bytes: &[u8]) {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).unwrap();
    let limit = decompressed_len(&path, bytes);
    if let Ok(images) = read_images(&path) {
        assert_eq!(images.pixels.len(), images.count * IMAGE_PIXELS);
        assert!(images.pixels.len() as u64 <= limit);
    }
    if let Ok(labels) = read_labels(&path) {
        assert!(labels.len() as u64 <= limit);
        assert!(labels.iter().all(|&l| l < 10));
    }
}

/// How many bytes the file holds once decompressed (or as it is, if it is not gzip).
fn decompressed_len(path: &Path, bytes: &[u8]) -> u64 {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut decoder = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
        let mut sink = std::io::sink();
        // A corrupt stream counts what decoded before the error.
        let mut counted = 0u64;
        let mut buffer = [0u8; 8192];
        loop {
            match std::io::Read::read(&mut decoder, &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    counted += n as u64;
                    sink.write_all(&buffer[..n]).unwrap();
                }
            }
        }
        counted
    } else {
        bytes.len() as u64
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        read_both(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_never_panic(
        images in any::<bool>(),
        count in any::<u32>(),
        tail in proptest::collection::vec(any::<u8>(), 0..4096),
        gzipped in any::<bool>(),
    ) {
        // A header that may claim up to 2^32 − 1 samples in front of a few bytes.
        let mut bytes = Vec::new();
        let magic: u32 = if images { 0x803 } else { 0x801 };
        bytes.extend_from_slice(&magic.to_be_bytes());
        bytes.extend_from_slice(&count.to_be_bytes());
        if images {
            bytes.extend_from_slice(&28u32.to_be_bytes());
            bytes.extend_from_slice(&28u32.to_be_bytes());
        }
        bytes.extend_from_slice(&tail);
        read_both(&if gzipped { gzip(&bytes) } else { bytes });
    }

    #[test]
    fn truncated_files_fail_cleanly(
        count in 1usize..4,
        images in any::<bool>(),
        gzipped in any::<bool>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = valid(count, images, gzipped);
        let cut = cut.index(bytes.len());
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &bytes[..cut]).unwrap();
        // Shorter than a valid file: never read as one.
        prop_assert!(read_images(&path).is_err() && read_labels(&path).is_err());
        read_both(&bytes[..cut]);
    }

    #[test]
    fn flipped_bits_never_panic(
        count in 1usize..4,
        images in any::<bool>(),
        gzipped in any::<bool>(),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut bytes = valid(count, images, gzipped);
        let at = at.index(bytes.len());
        bytes[at] ^= 1 << bit;
        read_both(&bytes);
    }
}

#[test]
fn valid_files_read_back() {
    for gzipped in [false, true] {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, valid(3, true, gzipped)).unwrap();
        assert_eq!(read_images(&path).unwrap().count, 3);
        std::fs::write(&path, valid(3, false, gzipped)).unwrap();
        assert_eq!(read_labels(&path).unwrap().len(), 3);
    }
}
