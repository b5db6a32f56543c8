//! One module per command, as cargo lays them out: each holds its clap arguments and `exec`.
//! What they share: the flag groups (`args`), the one way flags become settings (`settings`),
//! and the [`session::Session`] a command runs with.

pub mod args;
pub mod bench;
pub mod compare;
pub mod data;
pub mod eval;
pub mod plot;
pub mod predict;
pub mod session;
pub mod settings;
pub mod study;
pub mod train;

use std::path::PathBuf;

use crate::experiment::ExperimentError;

/// Ctrl-C stopped training: every completed epoch is on disk and `command` continues it. `main`
/// prints this and exits with status 130.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped by Ctrl-C; every completed epoch is kept in {}. To continue: {command}",
    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
)]
pub struct Interrupted {
    pub dirs: Vec<PathBuf>,
    pub command: String,
}

impl Interrupted {
    /// `Some` when `error` is training stopped by Ctrl-C: `bnx <resume> DIRS…` continues it.
    fn from_error(error: &ExperimentError, resume: &str, dirs: &[PathBuf]) -> Option<Self> {
        let ExperimentError::Train(crate::train::TrainError::Interrupted { .. }) = error else {
            return None;
        };
        let quoted: Vec<String> = dirs
            .iter()
            .map(|d| shell_quote(&d.display().to_string()))
            .collect();
        Some(Self {
            dirs: dirs.to_vec(),
            command: format!("bnx {resume} {}", quoted.join(" ")),
        })
    }
}

/// `text` as one shell word: as it is when that is safe, else in single quotes.
fn shell_quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Result;
    use clap::Parser;

    use super::*;
    use crate::config::ExperimentConfig;
    use crate::model::{ModelKind, NormKind, NormPosition};
    use crate::runtime::BackendKind;

    /// `bnx train`'s arguments, parsed as the real command line parses them.
    #[derive(Parser)]
    struct TrainCli {
        #[command(flatten)]
        args: train::TrainArgs,
    }

    fn resolve_train(args: &[&str]) -> Result<ExperimentConfig> {
        let cli = TrainCli::try_parse_from(std::iter::once("bnx").chain(args.iter().copied()))?;
        train::resolve(&cli.args)
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("c.json");
        std::fs::write(
            &file,
            r#"{"network": {"model": "cnn"}, "training": {"epochs": 3, "learning_rate": 0.01},
                "runtime": {"backend": "ndarray"}}"#,
        )
        .unwrap();
        let path = file.to_str().unwrap();

        let defaults = resolve_train(&[]).unwrap();
        assert_eq!(defaults, ExperimentConfig::default());

        let from_file = resolve_train(&["--config", path]).unwrap();
        assert_eq!(from_file.network.model, ModelKind::Cnn);
        assert_eq!(
            (from_file.training.epochs, from_file.training.learning_rate),
            (3, 0.01)
        );
        assert_eq!(from_file.runtime.backend, BackendKind::Ndarray);
        assert_eq!(from_file.training.batch_size, 32, "left to the default");

        let flagged = resolve_train(&[
            "--config",
            path,
            "--epochs",
            "5",
            "--backend",
            "flex",
            "--keep-subnormals",
            "--model",
            "mlp",
        ])
        .unwrap();
        assert_eq!(flagged.network.model, ModelKind::Mlp);
        assert_eq!(flagged.training.epochs, 5);
        assert_eq!(flagged.training.learning_rate, 0.01, "the file's, no flag");
        assert_eq!(flagged.runtime.backend, BackendKind::Flex);
        assert!(!flagged.runtime.flush_subnormals);
    }

    #[test]
    fn bn_is_a_shorthand_for_batch_norm_before_the_relu() {
        let bn = resolve_train(&["--bn"]).unwrap().network;
        assert_eq!(
            (bn.norm, bn.position),
            (NormKind::Batch, NormPosition::Before)
        );
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("ln.json");
        std::fs::write(
            &file,
            r#"{"network": {"norm": "layer", "position": "after"}}"#,
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let bn = resolve_train(&["--config", path, "--bn"]).unwrap().network;
        assert_eq!(
            (bn.norm, bn.position),
            (NormKind::Batch, NormPosition::Before)
        );
        let none = resolve_train(&["--config", path, "--no-bn"])
            .unwrap()
            .network;
        assert_eq!(
            (none.norm, none.position),
            (NormKind::None, NormPosition::After)
        );
        let group = resolve_train(&["--norm", "group"]).unwrap().network;
        assert_eq!(group.norm, NormKind::Group);
    }

    #[test]
    fn widths_flags_become_the_networks_widths() {
        let network = resolve_train(&["--hidden-layers", "4"]).unwrap().network;
        assert_eq!(network.mlp_widths, [64; 4]);
        let network = resolve_train(&["--width", "100"]).unwrap().network;
        assert_eq!(network.mlp_widths, [100; 3]);
        let err = resolve_train(&["--model", "cnn", "--width", "100"]).unwrap_err();
        assert!(err.to_string().contains("shape the MLP only"), "{err}");
    }

    #[test]
    fn counts_and_rates_are_checked_once_naming_field_and_flag() {
        for (args, expected) in [
            (
                &["--epochs", "0"][..],
                "training.epochs (--epochs) must be at least 1, got 0",
            ),
            (
                &["--batch-size", "0"][..],
                "(--batch-size) must be at least 1, got 0",
            ),
            (
                &["--lr=-0.5"][..],
                "(--lr) must be a finite number above 0, got -0.5",
            ),
            (
                &["--lr", "NaN"][..],
                "(--lr) must be a finite number above 0, got NaN",
            ),
            (
                &["--init-scale", "0"][..],
                "network.init_scale (--init-scale) must be",
            ),
            (
                &["--hidden-layers", "0"][..],
                "network.mlp_widths (--hidden-layers, --width)",
            ),
        ] {
            let err = format!("{:#}", resolve_train(args).unwrap_err());
            assert!(err.contains(expected), "{args:?}: {err}");
        }
        let err = resolve_train(&["--init-scale", "x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid value 'x'"), "{err}");
    }

    #[test]
    fn a_file_value_the_flags_leave_is_validated_with_its_source_named() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("zero.json");
        std::fs::write(&file, r#"{"training": {"epochs": 0}}"#).unwrap();
        let err = resolve_train(&["--config", file.to_str().unwrap()]).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("zero.json"), "{message}");
        assert!(
            message.contains("training.epochs (--epochs) must be at least 1, got 0"),
            "{message}"
        );
        // A flag replaces the bad value before validation.
        let fixed = resolve_train(&["--config", file.to_str().unwrap(), "--epochs", "2"]);
        assert_eq!(fixed.unwrap().training.epochs, 2);
    }
}
