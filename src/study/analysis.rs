//! From a study's runs to its summary: the claim's findings and secondaries, the per-variant
//! table, and the caveats the raw runs call for.

use serde::{Deserialize, Serialize};

use super::claims::{Finding, claim};
use super::kind::{Budget, CHANCE_ACCURACY, StudyError, StudyKind};
use super::lookup::Runs;
use super::measures::{self, recalibrated};
use super::options::StudyOptions;
use super::plan;
use super::runs::{RunOutcome, RunSpec, Scale};
use super::verdict::{Alternative, Endpoint, Verdict, judge_differences, sign_flip_alternative};
use crate::model::ModelKind;

pub use crate::report::Table;

/// Everything the report says about one study; `summary.json` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudySummary {
    pub study: StudyKind,
    pub title: String,
    pub claim: String,
    /// Networks, data, epochs and seeds, in words.
    pub setup: String,
    /// One verdict per part of the claim, each with its primary endpoint and rule.
    pub findings: Vec<Finding>,
    /// Reported with their tests; never part of a verdict.
    pub secondary: Vec<Endpoint>,
    pub table: Table,
    /// Further charts next to the study's own (e.g. a paper's figure reproduced).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub figures: Vec<FigureNote>,
    pub caveats: Vec<String>,
    pub budget: Budget,
    pub seeds: Vec<u64>,
    pub runs: usize,
    pub diverged_runs: usize,
}

