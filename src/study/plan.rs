//! A study's runs: its claim's grid, times the seeds, each run's config resolved; which of
//! them an invocation trains (its network, its shard).

use super::claims::{GridPoint, claim};
use super::kind::{Budget, StudyError, StudyKind};
use super::measures::EVERY_RUN;
use super::options::StudyOptions;
use super::point::Point;
use super::runs::{RunSpec, Schedule};
use super::shard::StudyMode;
use crate::config::ExperimentConfig;
use crate::model::ModelKind;

/// Each study's runs, in plan order.
pub type Plans = Vec<(StudyKind, Vec<RunSpec>)>;

/// Every run of `study`, in the order they train: each grid point with `seeds` seeds, or with
/// the claim's own count when `None`, starting at `base.training.seed`. Each run's config is
/// `base` with what the study varies and the budget's scale.
pub fn runs(
    study: StudyKind,
    budget: Budget,
    seeds: Option<usize>,
    base: &ExperimentConfig,
) -> Vec<RunSpec> {
    let claim = claim(study);
    let grid: Vec<(GridPoint, usize)> = claim
        .grid(budget, base)
        .into_iter()
        .map(|point| {
            let count = seeds.unwrap_or_else(|| claim.seeds(budget, &point));
            (point, count)
        })
        .collect();
    let most = grid.iter().map(|(_, count)| *count).max().unwrap_or(0);
    let mut specs = Vec::new();
    // Seed-major order: after the first seed every grid point has a result.
    for i in 0..most {
        for (point, _) in grid.iter().filter(|(_, count)| i < *count) {
            let scale = claim.scale(budget, point);
            let mut measures = claim.measures(budget, point);
            for id in EVERY_RUN {
                measures.insert(id.into(), Schedule::EveryEpoch);
            }
            let mut config = base.clone();
            config.network = point.network.clone();
            config.training.learning_rate = point.learning_rate;
            config.training.batch_size = point.batch_size;
            config.training.seed = base.training.seed + i as u64;
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

/// The seeds of `specs`: "seeds 42–51" where every grid point has the same, else per point in
/// plan order, e.g. "seeds 42–51 (MLP), 42–46 (CNN)".
pub fn describe_seeds<'a>(specs: impl IntoIterator<Item = &'a RunSpec>) -> String {
    let mut by_point: Vec<(Point, Vec<u64>)> = Vec::new();
    for spec in specs {
        match by_point.iter_mut().find(|(p, _)| *p == spec.point) {
            Some((_, seeds)) => seeds.push(spec.seed()),
            None => by_point.push((spec.point, vec![spec.seed()])),
        }
    }
    let mut parts: Vec<(Point, String)> = by_point
        .into_iter()
        .map(|(point, mut seeds)| {
            seeds.sort_unstable();
            seeds.dedup();
            (point, seed_list(&seeds))
        })
        .collect();
    if parts.iter().all(|(_, seeds)| *seeds == parts[0].1) {
        parts.truncate(1);
    }
    match parts.as_slice() {
        [] => "no seeds".into(),
        [(_, seeds)] => format!("seeds {seeds}"),
        _ => {
            let each: Vec<String> = parts
                .iter()
                .map(|(point, seeds)| format!("{seeds} ({point})"))
                .collect();
            format!("seeds {}", each.join(", "))
        }
    }
}

/// "42–51" for consecutive seeds, "42, 44" otherwise.
fn seed_list(seeds: &[u64]) -> String {
    match seeds {
        [first, .., last] if last - first + 1 == seeds.len() as u64 => format!("{first}–{last}"),
        _ => seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
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
        let count = |study| runs(study, Budget::Quick, Some(5), &base).len();
        assert_eq!(count(StudyKind::Convergence), 2 * 2 * 5);
        assert_eq!(count(StudyKind::Lr), 7 * 2 * 5);
        assert_eq!(count(StudyKind::Batch), 6 * 4 * 5);
        assert_eq!(count(StudyKind::Position), 3 * 5);
        assert_eq!(count(StudyKind::Depth), DEPTHS.len() * 2 * 5);
        assert_eq!(
            runs(StudyKind::Position, Budget::Full, Some(3), &base).len(),
            2 * 3 * 3
        );
        let seeds: std::collections::BTreeSet<u64> =
            runs(StudyKind::Depth, Budget::Quick, Some(3), &base)
                .iter()
                .map(|s| s.seed())
                .collect();
        assert_eq!(seeds.into_iter().collect::<Vec<_>>(), [42, 43, 44]);
    }

    #[test]
    fn each_claim_declares_its_seeds_and_the_flag_overrides_them() {
        let base = ExperimentConfig::default();
        let seeds_of = |study, budget, seeds, model: ModelKind, point: Option<Point>| {
            let mut seeds: Vec<u64> = runs(study, budget, seeds, &base)
                .iter()
                .filter(|s| s.model() == model && point.is_none_or(|p| s.point == p))
                .map(RunSpec::seed)
                .collect();
            seeds.sort_unstable();
            seeds.dedup();
            seeds.len()
        };
        use ModelKind::{Cnn, Mlp};
        let full = Budget::Full;
        assert_eq!(seeds_of(StudyKind::Convergence, full, None, Mlp, None), 10);
        assert_eq!(seeds_of(StudyKind::Convergence, full, None, Cnn, None), 5);
        assert_eq!(seeds_of(StudyKind::Lr, full, None, Mlp, None), 10);
        assert_eq!(seeds_of(StudyKind::Batch, full, None, Mlp, None), 5);
        let sigmoid = Some(Point::SigmoidMlp);
        let guide = Some(Point::Network(Mlp));
        assert_eq!(seeds_of(StudyKind::Shift, full, None, Mlp, guide), 10);
        assert_eq!(seeds_of(StudyKind::Shift, full, None, Mlp, sigmoid), 5);
        for study in StudyKind::ALL {
            assert_eq!(
                seeds_of(study, Budget::Quick, None, Mlp, None),
                5,
                "{study}"
            );
            assert_eq!(seeds_of(study, full, Some(2), Mlp, None), 2, "{study}");
        }
        // Seed-major: the first seed of every grid point comes first.
        let convergence = runs(StudyKind::Convergence, full, None, &base);
        assert!(convergence[..4].iter().all(|s| s.seed() == 42));
        assert_eq!(convergence.len(), 2 * 10 + 2 * 5);
        assert_eq!(
            describe_seeds(&convergence),
            "seeds 42–51 (MLP), 42–46 (CNN)"
        );
        assert_eq!(
            describe_seeds(&runs(StudyKind::Shift, full, None, &base)),
            "seeds 42–51 (MLP), 42–46 (Sigmoid MLP 3×100)"
        );
        assert_eq!(
            describe_seeds(&runs(StudyKind::Lr, Budget::Quick, None, &base)),
            "seeds 42–46"
        );
    }

    #[test]
    fn variants_differ_only_in_what_the_study_varies() {
        let base = ExperimentConfig::default();
        for spec in runs(StudyKind::Batch, Budget::Quick, Some(1), &base) {
            assert_eq!(spec.config.training.learning_rate, 1e-3);
            assert_eq!(spec.config.network.mlp_widths, [128, 64, 32]);
            assert_eq!(spec.x() as usize, spec.config.training.batch_size);
        }
        let depth = runs(StudyKind::Depth, Budget::Quick, Some(1), &base);
        assert!(
            depth
                .iter()
                .all(|s| s.config.network.mlp_widths.len() as f64 == s.x()
                    && s.config.training.batch_size == 32)
        );
        let shift = runs(StudyKind::Shift, Budget::Quick, Some(1), &base);
        assert!(shift.iter().all(|s| s.measures.contains_key("probes")
            && s.measures.contains_key("bn_running_var")
            && s.model() == ModelKind::Mlp));
        let init = runs(StudyKind::Init, Budget::Quick, Some(1), &base);
        assert!(init.iter().all(|s| s.config.network.init_scale == s.x()));
        let lr = runs(StudyKind::Lr, Budget::Quick, Some(1), &base);
        assert!(lr.iter().all(|s| s.config.training.learning_rate == s.x()));
        let position = runs(StudyKind::Position, Budget::Quick, Some(1), &base);
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
            for spec in runs(study, Budget::Quick, Some(1), &ExperimentConfig::default()) {
                let scale = spec.scale();
                let batch = spec.config.training.batch_size.min(32);
                let steps = scale.epochs * scale.limit_train.unwrap().div_ceil(batch);
                assert!(steps >= 900, "{study} {}: {steps} steps", spec.point);
            }
        }
        assert_eq!(default_scale(Budget::Full, ModelKind::Cnn).epochs, 5);
    }
}
