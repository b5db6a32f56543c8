//! `--backend` → a Burn `Device`, opened once per process, named, and with its CPU thread
//! settings applied. Always explicit: `Device::default()` would silently prefer whatever GPU
//! backend happens to be compiled in.

use std::sync::OnceLock;

use burn::prelude::Device;
use thiserror::Error;

use super::subnormals;

named_enum! {
    pub enum BackendKind("backend") {
        /// Burn's pure-Rust CPU backend (SIMD + rayon); the fastest CPU choice here.
        Flex => "flex",
        /// The classic ndarray CPU backend (deprecated upstream in favour of flex).
        Ndarray => "ndarray",
        /// The portable GPU backend: Vulkan, Metal or DX12 through wgpu.
        Wgpu => "wgpu",
        /// NVIDIA GPUs through CUDA; needs a build with `--features cuda`.
        Cuda => "cuda",
        /// The fastest device this machine offers: CUDA, then a hardware wgpu adapter, then flex.
        Auto => "auto",
    }
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum BackendError {
    #[error(
        "backend 'wgpu' is not available: {reason}; install a Vulkan driver (on Debian, `apt-get install -y mesa-vulkan-drivers` gives a software one) or use --backend flex"
    )]
    WgpuUnavailable { reason: String },

    #[error(
        "backend 'cuda' is not compiled into this bnx: rebuild with `cargo build --release --features cuda`, or use --backend wgpu or --backend flex"
    )]
    CudaNotCompiled,

    #[error(
        "backend 'cuda' found no NVIDIA GPU (no CUDA driver library, or no device): use --backend wgpu or --backend flex"
    )]
    CudaUnavailable,
}

/// An opened device and what it is.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The backend actually used: never `Auto`.
    pub kind: BackendKind,
    /// The plain (inference) device; `.autodiff()` on it for training.
    pub device: Device,
    /// What the device calls itself: the GPU's name, or the CPU model for CPU backends.
    pub device_name: String,
    /// A software rasterizer or other CPU-backed adapter posing as a GPU (lavapipe).
    pub software: bool,
    /// Whether subnormal floats are flushed to zero (FTZ/DAZ) on the compute threads: only
    /// CPU backends on x86-64, and only when asked for.
    pub flush_subnormals: bool,
}

impl Backend {
    /// Opens `kind` (or says in one sentence why it cannot and what to use instead) and, for a
    /// CPU backend, sets FTZ/DAZ as `flush_subnormals` asks on this thread and every thread of
    /// the rayon pool the CPU kernels run on. Open it once per process and pass it down.
    pub fn open(kind: BackendKind, flush_subnormals: bool) -> Result<Self, BackendError> {
        let mut backend = kind.connect()?;
        if backend.kind.runs_on_cpu() {
            backend.flush_subnormals = subnormals::set_flush(flush_subnormals) && flush_subnormals;
        }
        Ok(backend)
    }

    /// Gives a thread the caller spawned (a study's worker) the same subnormal handling as the
    /// thread that opened the backend.
    pub fn enter_thread(&self) {
        if self.kind.runs_on_cpu() {
            subnormals::set_flush_on_this_thread(self.flush_subnormals);
        }
    }

    /// "flex (AMD EPYC …)", or "auto → wgpu (NVIDIA …)" when `auto` chose.
    pub fn describe(&self, requested: BackendKind) -> String {
        let chosen = format!("{} ({})", self.kind, self.device_name);
        if requested == self.kind {
            chosen
        } else {
            format!("{requested} → {chosen}")
        }
    }

    /// The vector instructions the CPU kernels can use here (see [`cpu_simd`]); `None` for a
    /// GPU backend.
    pub fn cpu_simd(&self) -> Option<&'static str> {
        self.kind.runs_on_cpu().then(cpu_simd)
    }
}

