//! The raw ℓ2 distance ‖G − G′‖ of Santurkar et al.'s Definition 2.1, the quantity their
//! internal covariate shift is defined as (their figures show it next to cos(G, G′)). Derived
//! from the covariate-shift readings a run keeps (‖G‖², ‖G′‖², G·G′), so it records nothing and
//! runs measured before it existed report it too.

use super::covariate_shift;
use super::measurement::Measurement;
use crate::study::kind::StudyError;
use crate::study::lookup::{Runs, mean_of_readings};
use crate::study::runs::RunOutcome;
use crate::study::verdict::{Direction, Endpoint, Unit};
use crate::train::landscape::ShiftPoint;

pub struct GradientDistance;

/// Mean over the run's readings of ‖G − G′‖ (NaN for a diverged run or one without readings).
pub fn gradient_distance(run: &RunOutcome) -> f64 {
    mean_of_readings(
        run,
        covariate_shift::of(run).iter().map(ShiftPoint::distance),
    )
}

impl Measurement for GradientDistance {
    fn id(&self) -> &'static str {
        "gradient_distance"
    }

    /// With BN − No BN at every grid point whose runs read covariate shift.
    fn secondaries(&self, runs: &Runs) -> Result<Vec<Endpoint>, StudyError> {
        runs.points()
            .into_iter()
            .filter(|&point| {
                runs.all
                    .iter()
                    .any(|o| o.spec.point == point && o.measured.contains(covariate_shift::ID))
            })
            .map(|point| {
                runs.bn_vs_plain(
                    format!("{point}: ‖G − G′‖ (Santurkar et al.'s raw ℓ2)"),
                    point,
                    Unit::Plain,
                    Direction::Lower,
                    gradient_distance,
                )
            })
            .collect()
    }

    fn caveat(&self, runs: &Runs) -> Option<String> {
        runs.all
            .iter()
            .any(|o| o.measured.contains(covariate_shift::ID))
            .then(|| {
                "‖G − G′‖ (secondary) is Definition 2.1's raw ℓ2 distance, the mean over a run's readings; it scales with the size of the gradient, which BatchNorm changes, so read it next to ‖G − G′‖ / ‖G‖ and cos(G, G′), which do not.".to_string()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExperimentConfig;
    use crate::study::kind::{Budget, StudyKind};
    use crate::study::plan;
    use crate::study::variant::Variant;

    /// `kind`'s runs over 3 seeds, each with two covariate-shift readings of G·G′ = `dot(run)`
    /// (‖G‖² = 4, ‖G′‖² = 1) when `with_shift`.
    fn runs(kind: StudyKind, with_shift: bool, dot: fn(&RunOutcome) -> f64) -> Vec<RunOutcome> {
        let specs = plan::runs(kind, Budget::Tiny, 3, &ExperimentConfig::default());
        specs
            .into_iter()
            .map(|spec| {
                let mut run = RunOutcome::diverged_for_tests(spec);
                run.diverged = None;
                let reading = ShiftPoint {
                    step: 0,
                    layer: 2,
                    g_sq: 4.0,
                    g_prime_sq: 1.0,
                    dot: dot(&run),
                };
                if with_shift {
                    run.measured
                        .insert(covariate_shift::ID, &vec![reading.clone(), reading]);
                }
                run
            })
            .collect()
    }

    #[test]
    fn it_is_the_raw_distance_with_bn_minus_without_at_each_point_that_read_shift() {
        // With BN ‖G − G′‖ = √(4 + 1 − 2·2) = 1, without √(4 + 1 − 2·0.5) = 2.
        let dot = |run: &RunOutcome| if run.spec.series == Variant::Bn { 2.0 } else { 0.5 };
        let outcomes = runs(StudyKind::Shift, true, dot);
        let specs: Vec<_> = outcomes.iter().map(|o| o.spec.clone()).collect();
        let endpoints = GradientDistance
            .secondaries(&Runs::new(&outcomes, &specs))
            .unwrap();
        let labels: Vec<&str> = endpoints.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "MLP: ‖G − G′‖ (Santurkar et al.'s raw ℓ2)",
                "Sigmoid MLP 3×100: ‖G − G′‖ (Santurkar et al.'s raw ℓ2)"
            ]
        );
        for endpoint in &endpoints {
            assert_eq!(endpoint.direction, Direction::Lower);
            assert_eq!(endpoint.differences, [-1.0; 3]);
        }
        assert!(GradientDistance.caveat(&Runs::new(&outcomes, &specs)).is_some());
    }

    #[test]
    fn runs_without_shift_readings_get_nothing() {
        let outcomes = runs(StudyKind::Lr, false, |_| 0.0);
        let specs: Vec<_> = outcomes.iter().map(|o| o.spec.clone()).collect();
        let runs = Runs::new(&outcomes, &specs);
        assert!(GradientDistance.secondaries(&runs).unwrap().is_empty());
        assert!(GradientDistance.caveat(&runs).is_none());
    }
}
