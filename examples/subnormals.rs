//! Why the MLP without BatchNorm slows down as it trains: subnormal floats.
//!
//! Trains the guide's MLP without BatchNorm for 5 epochs on the bundled MNIST (flex backend,
//! seed 42) twice: as bnx does, then with the CPU set to flush subnormal results to zero and
//! treat subnormal inputs as zero (x86-64 MXCSR FTZ and DAZ, on this thread). Prints the epoch
//! seconds and validation accuracies of both.
//!
//!     cargo run --release --example subnormals

use bnx::config::ExperimentConfig;
use bnx::model::{ModelKind, NetworkConfig};
use bnx::train::progress::Progress;
use bnx::train::{self, FitOptions};

fn main() -> anyhow::Result<()> {
    let config = ExperimentConfig::default();
    let data = bnx::experiment::load_data(&config)?;
    let device = config.backend.device();
    let options = FitOptions {
        epochs: 5,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        seed: config.seed,
        adam: config.adam,
        label: "mlp".into(),
        checkpoint: None,
        probe: None,
    };
    for flush in [false, true] {
        if flush && !flush_subnormals() {
            println!("flushing subnormals is only implemented for x86-64 here");
            break;
        }
        let network = NetworkConfig::guide(ModelKind::Mlp, false).init(config.seed, &device);
        let fitted = train::fit(
            network,
            &data.train,
            &data.test,
            &device,
            &options,
            &Progress::silent(),
            |_| Ok(()),
        )?;
        let seconds: Vec<String> = fitted
            .epochs
            .iter()
            .map(|e| format!("{:.2}", e.seconds))
            .collect();
        let accuracy: Vec<String> = fitted
            .epochs
            .iter()
            .map(|e| format!("{:.2}", 100.0 * e.val_acc))
            .collect();
        println!(
            "{:<26} epoch seconds {}   val acc % {}",
            if flush {
                "subnormals flushed to 0:"
            } else {
                "as bnx trains:"
            },
            seconds.join(" "),
            accuracy.join(" ")
        );
    }
    Ok(())
}

/// Sets FTZ and DAZ in this thread's MXCSR; false where that is not available.
#[allow(deprecated)] // _mm_setcsr: deprecated in favour of inline assembly, still correct
fn flush_subnormals() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        const FTZ: u32 = 1 << 15;
        const DAZ: u32 = 1 << 6;
        // SAFETY: only changes how this thread rounds subnormal floats.
        unsafe { _mm_setcsr(_mm_getcsr() | FTZ | DAZ) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