/// The widest vector instruction set this CPU offers: flex's kernels pick theirs at run time,
/// so the same seed sums in a different order (and rounds differently) on an AVX-512 machine
/// than on an AVX2 one. Recorded with every run for that reason.
pub fn cpu_simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            "avx512"
        } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            "avx2+fma"
        } else if std::is_x86_feature_detected!("sse4.1") {
            "sse4.1"
        } else {
            "sse2"
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

impl BackendKind {
    /// Opens the device, or says in one sentence why it cannot and what to use instead.
    fn connect(self) -> Result<Backend, BackendError> {
        match self {
            BackendKind::Flex => Ok(cpu(BackendKind::Flex, Device::flex())),
            #[allow(deprecated)] // the card asks for ndarray; it stays selectable and tested
            BackendKind::Ndarray => Ok(cpu(BackendKind::Ndarray, Device::ndarray())),
            BackendKind::Wgpu => wgpu().clone(),
            BackendKind::Cuda => cuda(),
            BackendKind::Auto => Ok(auto()),
        }
    }

    /// Whether the arithmetic runs on this machine's CPU threads (so FTZ/DAZ settings apply).
    pub fn runs_on_cpu(self) -> bool {
        matches!(self, BackendKind::Flex | BackendKind::Ndarray)
    }
}

fn cpu(kind: BackendKind, device: Device) -> Backend {
    Backend {
        kind,
        device,
        device_name: cpu_name(),
        software: false,
        flush_subnormals: false,
    }
}

/// The CPU model and thread count, e.g. "AMD EPYC 7B13 (2 threads)"; read once per process.
pub fn cpu_name() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(read_cpu_name).clone()
}

fn read_cpu_name() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model} ({threads} threads)")
}

/// wgpu's runtime can be initialised once per process, so the answer is kept.
fn wgpu() -> &'static Result<Backend, BackendError> {
    static WGPU: OnceLock<Result<Backend, BackendError>> = OnceLock::new();
    WGPU.get_or_init(|| {
        let device =
            Device::wgpu_options()
                .init()
                .map_err(|error| BackendError::WgpuUnavailable {
                    reason: error.to_string(),
                })?;
        let identity = device.identity();
        let device_name = identity
            .as_ref()
            .map_or_else(|| "unknown wgpu adapter".into(), |id| id.name.clone());
        // cubecl reports no physical card for a CPU or a software rasterizer.
        let software = identity.is_none_or(|id| id.physical.is_none());
        Ok(Backend {
            kind: BackendKind::Wgpu,
            device,
            device_name,
            software,
            flush_subnormals: false,
        })
    })
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Backend, BackendError> {
    // Enumeration asks for the driver library before loading it: no panic without one.
    let device =
        first_device(burn::tensor::DeviceType::Cuda).ok_or(BackendError::CudaUnavailable)?;
    let device_name = device
        .identity()
        .map_or_else(|| "CUDA device 0".into(), |id| id.name);
    Ok(Backend {
        kind: BackendKind::Cuda,
        device,
        device_name,
        software: false,
        flush_subnormals: false,
    })
}

/// The first device of a kind this machine has, if any.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))] // used by CUDA; tested on flex
fn first_device(device_type: burn::tensor::DeviceType) -> Option<Device> {
    Device::enumerate(device_type).into_vec().into_iter().next()
}

#[cfg(not(feature = "cuda"))]
fn cuda() -> Result<Backend, BackendError> {
    Err(BackendError::CudaNotCompiled)
}

/// CUDA where there is an NVIDIA GPU, else a hardware wgpu adapter, else flex. A software
/// adapter (lavapipe) is slower than flex on the same CPU, so it never wins.
fn auto() -> Backend {
    if let Ok(backend) = cuda() {
        return backend;
    }
    match wgpu() {
        Ok(backend) if !backend.software => backend.clone(),
        _ => cpu(BackendKind::Flex, Device::flex()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_backends_open_and_name_the_cpu() {
        for kind in [BackendKind::Flex, BackendKind::Ndarray] {
            let backend = kind.connect().unwrap();
            assert_eq!(backend.kind, kind);
            assert!(!backend.device_name.is_empty());
            assert!(!backend.software);
        }
    }

    #[test]
    fn auto_never_answers_auto_and_never_picks_a_software_adapter() {
        let backend = BackendKind::Auto.connect().unwrap();
        assert_ne!(backend.kind, BackendKind::Auto);
        assert!(!backend.software, "auto picked {}", backend.device_name);
    }

    #[test]
    fn describe_names_what_auto_chose() {
        let flex = BackendKind::Flex.connect().unwrap();
        assert!(flex.describe(BackendKind::Flex).starts_with("flex ("));
        assert!(
            flex.describe(BackendKind::Auto)
                .starts_with("auto → flex (")
        );
        assert_eq!(flex.cpu_simd(), Some(cpu_simd()));
    }

    #[test]
    fn enumeration_finds_the_cpu_device() {
        let device = first_device(burn::tensor::DeviceType::Flex).unwrap();
        assert_eq!(device, Device::flex());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_get_it() {
        let message = BackendKind::Cuda.connect().unwrap_err().to_string();
        assert!(message.contains("--features cuda"), "{message}");
        assert!(message.contains("--backend flex"), "{message}");
    }
}
