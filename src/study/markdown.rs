//! `REPORT.md`: GitHub-renderable Markdown from study summaries.

use super::analysis::StudySummary;
use super::claims::Finding;
use super::verdict::{Endpoint, Verdict, show_p};
use crate::report::Table;

/// One study's section. `image_dir` is the charts' folder relative to the Markdown file
/// ("" when the file sits next to them); `level` is the heading level.
pub fn section(summary: &StudySummary, image_dir: &str, level: usize) -> String {
    let name = summary.study.name();
    let hashes = "#".repeat(level);
    let image = |file: &str| {
        if image_dir.is_empty() {
            file.to_string()
        } else {
            format!("{image_dir}/{file}")
        }
    };
    let mut md = String::new();
    md.push_str(&format!("{hashes} `{name}` — {}\n\n", summary.title));
    md.push_str(&format!("**Claim.** {}\n\n", summary.claim));
    for (i, finding) in summary.findings.iter().enumerate() {
        // Findings judged by the same rule state it once, after the last of them.
        let next_rule = summary.findings.get(i + 1).map(|f| &f.rule);
        md.push_str(&finding_paragraph(
            finding,
            next_rule != Some(&finding.rule),
        ));
    }
    if let Some(line) = sensitivity(summary) {
        md.push_str(&line);
    }
    md.push_str(&format!(
        "![{name} chart]({})\n\n![{name}: paired differences with 95 % confidence intervals]({})\n\n",
        image(&format!("{name}.png")),
        image("forest.png")
    ));
    for figure in &summary.figures {
        md.push_str(&format!(
            "**{}.** {}\n\n![{}]({})\n\n",
            figure.title,
            figure.description,
            figure.title,
            image(&figure.file)
        ));
    }
    md.push_str("Every paired comparison (claim side − other side, per seed):\n\n");
    md.push_str(&endpoint_table(summary).markdown());
    md.push_str("\nMeans ± sd over seeds, per variant:\n\n");
    md.push_str(&summary.table.markdown());
    md.push_str(&format!(
        "\n**Setup.** {} {} runs.\n\n",
        summary.setup, summary.runs
    ));
    for caveat in &summary.caveats {
        md.push_str(&format!("- {caveat}\n"));
    }
    if !summary.caveats.is_empty() {
        md.push('\n');
    }
    md
}

/// The findings again with recalibrated BatchNorm statistics, when that changes any number.
fn sensitivity(summary: &StudySummary) -> Option<String> {
    let numbers = |findings: &[Finding]| -> Vec<f64> {
        findings
            .iter()
            .flat_map(|f| &f.endpoints)
            .map(|e| e.test.mean)
            .collect()
    };
    if summary.recalibrated.is_empty()
        || numbers(&summary.recalibrated) == numbers(&summary.findings)
    {
        return None;
    }
    let parts: Vec<String> = summary
        .recalibrated
        .iter()
        .map(|f| {
            let scope = if f.scope.is_empty() {
                String::new()
            } else {
                format!("{}: ", f.scope)
            };
            let results: Vec<String> = f
                .endpoints
                .iter()
                .map(|e| match f.endpoints.len() {
                    1 => e.summary(),
                    _ => format!("{} {}", e.label, e.summary()),
                })
                .collect();
            format!("{scope}**{}** ({})", f.verdict, results.join("; "))
        })
        .collect();
    Some(format!(
        "*Sensitivity check* (not the verdict): with every BatchNorm run validated on statistics recomputed over its training data after each epoch (`--recalibrate-bn`; the weights are the same), the primary endpoint gives {}.\n\n",
        parts.join("; ")
    ))
}

fn finding_paragraph(finding: &Finding, with_rule: bool) -> String {
    let scope = if finding.scope.is_empty() {
        String::new()
    } else {
        format!(" ({})", finding.scope)
    };
    let mut md = format!(
        "**Verdict{scope}: {}.** Primary endpoint: {}. ",
        badge(finding.verdict),
        finding.primary
    );
    if finding.endpoints.is_empty() {
        md.push_str("No endpoint to test. ");
    }
    let results: Vec<String> = finding
        .endpoints
        .iter()
        .map(|e| format!("{}: {}", e.label, e.summary()))
        .collect();
    if !results.is_empty() {
        md.push_str(&format!("{}. ", results.join("; ")));
    }
    if let Some(note) = &finding.note {
        md.push_str(note);
        md.push(' ');
    }
    md.push_str("\n\n");
    if with_rule {
        md.push_str(&format!("*Rule.* {}\n\n", finding.rule));
    }
    md
}

/// Primary and secondary endpoints with their tests.
fn endpoint_table(summary: &StudySummary) -> Table {
    let mut rows = Vec::new();
    for finding in &summary.findings {
        for e in &finding.endpoints {
            rows.push(endpoint_row(e, "primary"));
        }
    }
    for e in &summary.secondary {
        rows.push(endpoint_row(e, "secondary"));
    }
    Table::new(
        &[
            "Endpoint",
            "Role",
            "Claimed",
            "Mean difference",
            "95 % CI (t)",
            "95 % CI (bootstrap)",
            "n",
            "p",
            "p (Holm)",
            "d_z",
            "Verdict",
        ],
        rows,
    )
}

