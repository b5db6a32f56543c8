//! A study's runs, looked up by variant, typed grid point and seed; per-run measures and the
//! paired endpoints computed from them.

use super::kind::StudyError;
use super::point::Point;
use super::runs::{RunOutcome, RunSpec};
use super::variant::Variant;
use super::verdict::{Direction, Endpoint, RELATIVE_SESOI, Sesoi, Unit, judged_alone};
use crate::report::Table;
use crate::report::stats::Spread;

/// A study's runs: those present, and the grid and seeds they were planned on.
pub struct Runs<'a> {
    pub all: &'a [RunOutcome],
    /// Every planned (variant, point), in plan order.
    planned: Vec<(Variant, Point)>,
    /// Every planned seed, ascending.
    planned_seeds: Vec<u64>,
}

impl<'a> Runs<'a> {
    /// `all` the runs present of the plan `specs` (with `--allow-missing`, some may be absent).
    pub fn new(all: &'a [RunOutcome], specs: &[RunSpec]) -> Self {
        let mut planned: Vec<(Variant, Point)> = Vec::new();
        for spec in specs {
            if !planned.contains(&(spec.series, spec.point)) {
                planned.push((spec.series, spec.point));
            }
        }
        let mut planned_seeds: Vec<u64> = specs.iter().map(RunSpec::seed).collect();
        planned_seeds.sort_unstable();
        planned_seeds.dedup();
        Self {
            all,
            planned,
            planned_seeds,
        }
    }

    /// The same plan over other runs (e.g. a view of these).
    pub fn with_runs<'b>(&self, all: &'b [RunOutcome]) -> Runs<'b> {
        Runs {
            all,
            planned: self.planned.clone(),
            planned_seeds: self.planned_seeds.clone(),
        }
    }

    pub fn get(&self, variant: Variant, point: Point, seed: u64) -> Option<&'a RunOutcome> {
        self.all
            .iter()
            .find(|o| o.spec.series == variant && o.spec.point == point && o.spec.seed() == seed)
    }

    /// Every run of one (variant, point).
    pub fn of(&self, variant: Variant, point: Point) -> Vec<&'a RunOutcome> {
        self.all
            .iter()
            .filter(|o| o.spec.series == variant && o.spec.point == point)
            .collect()
    }

    /// The seeds of the runs present.
    pub fn seeds(&self) -> Vec<u64> {
        let mut seeds: Vec<u64> = self.all.iter().map(|o| o.spec.seed()).collect();
        seeds.sort_unstable();
        seeds.dedup();
        seeds
    }

    /// Grid points with runs present, in plan order.
    pub fn points(&self) -> Vec<Point> {
        let mut seen: Vec<Point> = Vec::new();
        for o in self.all {
            if !seen.contains(&o.spec.point) {
                seen.push(o.spec.point);
            }
        }
        seen
    }

    pub fn variants(&self) -> Vec<Variant> {
        let mut seen: Vec<Variant> = Vec::new();
        for o in self.all {
            if !seen.contains(&o.spec.series) {
                seen.push(o.spec.series);
            }
        }
        seen
    }

    /// Mean ± sd over seeds of `measure` at one (variant, point); NaN values (failed runs
    /// where the measure has no value) are left out of this descriptive number only.
    pub fn spread(&self, variant: Variant, point: Point, measure: Measure) -> Option<Spread> {
        let values: Vec<f64> = self
            .of(variant, point)
            .into_iter()
            .map(measure)
            .filter(|v| v.is_finite())
            .collect();
        (!values.is_empty()).then(|| Spread::of(&values))
    }

    /// A paired endpoint from a per-seed computation over the runs it `needs`. Asking for a
    /// (variant, point) the plan does not have is an error; a planned seed whose run is absent
    /// (`--allow-missing`) is left out; each diverged run is counted.
    pub fn endpoint(
        &self,
        label: impl Into<String>,
        unit: Unit,
        direction: Direction,
        needs: &[(Variant, Point)],
        difference: impl Fn(&SeedRuns) -> f64,
    ) -> Result<Endpoint, StudyError> {
        let label = label.into();
        if let Some((variant, point)) = needs.iter().find(|need| !self.planned.contains(need)) {
            return Err(StudyError::NotInGrid {
                endpoint: label,
                run: format!("{} · {point}", variant.title()),
            });
        }
        let mut per_seed = Vec::new();
        let mut failed = 0;
        for &seed in &self.planned_seeds {
            let found: Option<Vec<&RunOutcome>> = needs
                .iter()
                .map(|(variant, point)| self.get(*variant, *point, seed))
                .collect();
            let Some(found) = found else { continue };
            failed += found.iter().filter(|o| o.diverged.is_some()).count();
            per_seed.push((seed, difference(&SeedRuns { runs: self, seed })));
        }
        Ok(Endpoint::new(label, unit, direction, per_seed, failed))
    }

    /// `measure(claim side) − measure(other side)` per seed.
    pub fn paired(
        &self,
        label: impl Into<String>,
        unit: Unit,
        direction: Direction,
        claim_side: (Variant, Point),
        other_side: (Variant, Point),
        measure: Measure,
    ) -> Result<Endpoint, StudyError> {
        let endpoint = self.endpoint(label, unit, direction, &[claim_side, other_side], |run| {
            measure(run.get(claim_side.0, claim_side.1))
                - measure(run.get(other_side.0, other_side.1))
        })?;
        if endpoint.sesoi.is_some() {
            return Ok(endpoint);
        }
        // A measure without a natural unit: a share of the other side's level.
        let (variant, point) = other_side;
        let level = self
            .spread(variant, point, measure)
            .map_or(f64::NAN, |s| s.mean);
        Ok(endpoint.with_sesoi(Sesoi::relative(RELATIVE_SESOI, level, variant.title())))
    }

    /// `measure` With BN − No BN at `point`, judged on its own: a one-endpoint finding or a
    /// secondary.
    pub fn bn_vs_plain(
        &self,
        label: impl Into<String>,
        point: Point,
        unit: Unit,
        direction: Direction,
        measure: Measure,
    ) -> Result<Endpoint, StudyError> {
        self.paired(
            label,
            unit,
            direction,
            (Variant::Bn, point),
            (Variant::NoBn, point),
            measure,
        )
        .map(judged_alone)
    }

    /// Final validation accuracy With BN − No BN at `point`: the secondary every sweep reports
    /// per grid point.
    pub fn bn_effect(&self, point: Point) -> Result<Endpoint, StudyError> {
        self.bn_vs_plain(
            point.to_string(),
            point,
            Unit::Points,
            Direction::Higher,
            final_accuracy,
        )
    }

    /// A table of mean ± sd per grid point (rows) and variant (columns).
    pub fn means_table(&self, first: &str, what: &str, measure: Measure, unit: Unit) -> Table {
        let variants = self.variants();
        let mut headers = vec![first.to_string()];
        headers.extend(variants.iter().map(|v| format!("{} {what}", v.title())));
        let scale = unit.scale();
        let rows = self
            .points()
            .into_iter()
            .map(|point| {
                let mut row = vec![point.to_string()];
                row.extend(variants.iter().map(|&v| {
                    self.spread(v, point, measure).map_or("–".into(), |s| {
                        let digits = if unit == Unit::Plain { 4 } else { 2 };
                        format!("{:.digits$} ± {:.digits$}", scale * s.mean, scale * s.sd)
                    })
                }));
                row
            })
            .collect();
        Table {
            headers,
            rows,
            align: Vec::new(),
        }
        .numeric()
    }
}

