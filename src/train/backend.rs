//! `--backend` → a Burn `Device`. Always explicit: `Device::default()` would silently
//! prefer whatever GPU backend happens to be compiled in.

use burn::prelude::Device;

named_enum! {
    pub enum BackendKind("backend") {
        /// Burn's pure-Rust CPU backend (SIMD + rayon); the fastest CPU choice here.
        Flex => "flex",
        /// The classic ndarray CPU backend (deprecated upstream in favour of flex).
        Ndarray => "ndarray",
    }
}

impl BackendKind {
    /// The plain (inference) device; call `.autodiff()` on it for training.
    pub fn device(self) -> Device {
        match self {
            BackendKind::Flex => Device::flex(),
            #[allow(deprecated)] // the card asks for ndarray; it stays selectable and tested
            BackendKind::Ndarray => Device::ndarray(),
        }
    }
}
