//! Each study's grid: which networks, settings and data every run gets, per budget.

use super::{Budget, RunSpec, Scale, StudyKind};
use crate::config::ExperimentConfig;
use crate::model::{ModelKind, NetworkConfig, NormKind, NormPosition};

pub const LEARNING_RATES: [f64; 7] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1];
pub const INIT_SCALES: [f64; 6] = [0.01, 0.1, 0.3, 1.0, 3.0, 10.0];
pub const BATCH_SIZES: [usize; 6] = [2, 4, 8, 16, 32, 128];
pub const DEPTHS: [usize; 4] = [2, 4, 8, 16];
/// Width of every hidden layer in the depth study.
pub const DEPTH_WIDTH: usize = 64;
/// Probe the shift study's hidden layer every this many steps.
pub const PROBE_EVERY: usize = 10;

pub const NO_BN: &str = "No BN";
pub const WITH_BN: &str = "With BN";
pub const BN_BEFORE: &str = "BN before ReLU";
pub const BN_AFTER: &str = "BN after ReLU";

/// The data and epochs a run of `study` on `model` gets under `budget`.
pub fn scale(budget: Budget, study: StudyKind, model: ModelKind) -> Scale {
    let scale = |train, test, epochs| Scale {
        limit_train: train,
        limit_test: test,
        epochs,
    };
    match (budget, study, model) {
        (Budget::Tiny, StudyKind::Regularization, _) => scale(None, None, 3),
        (Budget::Tiny, _, _) => scale(None, None, 2),
        // The CNN costs ~35× the MLP per sample on a CPU, but fewer than ~900 steps leave
        // BatchNorm's first conv layer validating with a running variance that is mostly its
        // initial 1 (its true variance is ~0.005): 939 steps, a smaller test subset.
        (Budget::Quick, _, ModelKind::Cnn) => scale(Some(10_000), Some(2_000), 3),
        (Budget::Quick, StudyKind::Convergence, _) => scale(Some(10_000), None, 5),
        // Overfitting needs few samples and many epochs.
        (Budget::Quick, StudyKind::Regularization, _) => scale(Some(2_000), None, 15),
        (Budget::Quick, _, _) => scale(Some(10_000), None, 3),
        (Budget::Full, StudyKind::Convergence, _) => scale(None, None, 10),
        (Budget::Full, StudyKind::Position, ModelKind::Cnn) => scale(None, None, 5),
        (Budget::Full, StudyKind::Regularization, _) => scale(Some(10_000), None, 30),
        (Budget::Full, _, _) => scale(None, None, 5),
    }
}