fn endpoint_row(e: &Endpoint, role: &str) -> Vec<String> {
    let unit = e.unit;
    let interval = |ci: Option<(f64, f64)>| {
        ci.map_or("–".into(), |(lo, hi)| {
            format!("[{}, {}]", unit.show(lo), unit.show(hi))
        })
    };
    let sidedness = if e.no_worse.is_some() {
        " (one-sided)"
    } else {
        ""
    };
    let show = |p: Option<f64>| {
        p.map_or("–".into(), |p| {
            format!("{}{sidedness}", show_p(p).trim_start_matches("= "))
        })
    };
    // Before adjustment: the t-test's, or the non-inferiority test's.
    let raw = match &e.no_worse {
        Some(test) => test.p,
        None => e.p_adjusted.and(e.test.p_value),
    };
    let p = show(e.p_adjusted);
    let claimed = match &e.no_worse {
        Some(test) => format!("under {}", unit.show(test.margin).trim_start_matches('+')),
        None => e.direction.word().to_string(),
    };
    let mut n = e.test.n.to_string();
    if e.failed_runs > 0 {
        n.push_str(&format!(" ({} failed)", e.failed_runs));
    }
    vec![
        e.label.clone(),
        role.into(),
        claimed,
        unit.show(e.test.mean),
        interval(e.test.ci95),
        interval(e.test.bootstrap95),
        n,
        show(raw),
        p,
        e.test
            .effect_size
            .map_or("–".into(), |d| format!("{d:+.2}")),
        e.verdict.to_string(),
    ]
}

fn badge(verdict: Verdict) -> String {
    verdict.to_string().to_uppercase()
}

/// The whole report: an overview table of verdicts, then every study's section.
pub fn report(summaries: &[StudySummary]) -> String {
    let mut md = String::from("# What does BatchNorm actually do? The guide's claims, tested\n\n");
    md.push_str(
        "Written by `bnx study`. Every number below comes from the runs in the folders next to this file \
         (each with its `config.json`, `metrics.json` and `run.json`); every verdict is computed by the rule \
         printed with it (`src/study/verdict.rs`, with each claim's endpoints in `src/study/claims/`), never by hand. \
         Seed s gives both sides of a comparison the same initial weights and data order, so every comparison is \
         the per-seed paired difference: its mean, 95 % Student-t confidence interval, n, paired t-test p-value \
         before and after Holm's adjustment within a family (a finding's primary endpoints; a study's \
         secondary endpoints, all together), effect size d_z (mean / sd of the differences) and, as a robustness \
         check, a seeded percentile-bootstrap interval (10,000 resamples; with 5 seeds it is narrower than the \
         t interval and is not used for verdicts). Each claim's primary endpoint and rule were fixed in code \
         before the runs; secondary endpoints are reported and never vote.\n\n",
    );
    md.push_str(
        "**What was seen before the endpoints were fixed.** A first version of these studies (3 seeds, \
         42–44, and a \"mean ± sd apart\" rule) was run and read before the current endpoints and rules \
         were written, and seeds 42–44 of the current runs repeat those runs (the same settings and seeds). Between the two, \
         `shift`'s primary endpoint changed from the drift of Ioffe & Szegedy's percentiles (supported \
         then, a secondary now) to cos(G, G′), and `smoothness` and `regularization` changed measures. \
         No primary endpoint or rule has changed since; later, from the same runs, the secondaries \
         became one Holm family per study and `shift` gained Definition 2.1's raw ‖G − G′‖ as a \
         secondary.\n\n",
    );
    let mut budgets: Vec<String> = Vec::new();
    for budget in summaries.iter().map(|s| s.budget.to_string()) {
        if !budgets.contains(&budget) {
            budgets.push(budget);
        }
    }
    if !budgets.is_empty() {
        md.push_str(&format!("Budget: {}.\n\n", budgets.join(", ")));
    }
    md.push_str("| Study | Claim | Part | Primary endpoint: mean difference [95 % CI], n | Verdict |\n|---|---|---|---|---|\n");
    for s in summaries {
        for (i, f) in s.findings.iter().enumerate() {
            let results: Vec<String> = f
                .endpoints
                .iter()
                .map(|e| {
                    if f.endpoints.len() == 1 {
                        e.summary()
                    } else {
                        format!("{}: {}", e.label, e.summary())
                    }
                })
                .collect();
            let (study, claim) = if i == 0 {
                (
                    format!("[`{0}`](#{0}--{1})", s.study.name(), anchor(&s.title)),
                    s.claim.replace('|', "\\|"),
                )
            } else {
                (String::new(), String::new())
            };
            md.push_str(&format!(
                "| {study} | {claim} | {} | {} | **{}** |\n",
                if f.scope.is_empty() { "–" } else { &f.scope },
                if results.is_empty() {
                    "no endpoint qualified".into()
                } else {
                    results.join("; ").replace('|', "\\|")
                },
                badge(f.verdict),
            ));
        }
    }
    md.push('\n');
    for s in summaries {
        md.push_str(&section(s, s.study.name(), 2));
    }
    md
}

/// GitHub's heading anchor for the title part of "`name` — Title".
fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() => Some(c),
            ' ' | '-' => Some('-'),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_escape_pipes() {
        let table = crate::report::Table::new(&["a", "b"], vec![vec!["1 | 2".into(), "3".into()]]);
        assert_eq!(table.markdown(), "| a | b |\n|---|---|\n| 1 \\| 2 | 3 |\n");
    }

    #[test]
    fn anchors_follow_github() {
        assert_eq!(
            anchor("Small batches: BatchNorm vs LayerNorm"),
            "small-batches-batchnorm-vs-layernorm"
        );
    }
}
