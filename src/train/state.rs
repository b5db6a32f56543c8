//! What a run needs to continue exactly where it stopped: the model with its BatchNorm running
//! statistics, Adam's moments and step counts, the completed epochs and the number of steps
//! taken (the data order follows from the epoch count). [`SaveState`] writes it after every
//! epoch as one file, so model, optimizer and epoch counter are always replaced together by
//! one atomic rename: a kill at any moment leaves either the previous epoch's state or this one's.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::epoch::EpochMetrics;
use super::error::TrainError;
use crate::runtime::FileError;

/// The resumable state of a run folder; removed when the run completes.
pub const STATE_FILE: &str = "resume.state";

/// Identifies the format; a file that does not start with it is not a bnx training state.
const MAGIC: &[u8; 10] = b"bnx-state\n";

/// A run's position: everything but the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateHeader {
    /// Resuming under another bnx version could not promise the same numbers.
    pub bnx_version: String,
    /// SHA-256 of the resolved settings the run was started with (`ExperimentConfig::settings_hash`).
    pub settings_hash: String,
    pub steps_done: usize,
    /// The completed epochs, each field as its `f64` bits: resumed metrics must equal an
    /// uninterrupted run's to the last bit, and JSON text need not read back to the same bits.
    epochs: Vec<[u64; 6]>,
}

impl StateHeader {
    pub fn new(settings_hash: String, steps_done: usize, epochs: &[EpochMetrics]) -> Self {
        Self {
            bnx_version: env!("CARGO_PKG_VERSION").into(),
            settings_hash,
            steps_done,
            epochs: epochs
                .iter()
                .map(|e| {
                    [
                        e.epoch as u64,
                        e.train_loss.to_bits(),
                        e.train_acc.to_bits(),
                        e.val_loss.to_bits(),
                        e.val_acc.to_bits(),
                        e.seconds.to_bits(),
                    ]
                })
                .collect(),
        }
    }

    pub fn epochs(&self) -> Vec<EpochMetrics> {
        self.epochs
            .iter()
            .map(
                |&[epoch, train_loss, train_acc, val_loss, val_acc, seconds]| EpochMetrics {
                    epoch: epoch as usize,
                    train_loss: f64::from_bits(train_loss),
                    train_acc: f64::from_bits(train_acc),
                    val_loss: f64::from_bits(val_loss),
                    val_acc: f64::from_bits(val_acc),
                    seconds: f64::from_bits(seconds),
                },
            )
            .collect()
    }
}

/// A run's state as stored: the header and two burnpack records (Burn's own format, which keeps
/// each parameter's id so that Adam's state finds its parameter again).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingState {
    pub header: StateHeader,
    pub model: Vec<u8>,
    pub optimizer: Vec<u8>,
}

impl TrainingState {
    /// The file: the magic line, then three length-prefixed parts (little-endian u64 lengths):
    /// the JSON header, the model record and the optimizer record. Burn has no container for a
    /// module and its optimizer together, and three files could not be replaced at once.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).expect("the header serializes");
        let mut bytes = MAGIC.to_vec();
        for part in [&header[..], &self.model, &self.optimizer] {
            bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
            bytes.extend_from_slice(part);
        }
        bytes
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut rest = bytes
            .strip_prefix(&MAGIC[..])
            .ok_or("it does not start as a bnx training state")?;
        let mut next = || -> Result<Vec<u8>, String> {
            let (length, tail) = rest.split_at_checked(8).ok_or("it is truncated")?;
            let length = u64::from_le_bytes(length.try_into().expect("8 bytes"));
            let length = usize::try_from(length).map_err(|_| "a part length is too large")?;
            let (part, tail) = tail.split_at_checked(length).ok_or("it is truncated")?;
            rest = tail;
            Ok(part.to_vec())
        };
        let header = next()?;
        let header = serde_json::from_slice(&header).map_err(|e| format!("its header: {e}"))?;
        let (model, optimizer) = (next()?, next()?);
        if !rest.is_empty() {
            return Err("it has bytes after its last part".into());
        }
        Ok(Self {
            header,
            model,
            optimizer,
        })
    }

    /// The state in `dir`, or `None` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Self>, TrainError> {
        let path = dir.join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(FileError::Read { path, source }.into()),
        };
        Self::from_bytes(&bytes)
            .map(Some)
            .map_err(|message| TrainError::State { path, message })
    }

    /// Removes the state in `dir`, if any (a run that completes, or starts afresh).
    pub fn remove(dir: &Path) -> Result<(), FileError> {
        let path = dir.join(STATE_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(FileError::Write { path, source: e })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> TrainingState {
        let epoch = EpochMetrics {
            epoch: 1,
            train_loss: 0.1 + 0.2,
            train_acc: 0.9,
            val_loss: f64::MIN_POSITIVE,
            val_acc: 1.0 / 3.0,
            seconds: 2.5,
        };
        TrainingState {
            header: StateHeader::new("abc".into(), 7, &[epoch]),
            model: vec![1, 2, 3],
            optimizer: vec![],
        }
    }

    #[test]
    fn state_round_trips_every_bit() {
        let state = state();
        let back = TrainingState::from_bytes(&state.to_bytes()).unwrap();
        assert_eq!(back, state);
        assert_eq!(
            back.header.epochs()[0].train_loss.to_bits(),
            (0.1f64 + 0.2).to_bits()
        );
    }

    #[test]
    fn damaged_state_is_refused_with_a_reason() {
        let bytes = state().to_bytes();
        for (damaged, reason) in [
            (&bytes[..bytes.len() - 1], "truncated"),
            (&bytes[3..], "does not start"),
            (
                &[&bytes[..], &[0u8][..]].concat()[..],
                "after its last part",
            ),
        ] {
            let err = TrainingState::from_bytes(damaged).unwrap_err();
            assert!(err.contains(reason), "{err}");
        }
    }

    #[test]
    fn missing_state_is_none_and_removing_it_twice_is_fine() {
        let dir = tempfile::TempDir::new().unwrap();
        assert!(TrainingState::load(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join(STATE_FILE), state().to_bytes()).unwrap();
        assert_eq!(TrainingState::load(dir.path()).unwrap(), Some(state()));
        TrainingState::remove(dir.path()).unwrap();
        TrainingState::remove(dir.path()).unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"nonsense").unwrap();
        let err = TrainingState::load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(STATE_FILE) && err.contains("does not start"),
            "{err}"
        );
    }
}