/// Every run of `study`, `seeds` seeds each (starting at `base.training.seed`), in the order
/// they train. Each run's config is `base` with what the study varies and the budget's scale.
pub fn runs(
    study: StudyKind,
    budget: Budget,
    seeds: usize,
    base: &ExperimentConfig,
) -> Vec<RunSpec> {
    let guide = |model: ModelKind, norm: NormKind| NetworkConfig {
        norm_settings: base.network.norm_settings,
        ..NetworkConfig::guide(model, false).with_norm(norm)
    };
    let bn_pair = |model| {
        [
            (NO_BN, guide(model, NormKind::None)),
            (WITH_BN, guide(model, NormKind::Batch)),
        ]
    };
    // (series, point, x, network, learning rate, batch size)
    let mut grid: Vec<(String, String, f64, NetworkConfig, f64, usize)> = Vec::new();
    let (lr, batch) = (base.training.learning_rate, base.training.batch_size);
    match study {
        StudyKind::Convergence
        | StudyKind::Regularization
        | StudyKind::Smoothness
        | StudyKind::Shift => {
            let models: &[ModelKind] = if study == StudyKind::Convergence {
                &ModelKind::ALL
            } else {
                &[ModelKind::Mlp]
            };
            for &model in models {
                for (series, network) in bn_pair(model) {
                    grid.push((
                        series.into(),
                        model.name().to_uppercase(),
                        0.0,
                        network,
                        lr,
                        batch,
                    ));
                }
            }
        }
        StudyKind::Lr => {
            for rate in LEARNING_RATES {
                for (series, network) in bn_pair(ModelKind::Mlp) {
                    grid.push((
                        series.into(),
                        format!("lr {rate}"),
                        rate,
                        network,
                        rate,
                        batch,
                    ));
                }
            }
        }
        StudyKind::Init => {
            for init_scale in INIT_SCALES {
                for (series, network) in bn_pair(ModelKind::Mlp) {
                    let network = NetworkConfig {
                        init_scale,
                        ..network
                    };
                    grid.push((
                        series.into(),
                        format!("init {init_scale}"),
                        init_scale,
                        network,
                        lr,
                        batch,
                    ));
                }
            }
        }
        StudyKind::Batch => {
            for size in BATCH_SIZES {
                for norm in NormKind::ALL {
                    let network = guide(ModelKind::Mlp, norm);
                    grid.push((
                        norm.title().into(),
                        format!("batch {size}"),
                        size as f64,
                        network,
                        lr,
                        size,
                    ));
                }
            }
        }
        StudyKind::Position => {
            // The CNN's nine runs would double the quick budget: it joins in the full one.
            let models: &[ModelKind] = if budget == Budget::Full {
                &ModelKind::ALL
            } else {
                &[ModelKind::Mlp]
            };
            for &model in models {
                let point = model.name().to_uppercase();
                let before = guide(model, NormKind::Batch);
                let after = NetworkConfig {
                    position: NormPosition::After,
                    ..before.clone()
                };
                grid.push((
                    NO_BN.into(),
                    point.clone(),
                    0.0,
                    guide(model, NormKind::None),
                    lr,
                    batch,
                ));
                grid.push((BN_BEFORE.into(), point.clone(), 0.0, before, lr, batch));
                grid.push((BN_AFTER.into(), point, 0.0, after, lr, batch));
            }
        }
        StudyKind::Depth => {
            for depth in DEPTHS {
                for (series, network) in bn_pair(ModelKind::Mlp) {
                    let network = NetworkConfig {
                        mlp_widths: vec![DEPTH_WIDTH; depth],
                        ..network
                    };
                    grid.push((
                        series.into(),
                        format!("depth {depth}"),
                        depth as f64,
                        network,
                        lr,
                        batch,
                    ));
                }
            }
        }
    }
    let mut specs = Vec::with_capacity(grid.len() * seeds);
    // Seed-major order: after the first seed every grid point has a result.
    for seed in (0..seeds as u64).map(|i| base.training.seed + i) {
        for (series, point, x, network, learning_rate, batch_size) in &grid {
            let scale = scale(budget, study, network.model);
            let mut config = base.clone();
            config.network = network.clone();
            config.training.learning_rate = *learning_rate;
            config.training.batch_size = *batch_size;
            config.training.seed = seed;
            config.training.epochs = scale.epochs;
            config.data.limit_train = scale.limit_train;
            config.data.limit_test = scale.limit_test;
            specs.push(RunSpec {
                series: series.clone(),
                point: point.clone(),
                x: *x,
                config,
                probe_every: (study == StudyKind::Shift).then_some(PROBE_EVERY),
                record_steps: study == StudyKind::Smoothness,
            });
        }
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_have_the_expected_size_and_share_seeds() {
        let base = ExperimentConfig::default();
        let count = |study| runs(study, Budget::Quick, 3, &base).len();
        assert_eq!(count(StudyKind::Convergence), 2 * 2 * 3);
        assert_eq!(count(StudyKind::Lr), 7 * 2 * 3);
        assert_eq!(count(StudyKind::Batch), 6 * 4 * 3);
        assert_eq!(count(StudyKind::Position), 3 * 3);
        assert_eq!(
            runs(StudyKind::Position, Budget::Full, 3, &base).len(),
            2 * 3 * 3
        );
        let seeds: std::collections::BTreeSet<u64> =
            runs(StudyKind::Depth, Budget::Quick, 3, &base)
                .iter()
                .map(|s| s.seed())
                .collect();
        assert_eq!(seeds.into_iter().collect::<Vec<_>>(), [42, 43, 44]);
    }

    #[test]
    fn variants_differ_only_in_what_the_study_varies() {
        let base = ExperimentConfig::default();
        for spec in runs(StudyKind::Batch, Budget::Quick, 1, &base) {
            assert_eq!(spec.config.training.learning_rate, 1e-3);
            assert_eq!(spec.config.network.mlp_widths, [128, 64, 32]);
            assert_eq!(spec.x as usize, spec.config.training.batch_size);
        }
        let depth = runs(StudyKind::Depth, Budget::Quick, 1, &base);
        assert!(
            depth
                .iter()
                .all(|s| s.config.network.mlp_widths.len() as f64 == s.x
                    && s.config.training.batch_size == 32)
        );
        let shift = runs(StudyKind::Shift, Budget::Quick, 1, &base);
        assert!(
            shift
                .iter()
                .all(|s| s.probe_every == Some(PROBE_EVERY) && s.model() == ModelKind::Mlp)
        );
        let init = runs(StudyKind::Init, Budget::Quick, 1, &base);
        assert!(init.iter().all(|s| s.config.network.init_scale == s.x));
    }

    #[test]
    fn quick_budget_gives_bn_statistics_time_to_forget_their_start() {
        // At batch 32, at least ~900 steps: 0.99^900 ≈ 1e-4 of the initial running variance
        // is left, under 1 % of even the first conv layer's ~0.005 (larger batches of the batch
        // study take fewer steps; that study's report flags them).
        for study in StudyKind::ALL {
            for model in ModelKind::ALL {
                let scale = scale(Budget::Quick, study, model);
                let steps = scale.epochs * scale.limit_train.unwrap().div_ceil(32);
                assert!(steps >= 900, "{study} {model}: {steps} steps");
            }
        }
    }
}