impl StudySummary {
    /// "supported" or "MLP: supported; CNN: inconclusive".
    pub fn verdicts(&self) -> String {
        match self.findings.as_slice() {
            [] => Verdict::Inconclusive.to_string(),
            [only] if only.scope.is_empty() => only.verdict.to_string(),
            many => many
                .iter()
                .map(|f| format!("{}: {}", f.scope, f.verdict))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

/// A further chart of a study, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureNote {
    /// The PNG next to the study's chart.
    pub file: String,
    pub title: String,
    pub description: String,
}

/// Reduces a study's runs to its summary and verdicts.
pub fn analyze(
    study: StudyKind,
    options: &StudyOptions,
    runs: &Runs,
    data_note: &str,
) -> Result<StudySummary, StudyError> {
    let claim = claim(study);
    let outcomes = runs.all;
    let mut judgement = claim.judge(runs)?;
    judgement.secondary.extend(measures::secondaries(runs)?);
    // The secondaries are one family: each p-value is Holm-adjusted over all of them, and each
    // verdict read from the adjusted one (they never vote on the claim).
    judge_differences(&mut judgement.secondary);
    if outcomes.iter().any(|o| !recalibrated::of(o).is_empty()) {
        let view: Vec<RunOutcome> = outcomes.iter().map(recalibrated::view).collect();
        let again = claim.judge(&runs.with_runs(&view))?.findings;
        add_recalibrated(&mut judgement.findings, &again);
    }
    for finding in &mut judgement.findings {
        let alternative = sign_flip_alternative(&finding.endpoints);
        finding.alternatives.insert(0, alternative);
    }
    let mut caveats = Vec::new();
    let diverged = outcomes.iter().filter(|o| o.diverged.is_some()).count();
    if diverged > 0 {
        caveats.push(format!(
            "{diverged} of {} runs diverged (the loss became non-finite). None is dropped: accuracy measures score a diverged run at chance ({:.0} %); measures without a value for it (gaps, losses, roughness, drift) make every endpoint that needs the run inconclusive.",
            outcomes.len(),
            100.0 * CHANCE_ACCURACY
        ));
    }
    caveats.extend(measures::caveats(runs));
    caveats.extend(shared_runs(study, options));
    caveats.extend(claim.notes());
    let seeds = runs.seeds();
    Ok(StudySummary {
        study,
        title: claim.title().into(),
        claim: claim.claim().into(),
        setup: setup(outcomes, data_note, options),
        findings: judgement.findings,
        secondary: judgement.secondary,
        table: judgement.table,
        figures: claim
            .figures(runs)
            .into_iter()
            .map(|f| FigureNote {
                file: format!("{}.png", f.name),
                title: f.title,
                description: f.description,
            })
            .collect(),
        caveats,
        budget: options.budget,
        seeds,
        runs: outcomes.len(),
        diverged_runs: diverged,
    })
}

/// Which of `study`'s grid points another study trains with exactly the same settings and
/// seeds. Each study trains its own copy, bit for bit the same, so such rows are the same
/// evidence shown again, never a replication.
fn shared_runs(study: StudyKind, options: &StudyOptions) -> Option<String> {
    let plan = |kind| plan::runs(kind, options.budget, Some(1), &options.base);
    let others: Vec<(StudyKind, Vec<RunSpec>)> = StudyKind::ALL
        .into_iter()
        .filter(|&kind| kind != study)
        .map(|kind| (kind, plan(kind)))
        .collect();
    let lines: Vec<String> = plan(study)
        .iter()
        .filter_map(|spec| {
            let same: Vec<String> = others
                .iter()
                .flat_map(|(kind, specs)| {
                    specs
                        .iter()
                        .filter(|other| other.config == spec.config)
                        .map(move |other| format!("`{kind}`'s {}", described(other)))
                })
                .collect();
            (!same.is_empty()).then(|| format!("{} = {}", described(spec), same.join(" = ")))
        })
        .collect();
    (!lines.is_empty()).then(|| {
        format!(
            "Shared runs: {}. The same settings and seeds give the same numbers: each study keeps its own copy of such a run (trained again, or copied from the study that trained it with the same plan), so those rows are the same evidence shown again, not independent replications.",
            lines.join("; ")
        )
    })
}

fn described(spec: &RunSpec) -> String {
    format!("{} · {}", spec.series.title(), spec.point)
}

/// Each finding's verdict with every BatchNorm run validated on statistics recomputed over its
/// training data (`again`, the same claim judged on that view), where that changes a number.
fn add_recalibrated(findings: &mut [Finding], again: &[Finding]) {
    let means = |f: &Finding| -> Vec<f64> { f.endpoints.iter().map(|e| e.test.mean).collect() };
    for finding in findings {
        let Some(other) = again.iter().find(|f| f.scope == finding.scope) else {
            continue;
        };
        if means(other) == means(finding) {
            continue;
        }
        finding.alternatives.push(Alternative {
            name: "BatchNorm validated on recalibrated statistics (`--recalibrate-bn`: recomputed over the training data after each epoch; the weights are the same)".into(),
            verdict: other.verdict,
            detail: other.results().join("; "),
        });
    }
}

fn setup(outcomes: &[RunOutcome], data_note: &str, options: &StudyOptions) -> String {
    let mut parts: Vec<String> = Vec::new();
    // One line per network and scale: a grid point trained at another scale than its network's
    // first (the shift study's sigmoid network) is named with its batch size.
    let mut described: Vec<(ModelKind, Scale)> = Vec::new();
    for run in outcomes {
        let (model, scale) = (run.spec.model(), run.spec.scale());
        if described.contains(&(model, scale)) {
            continue;
        }
        let who = if described.iter().any(|(m, _)| *m == model) {
            format!(
                "{} (batch {})",
                run.spec.point, run.spec.config.training.batch_size
            )
        } else {
            model.name().to_uppercase()
        };
        described.push((model, scale));
        let samples = |limit: Option<usize>, what: &str| match limit {
            Some(n) => format!("the first {n} {what} samples"),
            None => format!("all {what} samples"),
        };
        parts.push(format!(
            "{who}: {} epochs on {}, validated on {}",
            scale.epochs,
            samples(scale.limit_train, "training"),
            samples(scale.limit_test, "test")
        ));
    }
    format!(
        "{}. Adam (lr {} and batch {} unless varied), Keras defaults otherwise; {}; {} backend; {}.",
        parts.join("; "),
        options.base.training.learning_rate,
        options.base.training.batch_size,
        plan::describe_seeds(outcomes.iter().map(|o| &o.spec)),
        options.backend.kind,
        data_note
    )
}
