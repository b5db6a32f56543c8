//! A study's runs: its claim's grid, times the seeds, each run's config resolved; which of
//! them an invocation trains (its network, its shard).

use super::claims::claim;
use super::kind::{Budget, StudyError, StudyKind};
use super::measures::EVERY_RUN;
use super::options::StudyOptions;
use super::runs::{RunSpec, Schedule};
use super::shard::StudyMode;
use crate::config::ExperimentConfig;
use crate::model::ModelKind;

/// Each study's runs, in plan order.
pub type Plans = Vec<(StudyKind, Vec<RunSpec>)>;

/// Every run of `study`, `seeds` seeds each (starting at `base.training.seed`), in the order
/// they train. Each run's config is `base` with what the study varies and the budget's scale.
pub fn runs(
    study: StudyKind,
    budget: Budget,
    seeds: usize,
    base: &ExperimentConfig,
) -> Vec<RunSpec> {
    let claim = claim(study);
    let grid = claim.grid(budget, base);
    let mut specs = Vec::with_capacity(grid.len() * seeds);
    // Seed-major order: after the first seed every grid point has a result.
    for seed in (0..seeds as u64).map(|i| base.training.seed + i) {
        for point in &grid {
            let scale = claim.scale(budget, point);
            let mut measures = claim.measures(budget, point);
            for id in EVERY_RUN {
                measures.insert(id.into(), Schedule::EveryEpoch);
            }
            let mut config = base.clone();
            config.network = point.network.clone();
            config.training.learning_rate = point.learning_rate;
            config.training.batch_size = point.batch_size;
            config.training.seed = seed;
            config.training.epochs = scale.epochs;
            config.data.limit_train = scale.limit_train;
            config.data.limit_test = scale.limit_test;
            specs.push(RunSpec {
                series: point.variant,
                point: point.point,
                config,
                measures,
            });
        }
    }
    specs
}

/// The plans of the studies `options` names, each cut to its `--model`; studies left with no
/// run are dropped, and an empty whole is an error.
pub fn plans(options: &StudyOptions) -> Result<Plans, StudyError> {
    let plans: Plans = options
        .studies
        .iter()
        .map(|&kind| {
            let mut runs = runs(kind, options.budget, options.seeds, &options.base);
            runs.retain(|spec| options.model.is_none_or(|model| spec.model() == model));
            (kind, runs)
        })
        .filter(|(_, runs)| !runs.is_empty())
        .collect();
    if plans.is_empty() {
        let studies: Vec<&str> = options.studies.iter().map(|k| k.name()).collect();
        return Err(StudyError::NothingPlanned {
            studies: studies.join(", "),
            network: options
                .model
                .map_or("chosen network", ModelKind::name)
                .into(),
        });
    }
    Ok(plans)
}

/// The runs of `plans` this invocation trains: all of them, or its shard's. Positions count
/// over the whole plan, so every shard deals the same plan the same way.
pub fn deal(plans: Plans, mode: StudyMode) -> Plans {
    let mut position = 0;
    plans
        .into_iter()
        .map(|(kind, specs)| {
            let mine = specs
                .into_iter()
                .filter(|_| {
                    position += 1;
                    match mode {
                        StudyMode::Shard(shard) => shard.takes(position - 1),
                        _ => true,
                    }
                })
                .collect();
            (kind, mine)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::claims::{DEPTHS, default_scale};
    use crate::study::variant::Variant;

    #[test]
    fn grids_have_the_expected_size_and_share_seeds() {
        let base = ExperimentConfig::default();
        let count = |study| runs(study, Budget::Quick, 5, &base).len();
        assert_eq!(count(StudyKind::Convergence), 2 * 2 * 5);
        assert_eq!(count(StudyKind::Lr), 7 * 2 * 5);
        assert_eq!(count(StudyKind::Batch), 6 * 4 * 5);
        assert_eq!(count(StudyKind::Position), 3 * 5);
        assert_eq!(count(StudyKind::Depth), DEPTHS.len() * 2 * 5);
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
            assert_eq!(spec.x() as usize, spec.config.training.batch_size);
        }
        let depth = runs(StudyKind::Depth, Budget::Quick, 1, &base);
        assert!(
            depth
                .iter()
                .all(|s| s.config.network.mlp_widths.len() as f64 == s.x()
                    && s.config.training.batch_size == 32)
        );
        let shift = runs(StudyKind::Shift, Budget::Quick, 1, &base);
        assert!(shift.iter().all(|s| s.measures.contains_key("probes")
            && s.measures.contains_key("bn_running_var")
            && s.model() == ModelKind::Mlp));
        let init = runs(StudyKind::Init, Budget::Quick, 1, &base);
        assert!(init.iter().all(|s| s.config.network.init_scale == s.x()));
        let lr = runs(StudyKind::Lr, Budget::Quick, 1, &base);
        assert!(lr.iter().all(|s| s.config.training.learning_rate == s.x()));
        let position = runs(StudyKind::Position, Budget::Quick, 1, &base);
        let after = position
            .iter()
            .find(|s| s.series == Variant::BnAfter)
            .unwrap();
        assert_eq!(
            after.config.network.position,
            crate::model::NormPosition::After
        );
    }

    #[test]
    fn quick_budget_gives_bn_statistics_time_to_forget_their_start() {
        // At batch 32, at least ~900 steps: 0.99^900 ≈ 1e-4 of the initial running variance
        // is left, under 1 % of even the first conv layer's ~0.005 (larger batches of the batch
        // study take fewer steps; that study's report flags them).
        for study in StudyKind::ALL {
            for spec in runs(study, Budget::Quick, 1, &ExperimentConfig::default()) {
                let scale = spec.scale();
                let batch = spec.config.training.batch_size.min(32);
                let steps = scale.epochs * scale.limit_train.unwrap().div_ceil(batch);
                assert!(steps >= 900, "{study} {}: {steps} steps", spec.point);
            }
        }
        assert_eq!(default_scale(Budget::Full, ModelKind::Cnn).epochs, 5);
    }
}
