//! Why the MLP without BatchNorm slows down as it trains: subnormal floats.
//!
//! Trains the guide's MLP without BatchNorm for 5 epochs on the bundled MNIST (flex backend,
//! seed 42) twice: with exact IEEE subnormals (`--keep-subnormals`), then as bnx trains by
//! default, with the CPU flushing subnormal results to zero and treating subnormal inputs as
//! zero (x86-64 MXCSR FTZ and DAZ, on this thread and every rayon worker). Prints the epoch
//! seconds and validation accuracies of both.
//!
//!     cargo run --release --example subnormals

use bnx::config::{ExperimentConfig, TrainingConfig};
use bnx::model::{ModelKind, NetworkConfig};
use bnx::runtime::{Backend, BackendKind, Progress};
use bnx::train::{Trainer, fit};

fn main() -> anyhow::Result<()> {
    let config = ExperimentConfig::default();
    let data = bnx::experiment::load_data(&config.data, &bnx::runtime::Progress::silent())?;
    let training = TrainingConfig {
        epochs: 5,
        ..config.training
    };
    for flush in [false, true] {
        // Opening the backend applies the setting to every compute thread.
        let backend = Backend::open(BackendKind::Flex, flush)?;
        if flush && !backend.flush_subnormals {
            println!("flushing subnormals is only implemented for x86-64 here");
            break;
        }
        let network =
            NetworkConfig::guide(ModelKind::Mlp, false).init(training.seed, &backend.device);
        let mut trainer = Trainer::new(network, &backend.device, &training);
        let epochs = fit(
            &mut trainer,
            &data.train,
            &data.test,
            &training,
            "mlp",
            &Progress::silent(),
            &mut [],
        )?;
        let seconds: Vec<String> = epochs.iter().map(|e| format!("{:.2}", e.seconds)).collect();
        let accuracy: Vec<String> = epochs
            .iter()
            .map(|e| format!("{:.2}", 100.0 * e.val_acc))
            .collect();
        println!(
            "{:<28} epoch seconds {}   val acc % {}",
            if flush {
                "flushed to 0 (bnx default):"
            } else {
                "IEEE subnormals:"
            },
            seconds.join(" "),
            accuracy.join(" ")
        );
    }
    Ok(())
}
