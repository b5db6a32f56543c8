//! The training loop: Adam on an autodiff device, Keras-style epoch metrics, checkpoints.

pub mod backend;
pub mod bench;
pub mod progress;
pub mod subnormals;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::data::dataset::Dataset;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::AdamSettings;
use crate::data::{ImageBatch, ImageBatcher, ImageSet};
use crate::model::Network;
use progress::Progress;

/// Losses and hit counts are read back from the device every this many steps (or sooner when
/// the progress bar has waited `READBACK_INTERVAL`), not every step.
const READBACK_EVERY: usize = 25;
const READBACK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
/// Validation batch size: inference only, so it changes nothing but speed.
const EVAL_BATCH: usize = 500;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(
        "training diverged: the loss became {value} at epoch {epoch}, step {step}; try a lower learning rate (metrics of the completed epochs are kept)"
    )]
    NonFiniteLoss {
        epoch: usize,
        step: usize,
        value: f32,
    },

    #[error("data loader failed at epoch {epoch}: {message}")]
    Data { epoch: usize, message: String },

    #[error("cannot save checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },

    #[error("{0}")]
    Observer(String),
}

/// One epoch's numbers, exactly as `metrics.json` stores them. Accuracies are fractions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Sample-weighted mean of the epoch's batch losses, in training mode (as Keras reports it).
    pub train_loss: f64,
    pub train_acc: f64,
    /// Mean loss over the whole test split, in inference mode (running BN statistics).
    pub val_loss: f64,
    pub val_acc: f64,
    /// Wall-clock seconds for the epoch: training and validation.
    pub seconds: f64,
}

/// How to train: the optimizer and loop settings from the resolved config.
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    pub adam: AdamSettings,
    /// Shown in front of progress bars, e.g. "mlp+bn".
    pub label: String,
    /// Where `model.bpk` is written after every epoch; `None` keeps no checkpoint.
    pub checkpoint: Option<PathBuf>,
    /// Watch a hidden layer's pre-activations on a fixed batch while training.
    pub probe: Option<ProbeSpec>,
}

/// A fixed batch fed, every `every` steps, through MLP hidden layer `layer` (0-based) to record
/// the 15th, 50th and 85th percentiles of its ReLU inputs (Ioffe & Szegedy 2015, figure 1).
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// `[n, 1, 28, 28]` on the plain (non-autodiff) device.
    pub images: Tensor<4>,
    pub layer: usize,
    pub every: usize,
}

/// One probe reading: after `step` optimizer steps (0 = the initial weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbePoint {
    pub step: usize,
    pub p15: f32,
    pub p50: f32,
    pub p85: f32,
}

/// What a finished run hands back.
pub struct FitOutcome {
    pub network: Network,
    pub epochs: Vec<EpochMetrics>,
    /// Every optimizer step's training loss, in order.
    pub step_losses: Vec<f32>,
    /// Probe readings, when `FitOptions::probe` asked for them.
    pub probes: Vec<ProbePoint>,
    /// See [`initial_variance_share`]: after each epoch (empty without BatchNorm).
    pub initial_variance_shares: Vec<f64>,
}

