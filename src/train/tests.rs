use burn::prelude::*;

use super::hooks::{Checkpoint, Probe, StepLosses, initial_variance_share, percentiles};
use super::*;
use crate::config::TrainingConfig;
use crate::data::ImageSet;
use crate::data::idx::IMAGE_PIXELS;
use crate::model::{BatchNormSettings, ModelKind, Network, NetworkConfig};
use crate::runtime::{BackendKind, Progress};

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

fn training(epochs: usize) -> TrainingConfig {
    TrainingConfig {
        epochs,
        batch_size: 16,
        learning_rate: 1e-3,
        seed: 3,
        ..TrainingConfig::default()
    }
}

fn device(kind: BackendKind) -> Device {
    crate::runtime::Backend::open(kind, false).unwrap().device
}

/// Fits `network` and hands back the trainer too.
fn fit_with(
    network: &NetworkConfig,
    kind: BackendKind,
    training: &TrainingConfig,
    sets: (&ImageSet, &ImageSet),
    hooks: &mut [&mut dyn Hook],
) -> (Result<Vec<EpochMetrics>, TrainError>, Trainer) {
    let device = device(kind);
    let mut trainer = Trainer::new(network.init(11, &device), &device, training);
    let result = fit(
        &mut trainer,
        sets.0,
        sets.1,
        training,
        "test",
        &Progress::silent(),
        hooks,
    );
    (result, trainer)
}

