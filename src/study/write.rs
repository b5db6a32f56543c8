//! A study's written results: its chart, further figures and forest plot (PNG and SVG),
//! `summary.json` and `REPORT.md`, and the overall report over every study in a folder.

use std::path::Path;

use super::analysis::StudySummary;
use super::claims;
use super::kind::{Budget, StudyKind};
use super::lookup::Runs;
use super::markdown;
use super::verdict::{Direction, Endpoint, Unit, Verdict};
use crate::data::LoadedData;
use crate::report::forest::{self, ForestRow, RowOutcome};
use crate::report::{ReportError, charts};
use crate::runtime::{read_json, write_atomic, write_json};

const SUMMARY_FILE: &str = "summary.json";
const REPORT_FILE: &str = "REPORT.md";

/// The study's data, in words.
pub fn data_note(full: &LoadedData, budget: Budget) -> String {
    format!(
        "{} budget on {} ({} training / {} test samples available)",
        budget,
        full.provenance.name,
        full.train.labels().len(),
        full.test.labels().len()
    )
}

/// The chart and forest plot (PNG and SVG), `summary.json` and `REPORT.md` of one study.
pub fn write_study(dir: &Path, summary: &StudySummary, runs: &Runs) -> Result<(), ReportError> {
    let claim = claims::claim(summary.study);
    let panels = claim.panels(runs);
    let figures = claim.figures(runs);
    let title = format!("{}: {}", summary.study.name(), claim.title());
    let (forest_rows, unit) = forest_rows(summary);
    for ext in ["png", "svg"] {
        charts::render(
            &dir.join(format!("{}.{ext}", summary.study.name())),
            &title,
            &panels,
        )?;
        for figure in &figures {
            charts::render(
                &dir.join(format!("{}.{ext}", figure.name)),
                &figure.title,
                &figure.panels,
            )?;
        }
        forest::render(
            &dir.join(format!("forest.{ext}")),
            &format!(
                "{}: paired differences, 95 % CI; colour: the verdict after Holm (blue: for the claim, orange: against, grey: neither)",
                summary.study.name()
            ),
            &format!("Claim side − other side, per seed ({unit})"),
            &forest_rows,
        )?;
    }
    write_json(&dir.join(SUMMARY_FILE), summary)?;
    let section = markdown::section(summary, "", 2);
    write_atomic(&dir.join(REPORT_FILE), section.as_bytes())?;
    Ok(())
}

/// `REPORT.md` and `summary.json` over every study summary found under `out`, in study order.
pub fn write_overall(out: &Path) -> Result<Vec<StudySummary>, ReportError> {
    let mut summaries = Vec::new();
    for kind in StudyKind::ALL {
        let path = out.join(kind.name()).join(SUMMARY_FILE);
        if !path.is_file() {
            continue;
        }
        let summary: StudySummary = read_json(&path)?;
        summaries.push(summary);
    }
    write_json(&out.join(SUMMARY_FILE), &summaries)?;
    write_atomic(
        &out.join(REPORT_FILE),
        markdown::report(&summaries).as_bytes(),
    )?;
    Ok(summaries)
}

/// The forest plot's rows: every primary endpoint, then the secondaries in the same unit.
/// Plain measures share no scale (a cosine next to a drift would squash one of them to a
/// dot), so there only the primaries, which measure one thing, are drawn.
pub fn forest_rows(summary: &StudySummary) -> (Vec<ForestRow>, &'static str) {
    let primaries: Vec<&Endpoint> = summary.findings.iter().flat_map(|f| &f.endpoints).collect();
    let unit = primaries.first().map_or(Unit::Points, |e| e.unit);
    let row = |e: &Endpoint, primary: bool, scope: &str| {
        let scale = e.unit.scale();
        ForestRow {
            label: if scope.is_empty() || e.label.starts_with(scope) {
                e.label.clone()
            } else {
                format!("{scope} · {}", e.label)
            },
            mean: scale * e.test.mean,
            interval: e.test.ci95.map(|(lo, hi)| (scale * lo, scale * hi)),
            claims_higher: e.direction == Direction::Higher,
            margin: e.no_worse.map(|q| scale * q.margin),
            outcome: match e.verdict {
                Verdict::Supported => RowOutcome::ForClaim,
                Verdict::Contradicted => RowOutcome::AgainstClaim,
                Verdict::Inconclusive => RowOutcome::Neither,
            },
            primary,
        }
    };
    let mut rows: Vec<ForestRow> = summary
        .findings
        .iter()
        .flat_map(|f| f.endpoints.iter().map(move |e| (f, e)))
        .map(|(f, e)| row(e, true, &f.scope))
        .collect();
    rows.extend(
        summary
            .secondary
            .iter()
            .filter(|e| e.unit == unit && unit != Unit::Plain)
            .map(|e| row(e, false, "")),
    );
    let words = match unit {
        Unit::Points => "percentage points",
        Unit::Epochs => "epochs",
        Unit::Plain => "the measure's units",
    };
    (rows, words)
}