/// Trains `network` (built on `device`, a plain device) on `train`, validating on `test` after
/// every epoch. `on_epoch` sees each epoch's metrics as soon as they exist, so a caller can
/// persist them before the next epoch starts.
pub fn fit(
    network: Network,
    train: &ImageSet,
    test: &ImageSet,
    device: &Device,
    options: &FitOptions,
    progress: &Progress,
    mut on_epoch: impl FnMut(&EpochMetrics) -> Result<(), String>,
) -> Result<FitOutcome, TrainError> {
    let train_device = device.clone().autodiff();
    let eval_device = device.clone();
    let mut model = network.to_device(&train_device).train();
    let mut optimizer = adam(&options.adam).init();
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);

    // One loader for the whole run: it reshuffles at every epoch from the run's seed.
    let train_loader = DataLoaderBuilder::new(ImageBatcher)
        .batch_size(options.batch_size)
        .shuffle(options.seed)
        .set_device(train_device.clone())
        .build(train.clone());
    let test_loader = DataLoaderBuilder::new(ImageBatcher)
        .batch_size(EVAL_BATCH)
        .set_device(eval_device.clone())
        .build(test.clone());
    let steps = train.len().div_ceil(options.batch_size);

    let mut history = Vec::with_capacity(options.epochs);
    let mut step_losses = Vec::with_capacity(options.epochs * steps);
    let mut probes = Vec::new();
    let mut steps_done = 0usize;
    let mut initial_variance_shares = Vec::new();
    if let Some(probe) = &options.probe {
        probes.push(read_probe(&model.valid(), probe, 0));
    }
    for epoch in 1..=options.epochs {
        let started = Instant::now();
        let bar = progress.epoch_bar(&options.label, epoch, options.epochs, steps as u64);
        let mut tally = StepTally::default();
        let mut last_readback = Instant::now();
        for (step, batch) in train_loader.iter().enumerate() {
            let batch = batch.map_err(|e| TrainError::Data {
                epoch,
                message: e.to_string(),
            })?;
            let (next, loss, correct, size) = train_step(
                model,
                &mut optimizer,
                &loss_fn,
                batch,
                options.learning_rate,
            );
            model = next;
            tally.push(loss, correct, size);
            steps_done += 1;
            if let Some(probe) = options
                .probe
                .as_ref()
                .filter(|p| steps_done.is_multiple_of(p.every.max(1)))
            {
                probes.push(read_probe(&model.valid(), probe, steps_done));
            }
            let due =
                tally.pending() >= READBACK_EVERY || last_readback.elapsed() >= READBACK_INTERVAL;
            if due || step + 1 == steps {
                tally.flush(epoch, step + 1)?;
                last_readback = Instant::now();
                bar.set_position((step + 1) as u64);
                bar.set_message(format!(
                    "loss {:.4} acc {:.2}%  {:.1} steps/s",
                    tally.mean_loss(),
                    100.0 * tally.accuracy(),
                    (step + 1) as f64 / started.elapsed().as_secs_f64()
                ));
            }
        }
        progress.finish_bar(&bar);
        step_losses.append(&mut tally.step_losses);
        let train_seconds = started.elapsed().as_secs_f64();
        let (val_loss, val_acc) = evaluate(&model.valid(), test_loader.as_ref());
        let metrics = EpochMetrics {
            epoch,
            train_loss: tally.mean_loss(),
            train_acc: tally.accuracy(),
            val_loss,
            val_acc,
            seconds: started.elapsed().as_secs_f64(),
        };
        progress.epoch_line(format!(
            "{} epoch {:>2}/{}  train loss {:.4} acc {:.2}%  val loss {:.4} acc {:.2}%  {:.1} s  {:.0} samples/s",
            options.label,
            epoch,
            options.epochs,
            metrics.train_loss,
            100.0 * metrics.train_acc,
            metrics.val_loss,
            100.0 * metrics.val_acc,
            metrics.seconds,
            train.len() as f64 / train_seconds,
        ));
        if let Some(share) = initial_variance_share(&model, steps_done) {
            initial_variance_shares.push(share);
            if let Some(warning) = stale_statistics_warning(share, steps_done) {
                progress.epoch_line(warning);
            }
        }
        if let Some(path) = &options.checkpoint {
            save_checkpoint(&model, path)?;
        }
        on_epoch(&metrics).map_err(TrainError::Observer)?;
        history.push(metrics);
    }
    Ok(FitOutcome {
        network: model.valid(),
        epochs: history,
        step_losses,
        probes,
        initial_variance_shares,
    })
}

/// The 15th, 50th and 85th percentiles of the probe layer's ReLU inputs.
fn read_probe(model: &Network, probe: &ProbeSpec, step: usize) -> ProbePoint {
    let values = model
        .hidden_preactivations(probe.images.clone(), probe.layer)
        .expect("probes are only set up for MLP hidden layers")
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 data");
    let [p15, p50, p85] = percentiles(values, [0.15, 0.50, 0.85]);
    ProbePoint {
        step,
        p15,
        p50,
        p85,
    }
}

/// Nearest-rank percentiles (NaN sorts last, so a diverged layer shows up as NaN).
pub fn percentiles<const N: usize>(mut values: Vec<f32>, quantiles: [f64; N]) -> [f32; N] {
    values.sort_by(|a, b| a.total_cmp(b));
    quantiles.map(|q| {
        if values.is_empty() {
            return f32::NAN;
        }
        let rank = (q * (values.len() - 1) as f64).round() as usize;
        values[rank.min(values.len() - 1)]
    })
}