/// One seed's runs, for a per-seed difference.
pub struct SeedRuns<'r, 'a> {
    runs: &'r Runs<'a>,
    seed: u64,
}

impl<'a> SeedRuns<'_, 'a> {
    /// The run of `variant` at `point`; `Runs::endpoint` checked that it exists.
    pub fn get(&self, variant: Variant, point: Point) -> &'a RunOutcome {
        self.runs
            .get(variant, point, self.seed)
            .expect("an endpoint looks up only the runs it checked are present")
    }
}

/// A per-run measure. Accuracy measures score a diverged run at chance (a network with NaN
/// weights guesses); measures with no meaningful value for it return NaN, which makes every
/// endpoint that needs the run inconclusive.
pub type Measure = fn(&RunOutcome) -> f64;

pub fn final_accuracy(run: &RunOutcome) -> f64 {
    run.final_val_acc()
}

/// The mean of a run's finite readings; NaN for a diverged run or one without readings.
pub fn mean_of_readings(run: &RunOutcome, readings: impl Iterator<Item = f64>) -> f64 {
    let values: Vec<f64> = readings.filter(|v| v.is_finite()).collect();
    if run.diverged.is_some() || values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExperimentConfig;
    use crate::study::kind::{Budget, StudyKind};
    use crate::study::plan;

    #[test]
    fn asking_for_a_point_the_grid_lacks_is_an_error_and_a_missing_seed_is_left_out() {
        let specs = plan::runs(
            StudyKind::Lr,
            Budget::Tiny,
            Some(3),
            &ExperimentConfig::default(),
        );
        // Seed 43's runs are missing (as with --allow-missing).
        let outcomes: Vec<RunOutcome> = specs
            .iter()
            .filter(|spec| spec.seed() != 43)
            .map(|spec| {
                let mut run = RunOutcome::diverged_for_tests(spec.clone());
                run.diverged = None;
                run
            })
            .collect();
        let runs = Runs::new(&outcomes, &specs);
        let present = runs.bn_effect(Point::LearningRate(0.01)).unwrap();
        assert_eq!(present.seeds, [42, 44]);
        let absent = runs.bn_effect(Point::LearningRate(0.02)).unwrap_err();
        assert_eq!(
            absent.to_string(),
            "endpoint 'lr 0.02' needs With BN · lr 0.02, which its study's grid does not have"
        );
    }
}
