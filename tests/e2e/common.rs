//! What the end-to-end tests share: tiny real-format data, the binary, and readers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bnx::data::idx::{IMAGE_PIXELS, write_images, write_labels};
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

/// Class k lights rows 2k+4 and 2k+5: separable, so two epochs already learn something.
pub fn tiny_dataset(dir: &Path, train: usize, test: usize) {
    let make = |count: usize, offset: usize| {
        let mut pixels = vec![0u8; count * IMAGE_PIXELS];
        let labels: Vec<u8> = (0..count).map(|i| ((i + offset) % 10) as u8).collect();
        for (i, &class) in labels.iter().enumerate() {
            for row in [2 * class as usize + 4, 2 * class as usize + 5] {
                for col in 4..24 {
                    pixels[i * IMAGE_PIXELS + row * 28 + col] = 180 + ((i + col) % 70) as u8;
                }
            }
        }
        (pixels, labels)
    };
    let (train_x, train_y) = make(train, 0);
    let (test_x, test_y) = make(test, 7);
    write_images(&dir.join("train-images-idx3-ubyte.gz"), &train_x, true).unwrap();
    write_labels(&dir.join("train-labels-idx1-ubyte.gz"), &train_y, true).unwrap();
    // Raw (not gzipped) test files: both forms are accepted.
    write_images(&dir.join("t10k-images-idx3-ubyte"), &test_x, false).unwrap();
    write_labels(&dir.join("t10k-labels-idx1-ubyte"), &test_y, false).unwrap();
}

pub struct Fixture {
    pub _tmp: TempDir,
    pub data: PathBuf,
    pub out: PathBuf,
}

pub fn fixture() -> Fixture {
    fixture_with(96, 40)
}

/// A fixture with `train` training and `test` test samples.
pub fn fixture_with(train: usize, test: usize) -> Fixture {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    tiny_dataset(&data, train, test);
    let out = tmp.path().join("out");
    Fixture {
        _tmp: tmp,
        data,
        out,
    }
}

pub fn bnx() -> Command {
    Command::cargo_bin("bnx").unwrap()
}

impl Fixture {
    /// `bnx ARGS --data-dir <tiny data> --out OUT`.
    pub fn bnx(&self, args: &[&str], out: &Path) -> Command {
        let mut command = bnx();
        command
            .args(args)
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--out")
            .arg(out);
        command
    }
}

pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn png_size(path: &Path) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    (info.width, info.height)
}

/// A user error's stderr: one sentence starting "error: ", never a panic, a backtrace or bnx's
/// "internal error" (a panic caught by main). Pair it with `.code(1)`: a panic exits with 70
/// (bnx::INTERNAL_ERROR_EXIT_CODE), so a test that expects a user error fails on one twice over.
pub fn clean_error() -> impl Predicate<str> {
    predicate::str::starts_with("error: ")
        .and(predicate::str::contains("panicked").not())
        .and(predicate::str::contains("backtrace").not())
        .and(predicate::str::contains("internal error").not())
}