/// How much of BatchNorm's running variance is still its initial value 1, at worst over all
/// channels: after n steps with Keras momentum m the running variance is mⁿ·1 plus the batch
/// variances seen, so mⁿ / (running_var + ε) is the start's share of what inference divides by. Layers whose inputs vary
/// little (the first conv layer on [0, 1] pixels: variance ~0.005) keep a large share long after
/// mⁿ looks small, and inference then divides by a far too large variance. `None` without
/// BatchNorm.
pub fn initial_variance_share(model: &Network, steps_done: usize) -> Option<f64> {
    let norms = model.batch_norms();
    if norms.is_empty() {
        return None;
    }
    let mut worst = 0.0f64;
    for bn in norms {
        let start = (1.0 - bn.momentum).powi(steps_done.min(i32::MAX as usize) as i32);
        let variances = bn
            .running_var
            .value_sync()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 data");
        for variance in variances {
            // Inference divides by √(running_var + ε): the start matters relative to that, and a
            // dead channel (variance 0) is harmless once the start is small against ε.
            worst = worst.max((start / (f64::from(variance) + bn.epsilon)).min(1.0));
        }
    }
    Some(worst)
}

/// Validation with running statistics understates a model whose running variance is still
/// mostly its initial value: say so rather than let chance-level accuracy look like a finding.
fn stale_statistics_warning(share: f64, steps_done: usize) -> Option<String> {
    (share > STALE_SHARE).then(|| {
        format!(
            "  note: after {steps_done} steps up to {:.0}% of a BatchNorm running variance is still its initial value 1 (Keras momentum 0.99 forgets 1% a step); validation uses it, so it understates this model until more steps are trained",
            100.0 * share
        )
    })
}

/// Above this share of initial value in a running variance, validation is flagged.
pub const STALE_SHARE: f64 = 0.1;

/// Adam with every setting explicit (Burn's defaults differ from Keras').
pub fn adam(settings: &AdamSettings) -> AdamConfig {
    AdamConfig::new()
        .with_beta_1(settings.beta_1 as f32)
        .with_beta_2(settings.beta_2 as f32)
        .with_epsilon(settings.epsilon as f32)
}

/// One optimizer step; returns the updated model, the detached mean loss, the number of
/// correct predictions and the batch size. Nothing is read back from the device here.
pub fn train_step(
    model: Network,
    optimizer: &mut burn::optim::ModuleOptimizer,
    loss_fn: &CrossEntropyLoss,
    batch: ImageBatch,
    learning_rate: f64,
) -> (Network, Tensor<1>, Tensor<1, Int>, usize) {
    let size = batch.len();
    let logits = model.forward(batch.images);
    let correct = count_correct(logits.clone(), batch.targets.clone());
    let loss = loss_fn.forward(logits, batch.targets);
    let gradients = GradientsParams::from_grads(loss.backward(), &model);
    let model = optimizer.step(learning_rate, model, gradients);
    (model, loss.detach().inner(), correct.inner(), size)
}