fn run(kind: BackendKind, bn: bool, epochs: usize) -> Vec<EpochMetrics> {
    let (train, test) = (separable_set(160, 0), separable_set(40, 3));
    let network = NetworkConfig::guide(ModelKind::Mlp, bn);
    fit_with(&network, kind, &training(epochs), (&train, &test), &mut [])
        .0
        .unwrap()
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

/// Records what `fit` tells a hook, in order.
#[derive(Default)]
struct Recorder {
    events: Vec<String>,
    losses: Vec<f32>,
    /// After this epoch, swap in a network whose weights overflow to make the next step's
    /// loss non-finite.
    poison_after: Option<usize>,
}

impl Hook for Recorder {
    fn on_start(&mut self, _model: &Network) -> Result<(), TrainError> {
        self.events.push("start".into());
        Ok(())
    }

    fn on_step(&mut self, _model: &Network, steps_done: usize) -> Result<(), TrainError> {
        self.events.push(format!("step {steps_done}"));
        Ok(())
    }

    fn on_readback(&mut self, losses: &[f32]) {
        self.events.push(format!("readback {}", losses.len()));
        self.losses.extend_from_slice(losses);
    }

    fn on_epoch(
        &mut self,
        trainer: &mut Trainer,
        metrics: &EpochMetrics,
        steps_done: usize,
    ) -> Result<(), TrainError> {
        self.events
            .push(format!("epoch {} after {steps_done}", metrics.epoch));
        if self.poison_after == Some(metrics.epoch) {
            let huge = NetworkConfig {
                init_scale: 1e30,
                ..NetworkConfig::guide(ModelKind::Mlp, false)
            };
            let device = trainer.inference_device().clone();
            trainer.set_model(huge.init(1, &device));
        }
        Ok(())
    }
}

#[test]
fn hooks_hear_every_step_readback_and_epoch_in_order() {
    let (train, test) = (separable_set(40, 0), separable_set(10, 3));
    let mut recorder = Recorder::default();
    let mut losses = StepLosses::default();
    let network = NetworkConfig::guide(ModelKind::Mlp, false);
    // 40 samples in batches of 16: 3 steps an epoch, the last one of 8 samples.
    let (result, _) = fit_with(
        &network,
        BackendKind::Flex,
        &training(2),
        (&train, &test),
        &mut [&mut recorder, &mut losses],
    );
    let epochs = result.unwrap();
    let expected = [
        "start",
        "step 1",
        "step 2",
        "step 3",
        "readback 3",
        "epoch 1 after 3",
        "step 4",
        "step 5",
        "step 6",
        "readback 3",
        "epoch 2 after 6",
    ];
    // A slow machine may also read back early (every 250 ms): only the order is fixed then.
    let without_early: Vec<&str> = recorder
        .events
        .iter()
        .map(String::as_str)
        .filter(|e| !e.starts_with("readback") || *e == "readback 3")
        .collect();
    assert_eq!(without_early, expected, "{:?}", recorder.events);
    assert_eq!(recorder.losses.len(), 6);
    assert_eq!(
        losses.0, recorder.losses,
        "every hook hears the same losses"
    );
    // The epoch's training loss is the sample-weighted mean of its step losses.
    let first: f64 = recorder.losses[..3]
        .iter()
        .zip([16.0, 16.0, 8.0])
        .map(|(&l, n)| f64::from(l) * n)
        .sum::<f64>()
        / 40.0;
    assert!((first - epochs[0].train_loss).abs() < 1e-6);
}

#[test]
fn a_run_that_diverges_after_an_epoch_keeps_that_epoch() {
    let (train, test) = (separable_set(64, 0), separable_set(20, 3));
    let mut recorder = Recorder {
        poison_after: Some(1),
        ..Recorder::default()
    };
    let network = NetworkConfig::guide(ModelKind::Mlp, false);
    let (result, _) = fit_with(
        &network,
        BackendKind::Flex,
        &training(3),
        (&train, &test),
        &mut [&mut recorder],
    );
    let err = result.expect_err("weights of 1e30 overflow");
    let TrainError::NonFiniteLoss { epoch, step, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(
        (epoch, step),
        (2, 1),
        "the first step after the poisoned epoch"
    );
    let epochs_seen: Vec<&String> = recorder
        .events
        .iter()
        .filter(|e| e.starts_with("epoch"))
        .collect();
    assert_eq!(epochs_seen, ["epoch 1 after 4"], "epoch 1 was handed over");
    assert!(err.to_string().contains("epoch 2, step 1"), "{err}");
}

#[test]
fn a_learning_rate_of_1e30_diverges_in_the_first_epoch() {
    let set = separable_set(64, 0);
    let network = NetworkConfig::guide(ModelKind::Mlp, false);
    let mut recorder = Recorder::default();
    let training = TrainingConfig {
        learning_rate: 1e30,
        ..training(3)
    };
    let (result, _) = fit_with(
        &network,
        BackendKind::Flex,
        &training,
        (&set, &set),
        &mut [&mut recorder],
    );
    let Err(TrainError::NonFiniteLoss { epoch: 1, step, .. }) = result else {
        panic!("{result:?}")
    };
    assert!((2..=4).contains(&step), "step {step}");
    assert!(!recorder.events.iter().any(|e| e.starts_with("epoch")));
}

/// BatchNorm's momentum moves only its running statistics, which training never uses: two runs
/// that differ only in it train identically. Validation normalizes with the running statistics
/// (inference mode), so it is where they part.
#[test]
fn validation_uses_running_statistics_in_inference_mode() {
    let (train, test) = (separable_set(160, 0), separable_set(60, 3));
    let last_epoch = |momentum: f64| {
        let network = NetworkConfig {
            norm_settings: BatchNormSettings {
                momentum,
                ..BatchNormSettings::default()
            },
            ..NetworkConfig::guide(ModelKind::Cnn, true)
        };
        let (result, _) = fit_with(
            &network,
            BackendKind::Flex,
            &training(3),
            (&train, &test),
            &mut [],
        );
        result.unwrap().pop().unwrap()
    };
    // Keras momentum 1: the running statistics never leave their start (mean 0, variance 1);
    // momentum 0: they are the last batch's.
    let (frozen, fresh) = (last_epoch(1.0), last_epoch(0.0));
    assert_eq!(
        (frozen.train_loss, frozen.train_acc),
        (fresh.train_loss, fresh.train_acc),
        "training does not depend on the running statistics"
    );
    assert!(fresh.train_acc >= 0.9, "{fresh:?}");
    assert!(
        frozen.val_loss > 3.0 * fresh.val_loss,
        "validation must use the running statistics:\nfrozen {frozen:?}\nfresh {fresh:?}"
    );
}

/// The README's symptom on real digits: a CNN+BN after 60 steps classifies its training batches
/// well while validation, dividing by running variances still mostly their initial 1 (the first
/// conv layer's true variance is ~0.005), sits near chance.
#[test]
fn fresh_running_statistics_put_cnn_validation_near_chance() {
    let data = crate::data::datasets::load(
        crate::data::DatasetKind::Mnist,
        &crate::data::datasets::bundled_mnist_dir(),
    )
    .unwrap()
    .limited(Some(640), Some(300));
    let training = TrainingConfig {
        epochs: 3,
        batch_size: 32,
        ..TrainingConfig::default()
    };
    let network = NetworkConfig::guide(ModelKind::Cnn, true);
    let (result, _) = fit_with(
        &network,
        BackendKind::Flex,
        &training,
        (&data.train, &data.test),
        &mut [],
    );
    let last = result.unwrap().pop().unwrap();
    assert!(last.train_acc >= 0.8, "{last:?}");
    assert!(last.val_acc <= 0.3, "{last:?}");
}

#[test]
fn probes_read_the_initial_weights_and_every_n_steps() {
    let device = device(BackendKind::Flex);
    let (train, test) = (separable_set(160, 0), separable_set(40, 3));
    let images = crate::data::ImageBatcher::images(&train, 0..32, &device);
    let mut probe = Probe::new(images, 2, 4);
    let mut losses = StepLosses::default();
    let network = NetworkConfig::guide(ModelKind::Mlp, true);
    fit_with(
        &network,
        BackendKind::Flex,
        &training(2),
        (&train, &test),
        &mut [&mut probe, &mut losses],
    )
    .0
    .unwrap();
    assert_eq!(losses.0.len(), 2 * 10);
    let steps: Vec<usize> = probe.points.iter().map(|p| p.step).collect();
    assert_eq!(steps, [0, 4, 8, 12, 16, 20]);
    // With BatchNorm before the ReLU, BN's input is read too, and it is not BN's output.
    for p in &probe.points {
        let input = p.norm_input.expect("BN's input");
        assert!(input[0] <= input[1] && input[1] <= input[2], "{p:?}");
        assert_ne!(input, [p.p15, p.p50, p.p85]);
        // The first unit's percentiles are its own, not the whole layer's.
        let unit = p.unit.expect("the first unit's input");
        assert!(unit[0] <= unit[1] && unit[1] <= unit[2], "{p:?}");
        assert_ne!(unit, [p.p15, p.p50, p.p85]);
    }
    assert!(
        probe
            .points
            .iter()
            .all(|p| p.p15 <= p.p50 && p.p50 <= p.p85)
    );
}

#[test]
fn initial_variance_share_is_the_start_over_the_running_variance() {
    let device = device(BackendKind::Flex);
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
fn channels_dead_in_training_are_not_stale() {
    let start = 0.99f64.powi(1000);
    let variances = |layers: Vec<Vec<f32>>| super::hooks::RunningVariances {
        steps: 1000,
        momentum: 0.01,
        epsilon: 1e-3,
        layers,
    };
    // A dead channel holds exactly the start: skipped, the live ones decide.
    let stale = variances(vec![vec![start as f32, 0.5], vec![0.005]])
        .stale_share()
        .unwrap();
    assert_eq!((stale.layer, stale.channel), (1, 0));
    assert!((stale.share - start / 0.006).abs() < 1e-6 * stale.share);
    assert_eq!(variances(vec![vec![start as f32]]).stale_share(), None);
}

#[test]
fn percentiles_use_nearest_rank() {
    let values: Vec<f32> = (0..=100).map(|v| v as f32).collect();
    assert_eq!(percentiles(values, [0.15, 0.5, 0.85]), [15.0, 50.0, 85.0]);
    assert_eq!(percentiles(vec![3.0, 1.0, 2.0], [0.0, 1.0]), [1.0, 3.0]);
}

#[test]
fn checkpoint_round_trips() {
    let device = device(BackendKind::Flex);
    let config = NetworkConfig::guide(ModelKind::Mlp, true);
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("model.bpk");
    let mut checkpoint = Checkpoint { path: path.clone() };
    let set = separable_set(32, 0);
    let (result, trainer) = fit_with(
        &config,
        BackendKind::Flex,
        &training(1),
        (&set, &set),
        &mut [&mut checkpoint],
    );
    result.unwrap();
    let trained = trainer.into_model();
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

#[test]
fn recalibration_sets_population_statistics_and_leaves_the_model_alone() {
    let device = device(BackendKind::Flex);
    let network = NetworkConfig::guide(ModelKind::Mlp, true).init(5, &device);
    let set = separable_set(1000, 0);
    let before = network.batch_norms()[0]
        .running_mean
        .value_sync()
        .into_data();
    let recalibrated = recalibrate::recalibrated(&network, &set, &device.clone().autodiff());
    // Two equal batches of 500: the running mean is the whole set's mean, so the first BN layer
    // centres the set exactly (β is 0 at initialization) and scales it to about unit variance.
    let images = crate::data::ImageBatcher::images(&set, 0..1000, &device);
    let Network::Mlp(mlp) = &recalibrated else {
        unreachable!()
    };
    let first = &mlp.hidden[0];
    let z = first.linear.forward(images.flatten::<2>(1, 3));
    // Inference mode: the plain device normalizes with the running statistics.
    let normalized = recalibrated.batch_norms()[0]
        .forward(z)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap();
    let width = normalized.len() / 1000;
    for channel in 0..width {
        let values: Vec<f64> = (0..1000)
            .map(|i| f64::from(normalized[i * width + channel]))
            .collect();
        let mean = values.iter().sum::<f64>() / 1000.0;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 1000.0;
        assert!(mean.abs() < 1e-3, "channel {channel}: mean {mean}");
        assert!(
            var < 1.0 + 1e-3 && var > 0.5,
            "channel {channel}: variance {var}"
        );
    }
    let after = network.batch_norms()[0]
        .running_mean
        .value_sync()
        .into_data();
    assert_eq!(before, after, "the model's own statistics are untouched");
    assert_eq!(
        recalibrated.batch_norms()[0].momentum,
        network.batch_norms()[0].momentum
    );
}

#[test]
fn santurkar_measures_leave_training_alone_and_read_what_they_should() {
    let (train, test) = (separable_set(160, 0), separable_set(40, 3));
    let network = NetworkConfig::guide(ModelKind::Mlp, true);
    let data = (&train, &test);
    let mut plain_losses = StepLosses::default();
    let plain = fit_with(
        &network,
        BackendKind::Flex,
        &training(2),
        data,
        &mut [&mut plain_losses],
    )
    .0
    .unwrap();
    let mut losses = StepLosses::default();
    let mut landscape = landscape::Landscape::new(5);
    // Layer 0 has no layers below it: G′ must equal G. Layer 2 has two.
    let mut none_below = landscape::CovariateShift::new(5, 0);
    let mut two_below = landscape::CovariateShift::new(5, 2);
    let measured = fit_with(
        &network,
        BackendKind::Flex,
        &training(2),
        data,
        &mut [&mut losses, &mut landscape, &mut none_below, &mut two_below],
    )
    .0
    .unwrap();
    assert_eq!(plain_losses.0, losses.0, "measuring changes no weight");
    let numbers = |epochs: &[EpochMetrics]| -> Vec<[f64; 4]> {
        epochs
            .iter()
            .map(|e| [e.train_loss, e.train_acc, e.val_loss, e.val_acc])
            .collect()
    };
    assert_eq!(
        numbers(&plain),
        numbers(&measured),
        "nor BN's running statistics (validation)"
    );

    let steps: Vec<usize> = landscape.points.iter().map(|p| p.step).collect();
    assert_eq!(steps, [0, 5, 10, 15]);
    for p in &landscape.points {
        assert_eq!(p.losses.len(), landscape::STEP_SIZES.len());
        assert!(p.loss.is_finite() && p.grad_norm > 0.0, "{p:?}");
        // Moving along −g lowers the loss for the smallest step early in training, and the
        // gradient changes by a positive amount.
        assert!(
            p.grad_changes.iter().all(|c| c.is_finite() && *c > 0.0),
            "{p:?}"
        );
    }
    assert!(landscape.points[0].losses[0] < landscape.points[0].loss);
    for p in &none_below.points {
        assert!(p.distance() < 1e-3 * p.g_sq.sqrt(), "{p:?}");
        assert!((p.cosine() - 1.0).abs() < 1e-5, "{p:?}");
    }
    assert_eq!(two_below.points.len(), 4);
    assert!(
        two_below
            .points
            .iter()
            .all(|p| p.distance() > 0.0 && p.cosine() < 1.0)
    );
}
