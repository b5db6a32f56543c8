//! TensorBoard event files: one run folder per trained network, so `tensorboard --logdir DIR`
//! shows a comparison's variants (and seeds) side by side.
//!
//! Written by hand rather than with a crate: the Rust writers are unmaintained (tensorboard-rs:
//! last release 2022) or need `protoc` at build time (tboard), and the format is small. A file is
//! a sequence of TFRecords (u64 length, masked CRC-32C of the length, the bytes, masked CRC-32C
//! of the bytes), each holding one `Event` protobuf: wall time (field 1, double), step (field 2,
//! int64) and either the file version (field 3) or a `Summary` (field 5) of one `Value` with a
//! tag (1) and a simple float value (2). `scripts/check_tensorboard.py` reads the files back
//! with TensorBoard's own reader in the test suite.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::runtime::{FileError, write_atomic};
use crate::train::{EpochMetrics, Hook, TrainError, Trainer};

/// The file every run folder gets; TensorBoard reads any file whose name contains "tfevents".
/// One fixed name, rewritten whole, so a run trained again replaces its curves.
pub const EVENTS_FILE: &str = "events.out.tfevents.bnx";

/// Where event files go, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct TensorBoardOptions {
    /// The log folder; `None` writes no event files.
    pub dir: Option<PathBuf>,
    /// Also record every step's training loss (`loss/train_step`).
    pub steps: bool,
}

impl TensorBoardOptions {
    /// The hook that writes run `run` (a folder under the log folder), if event files are asked for.
    pub fn hook(&self, run: &str) -> Option<TensorBoardHook> {
        self.dir.as_ref().map(|dir| TensorBoardHook {
            events: EventFile::new(&dir.join(run)),
            steps: self.steps,
            steps_done: 0,
        })
    }
}

/// An event file kept in memory and written atomically on `save`.
pub struct EventFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl EventFile {
    pub fn new(dir: &Path) -> Self {
        let mut file = Self {
            path: dir.join(EVENTS_FILE),
            bytes: Vec::new(),
        };
        let mut event = Vec::new();
        put_double(&mut event, 1, wall_time());
        put_bytes(&mut event, 3, b"brain.Event:2");
        file.bytes.extend(record(&event));
        file
    }

    /// Adds one scalar point.
    pub fn scalar(&mut self, tag: &str, step: i64, value: f32) {
        let mut value_message = Vec::new();
        put_bytes(&mut value_message, 1, tag.as_bytes());
        put_key(&mut value_message, 2, 5);
        value_message.extend(value.to_le_bytes());
        let mut summary = Vec::new();
        put_bytes(&mut summary, 1, &value_message);
        let mut event = Vec::new();
        put_double(&mut event, 1, wall_time());
        put_key(&mut event, 2, 0);
        put_varint(&mut event, step as u64);
        put_bytes(&mut event, 5, &summary);
        self.bytes.extend(record(&event));
    }

    pub fn save(&self) -> Result<(), FileError> {
        write_atomic(&self.path, &self.bytes)
    }
}

/// Writes a run's curves: `loss/train`, `loss/val`, `accuracy/train`, `accuracy/val` (accuracy
/// as a fraction, as Keras' TensorBoard callback logs it) at each epoch, and with `steps` the
/// training loss of every step; the file is rewritten after every epoch.
pub struct TensorBoardHook {
    events: EventFile,
    steps: bool,
    steps_done: i64,
}

impl Hook for TensorBoardHook {
    /// The file is rewritten whole, so a resumed run logs the completed epochs again (exactly, from
    /// the saved state); the per-step losses before the resume are not kept in that state.
    fn on_resume(&mut self, completed: &[EpochMetrics], steps_done: usize) {
        for metrics in completed {
            self.log_epoch(metrics);
        }
        self.steps_done = steps_done as i64;
    }

    fn on_readback(&mut self, losses: &[f32]) {
        for &loss in losses {
            self.steps_done += 1;
            if self.steps {
                self.events.scalar("loss/train_step", self.steps_done, loss);
            }
        }
    }

    fn on_epoch(
        &mut self,
        _trainer: &mut Trainer,
        metrics: &EpochMetrics,
        _steps_done: usize,
    ) -> Result<(), TrainError> {
        self.log_epoch(metrics);
        Ok(self.events.save()?)
    }
}

impl TensorBoardHook {
    fn log_epoch(&mut self, metrics: &EpochMetrics) {
        let step = metrics.epoch as i64;
        for (tag, value) in [
            ("loss/train", metrics.train_loss),
            ("loss/val", metrics.val_loss),
            ("accuracy/train", metrics.train_acc),
            ("accuracy/val", metrics.val_acc),
        ] {
            self.events.scalar(tag, step, value as f32);
        }
    }
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_key(out: &mut Vec<u8>, field: u64, wire_type: u64) {
    put_varint(out, (field << 3) | wire_type);
}

fn put_double(out: &mut Vec<u8>, field: u64, value: f64) {
    put_key(out, field, 1);
    out.extend(value.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
fn record(data: &[u8]) -> Vec<u8> {
    let length = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend(length);
    out.extend(masked_crc32c(&length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend(masked_crc32c(data).to_le_bytes());
    out
}

fn masked_crc32c(bytes: &[u8]) -> u32 {
    let crc = crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// CRC-32C (Castagnoli), bit by bit: event files are small, so no table is needed.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_values() {
        // RFC 3720 (iSCSI), appendix B.4, and the common "123456789" check value.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
    }

    #[test]
    fn records_frame_their_data_with_checksums() {
        let framed = record(b"abc");
        assert_eq!(&framed[..8], &3u64.to_le_bytes());
        assert_eq!(&framed[12..15], b"abc");
        assert_eq!(
            u32::from_le_bytes(framed[15..19].try_into().unwrap()),
            masked_crc32c(b"abc")
        );
        assert_eq!(framed.len(), 3 + 16);
    }

    #[test]
    fn a_scalar_event_is_the_protobuf_tensorboard_reads() {
        let mut file = EventFile::new(Path::new("/unused"));
        let before = file.bytes.len();
        file.scalar("loss/val", 300, 0.5);
        let data = &file.bytes[before + 12..file.bytes.len() - 4];
        // wall_time: key 0x09 and 8 bytes; then step 300 as a varint; then the summary.
        assert_eq!(data[0], 0x09);
        assert_eq!(&data[9..12], &[0x10, 0xac, 0x02]);
        let summary = [
            &[0x2a, 17, 0x0a, 15, 0x0a, 8][..],
            b"loss/val",
            &[0x15],
            &0.5f32.to_le_bytes(),
        ]
        .concat();
        assert_eq!(&data[12..], &summary[..]);
    }

    #[test]
    fn a_resumed_run_logs_its_completed_epochs_again_and_counts_steps_on() {
        let options = TensorBoardOptions {
            dir: Some("/unused".into()),
            steps: true,
        };
        let mut hook = options.hook("mlp").unwrap();
        let epoch = |epoch| EpochMetrics {
            epoch,
            train_loss: 0.5,
            train_acc: 0.9,
            val_loss: 0.25,
            val_acc: 0.95,
            seconds: 1.0,
        };
        hook.on_resume(&[epoch(1), epoch(2)], 64);
        hook.on_readback(&[0.125]);
        let bytes = &hook.events.bytes;
        let count = |tag: &[u8]| bytes.windows(tag.len()).filter(|w| *w == tag).count();
        assert_eq!(count(b"loss/val"), 2);
        assert_eq!(count(b"accuracy/train"), 2);
        assert_eq!(hook.steps_done, 65);
    }
}