fn count_correct(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1, Int> {
    let predicted = logits.argmax(1).squeeze_dim::<1>(1);
    predicted.equal(targets).int().sum()
}

/// Loss and accuracy over a whole split, in inference mode.
pub fn evaluate(model: &Network, loader: &dyn DataLoader<ImageBatch>) -> (f64, f64) {
    let mut loss_sum = 0.0f64;
    let mut correct = 0i64;
    let mut seen = 0usize;
    for batch in loader.iter() {
        let batch = batch.expect("in-memory test data cannot fail to load");
        let size = batch.len();
        let device = batch.images.device();
        let logits = model.forward(batch.images);
        correct += count_correct(logits.clone(), batch.targets.clone()).into_scalar::<i64>();
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let mean = loss_fn.forward(logits, batch.targets).into_scalar::<f32>();
        loss_sum += f64::from(mean) * size as f64;
        seen += size;
    }
    (loss_sum / seen as f64, correct as f64 / seen as f64)
}

/// Writes the model's parameters and BN running statistics as a burnpack file, atomically.
pub fn save_checkpoint(model: &Network, path: &Path) -> Result<(), TrainError> {
    let fail = |message: String| TrainError::Checkpoint {
        path: path.into(),
        message,
    };
    let bytes = model
        .valid()
        .into_record()
        .into_bytes()
        .map_err(|e| fail(e.to_string()))?;
    crate::report::write_atomic(path, &bytes).map_err(|e| fail(e.to_string()))
}

/// Running sums of an epoch's losses and hits, read back from the device in chunks.
#[derive(Default)]
struct StepTally {
    pending_losses: Vec<Tensor<1>>,
    pending_correct: Vec<Tensor<1, Int>>,
    pending_sizes: Vec<usize>,
    step_losses: Vec<f32>,
    loss_sum: f64,
    correct: u64,
    seen: u64,
}

impl StepTally {
    fn push(&mut self, loss: Tensor<1>, correct: Tensor<1, Int>, size: usize) {
        self.pending_losses.push(loss);
        self.pending_correct.push(correct);
        self.pending_sizes.push(size);
    }

    fn pending(&self) -> usize {
        self.pending_sizes.len()
    }

    /// Reads the pending values back; `step` is the 1-based index of the last pending step.
    fn flush(&mut self, epoch: usize, step: usize) -> Result<(), TrainError> {
        if self.pending_sizes.is_empty() {
            return Ok(());
        }
        let losses = Tensor::cat(std::mem::take(&mut self.pending_losses), 0)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 data");
        let correct = Tensor::cat(std::mem::take(&mut self.pending_correct), 0)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .expect("i64 data");
        let sizes = std::mem::take(&mut self.pending_sizes);
        let first_step = step + 1 - sizes.len();
        for (i, ((loss, hits), size)) in losses.iter().zip(&correct).zip(&sizes).enumerate() {
            if !loss.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    epoch,
                    step: first_step + i,
                    value: *loss,
                });
            }
            self.step_losses.push(*loss);
            self.loss_sum += f64::from(*loss) * *size as f64;
            self.correct += *hits as u64;
            self.seen += *size as u64;
        }
        Ok(())
    }

    fn mean_loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::IMAGE_PIXELS;
    use crate::model::{ModelKind, NetworkConfig};
    use backend::BackendKind;

    /// Class k lights up rows 2k+4 and 2k+5: trivially separable, real-format images.
    fn separable_set(count: usize, offset: usize) -> ImageSet {
        let mut pixels = vec![0u8; count * IMAGE_PIXELS];
        let mut labels = Vec::with_capacity(count);
        for i in 0..count {
            let class = (i + offset) % 10;
            labels.push(class as u8);
            for row in [2 * class + 4, 2 * class + 5] {
                for col in 4..24 {
                    pixels[i * IMAGE_PIXELS + row * 28 + col] = 200 + ((i * 13 + col) % 50) as u8;
                }
            }
        }
        ImageSet::new(pixels, labels)
    }

    fn options(epochs: usize) -> FitOptions {
        FitOptions {
            epochs,
            batch_size: 16,
            learning_rate: 1e-3,
            seed: 3,
            adam: AdamSettings::default(),
            label: "test".into(),
            checkpoint: None,
            probe: None,
        }
    }

    fn run(backend: BackendKind, bn: bool, epochs: usize) -> Vec<EpochMetrics> {
        let device = backend.open().unwrap().device;
        let config = NetworkConfig::guide(ModelKind::Mlp, bn);
        let network = config.init(11, &device);
        let (train, test) = (separable_set(160, 0), separable_set(40, 3));
        fit(
            network,
            &train,
            &test,
            &device,
            &options(epochs),
            &Progress::silent(),
            |_| Ok(()),
        )
        .unwrap()
        .epochs
    }

    #[test]
    fn loss_falls_and_accuracy_rises_on_separable_data() {
        for bn in [false, true] {
            let epochs = run(BackendKind::Flex, bn, 4);
            let (first, last) = (&epochs[0], &epochs[3]);
            assert!(
                last.train_loss < 0.5 * first.train_loss,
                "bn={bn}: {epochs:?}"
            );
            assert!(last.val_acc >= 0.95, "bn={bn}: {epochs:?}");
            assert!(epochs.iter().all(|e| (0.0..=1.0).contains(&e.train_acc)));
        }
    }

    #[test]
    fn same_seed_gives_identical_metrics_on_ndarray() {
        let strip = |epochs: Vec<EpochMetrics>| {
            epochs
                .into_iter()
                .map(|e| (e.train_loss, e.train_acc, e.val_loss, e.val_acc))
                .collect::<Vec<_>>()
        };
        let a = strip(run(BackendKind::Ndarray, true, 2));
        let b = strip(run(BackendKind::Ndarray, true, 2));
        assert_eq!(a, b);
    }

    #[test]
    fn a_diverging_run_stops_with_epoch_and_step() {
        let device = BackendKind::Flex.open().unwrap().device;
        let network = NetworkConfig::guide(ModelKind::Mlp, false).init(1, &device);
        let set = separable_set(64, 0);
        let mut opts = options(3);
        opts.learning_rate = 1e30;
        let mut recorded = 0;
        let err = fit(
            network,
            &set,
            &set,
            &device,
            &opts,
            &Progress::silent(),
            |_| {
                recorded += 1;
                Ok(())
            },
        )
        .err()
        .expect("a learning rate of 1e30 must diverge");
        let TrainError::NonFiniteLoss { epoch, step, .. } = err else {
            panic!("{err}")
        };
        assert!(
            epoch >= 1 && (1..=4).contains(&step),
            "epoch {epoch} step {step}"
        );
        assert_eq!(recorded, epoch - 1, "completed epochs were handed over");
        assert!(
            err.to_string()
                .contains(&format!("epoch {epoch}, step {step}"))
        );
    }

    #[test]
    fn step_losses_and_probes_are_recorded() {
        let device = BackendKind::Flex.open().unwrap().device;
        let (train, test) = (separable_set(160, 0), separable_set(40, 3));
        let images = crate::data::ImageBatcher::images(&train, 0..32, &device);
        let mut opts = options(2);
        opts.probe = Some(ProbeSpec {
            images,
            layer: 2,
            every: 4,
        });
        let network = NetworkConfig::guide(ModelKind::Mlp, true).init(1, &device);
        let outcome = fit(
            network,
            &train,
            &test,
            &device,
            &opts,
            &Progress::silent(),
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(outcome.step_losses.len(), 2 * 10);
        let steps: Vec<usize> = outcome.probes.iter().map(|p| p.step).collect();
        assert_eq!(steps, [0, 4, 8, 12, 16, 20]);
        assert!(
            outcome
                .probes
                .iter()
                .all(|p| p.p15 <= p.p50 && p.p50 <= p.p85)
        );
        // Keras-semantics epoch loss is the sample-weighted mean of the step losses.
        let first_epoch: f64 = outcome.step_losses[..10]
            .iter()
            .map(|&l| f64::from(l) * 16.0)
            .sum::<f64>()
            / 160.0;
        assert!((first_epoch - outcome.epochs[0].train_loss).abs() < 1e-6);
    }

    #[test]
    fn initial_variance_share_is_the_start_over_the_running_variance() {
        let device = BackendKind::Flex.open().unwrap().device;
        let network = NetworkConfig::guide(ModelKind::Mlp, true).init(1, &device);
        // Untrained: the running variance is all start (against ε = 1e-3).
        let untrained = initial_variance_share(&network, 0).unwrap();
        assert!((untrained - 1.0 / 1.001).abs() < 1e-9, "{untrained}");
        // 100 steps later 0.99^100 = 0.366 of the start would be left of a variance of 1.
        let share = initial_variance_share(&network, 100).unwrap();
        assert!((share - 0.99f64.powi(100) / 1.001).abs() < 1e-9, "{share}");
        assert_eq!(
            initial_variance_share(
                &NetworkConfig::guide(ModelKind::Mlp, false).init(1, &device),
                5
            ),
            None
        );
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<f32> = (0..=100).map(|v| v as f32).collect();
        assert_eq!(percentiles(values, [0.15, 0.5, 0.85]), [15.0, 50.0, 85.0]);
        assert_eq!(percentiles(vec![3.0, 1.0, 2.0], [0.0, 1.0]), [1.0, 3.0]);
    }

    #[test]
    fn checkpoint_round_trips() {
        let device = BackendKind::Flex.open().unwrap().device;
        let config = NetworkConfig::guide(ModelKind::Mlp, true);
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("model.bpk");
        let mut opts = options(1);
        opts.checkpoint = Some(path.clone());
        let set = separable_set(32, 0);
        let trained = fit(
            config.init(1, &device),
            &set,
            &set,
            &device,
            &opts,
            &Progress::silent(),
            |_| Ok(()),
        )
        .unwrap()
        .network;
        let loaded = config.init(99, &device).load_file(&path);
        let probe = Tensor::<4>::ones([2, 1, 28, 28], &device).mul_scalar(0.5);
        let a = trained
            .forward(probe.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let b = loaded
            .valid()
            .forward(probe)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(a, b);
    }
}
