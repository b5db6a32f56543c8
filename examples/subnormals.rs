//! Why the MLP without BatchNorm slows down as it trains: subnormal floats.
//!
//! Trains the guide's MLP without BatchNorm for 5 epochs on the bundled MNIST (flex backend,
//! seed 42) twice: with exact IEEE subnormals (`--keep-subnormals`), then as bnx trains by
//! default, with the CPU flushing subnormal results to zero and treating subnormal inputs as
//! zero (x86-64 MXCSR FTZ and DAZ, on this thread and every rayon worker). Prints the epoch
//! seconds and validation accuracies of both.
//!
//!     cargo run --release --example subnormals

use bnx::config::ExperimentConfig;
use bnx::model::{ModelKind, NetworkConfig};
use bnx::train::progress::Progress;
use bnx::train::{self, FitOptions, subnormals};

fn main() -> anyhow::Result<()> {
    let config = ExperimentConfig::default();
    let data = bnx::experiment::load_data(&config)?;
    let device = config.backend.open()?.device;
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
        if !subnormals::set_flush(flush) {
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
