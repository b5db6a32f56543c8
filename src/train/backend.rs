//! `--backend` → a Burn `Device`. Always explicit: `Device::default()` would silently
//! prefer whatever GPU backend happens to be compiled in.

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Burn's pure-Rust CPU backend (SIMD + rayon); the fastest CPU choice here.
    Flex,
    /// The classic ndarray CPU backend (deprecated upstream in favour of flex).
    Ndarray,
}

impl BackendKind {
    pub const ALL: [BackendKind; 2] = [BackendKind::Flex, BackendKind::Ndarray];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
        }
    }

    /// The plain (inference) device; call `.autodiff()` on it for training.
    pub fn device(self) -> Device {
        match self {
            BackendKind::Flex => Device::flex(),
            #[allow(deprecated)] // the card asks for ndarray; it stays selectable and tested
            BackendKind::Ndarray => Device::ndarray(),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| format!("unknown backend '{s}', expected flex or ndarray"))
    }
}
