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
    md.push_str(&robustness(finding));
    md.push_str(&power(finding));
    md
}

/// The verdict under each declared alternative, and whether any changes it.
fn robustness(finding: &Finding) -> String {
    if finding.alternatives.is_empty() {
        return String::new();
    }
    let mut parts = vec![format!("The rule's t-test: **{}**", finding.verdict)];
    parts.extend(
        finding
            .alternatives
            .iter()
            .map(|a| format!("{}: **{}** ({})", a.name, a.verdict, a.detail)),
    );
    let changes: Vec<&str> = finding.disagreeing().map(|a| short_name(&a.name)).collect();
    let conclusion = if changes.is_empty() {
        "The verdict holds under every alternative.".to_string()
    } else {
        format!(
            "The verdict depends on the analysis: it changes under {}.",
            changes.join("; ")
        )
    };
    format!(
        "*Robustness* (not the verdict). {}. {conclusion}\n\n",
        parts.join(" · ")
    )
}

/// Each endpoint's smallest effect of interest, minimum detectable effect and, when
/// inconclusive, which kind.
fn power(finding: &Finding) -> String {
    let lines: Vec<String> = finding
        .endpoints
        .iter()
        .map(|e| {
            let unit = e.unit;
            let magnitude = |v: f64| unit.show(v).trim_start_matches('+').to_string();
            let sesoi = e.sesoi.as_ref().map_or("none declared".into(), |s| {
                format!("{} ({})", magnitude(s.value), s.basis)
            });
            let mde = e.mde.map_or("–".into(), magnitude);
            let mut line = format!(
                "{}: smallest effect of interest {sesoi}; detectable at 80 % power (two-sided t-test at 5 %, n = {}, observed sd {}): {mde}",
                e.label,
                e.test.n,
                magnitude(e.test.sd)
            );
            if let Some(reading) = e.inconclusive {
                line.push_str(&format!("; inconclusive: **{reading}**"));
                if let Some(p) = e.p_equivalent {
                    line.push_str(&format!(
                        " (equivalence within ± the SESOI, TOST p {})",
                        show_p(p)
                    ));
                }
            }
            line
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!("*Power.* {}.\n\n", lines.join(". "))
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
            "p (sign-flip)",
            "d_z",
            "SESOI",
            "MDE (80 %)",
            "Verdict",
        ],
        rows,
    )
}

fn endpoint_row(e: &Endpoint, role: &str) -> Vec<String> {
    let unit = e.unit;
    let magnitude = |v: f64| unit.show(v).trim_start_matches('+').to_string();
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
        e.p_sign_flip
            .map_or("–".into(), |p| format!("{p:.4}{sidedness}")),
        e.test
            .effect_size
            .map_or("–".into(), |d| format!("{d:+.2}")),
        e.sesoi.as_ref().map_or("–".into(), |s| magnitude(s.value)),
        e.mde.map_or("–".into(), magnitude),
        match e.inconclusive {
            Some(reading) => format!("{} ({reading})", e.verdict),
            None => e.verdict.to_string(),
        },
    ]
}

/// "**SUPPORTED**", "**INCONCLUSIVE** (underpowered)", then what the verdict depends on.
fn verdict_cell(finding: &Finding) -> String {
    let mut cell = format!("**{}**", badge(finding.verdict));
    if let Some(reading) = finding.inconclusive() {
        cell.push_str(&format!(" ({reading})"));
    }
    let changes: Vec<String> = finding
        .disagreeing()
        .map(|a| format!("{} under {}", a.verdict, short_name(&a.name)))
        .collect();
    if !changes.is_empty() {
        cell.push_str(&format!(
            "; depends on the analysis: {}",
            changes.join(", ")
        ));
    }
    cell
}

/// An alternative's name up to its explanation in parentheses.
fn short_name(name: &str) -> &str {
    name.split(" (").next().unwrap_or(name)
}

fn badge(verdict: Verdict) -> String {
    verdict.to_string().to_uppercase()
}

/// How every verdict in a report is reached, said once at its top.
const INTRODUCTION: &str = "Written by `bnx study`. Every number below comes from the runs in the folders next to this file \
     (each with its `config.json`, `metrics.json` and `run.json`); every verdict is computed by the rule \
     printed with it (`src/study/verdict.rs`, with each claim's endpoints in `src/study/claims/`), never by hand. \
     Seed s gives both sides of a comparison the same initial weights and data order, so every comparison is \
     the per-seed paired difference: its mean, 95 % Student-t confidence interval, n, paired t-test p-value \
     before and after Holm's adjustment within a family (a finding's primary endpoints; a study's \
     secondary endpoints, all together), effect size d_z (mean / sd of the differences) and a seeded \
     percentile-bootstrap interval (10,000 resamples; with 5 to 10 seeds it is narrower than the t interval \
     and is not used for verdicts). Each claim has one primary endpoint and rule, fixed in code before its runs; \
     secondary endpoints are reported and never vote.\n\n\
     **Robustness, power and \"inconclusive\".** Every verdict is shown again under its declared \
     alternatives: the exact sign-flip (permutation) test in place of the t-test, which needs no normality \
     but cannot reach p < 0.05 with fewer than 6 seeds (its smallest two-sided p is 2 / 2ⁿ); another \
     measure where the literature has several; BatchNorm validated on recalibrated statistics where that \
     changes a number. A verdict that changes under one says \"depends on the analysis\". Every endpoint \
     declares in code a smallest effect of interest (SESOI: 0.25 pp of accuracy, one epoch, the margin of \
     a non-inferiority test, or 10 % of the other side's level for a measure without a natural unit) and \
     shows the minimum detectable effect (MDE) of its t-test at 80 % power from the observed spread. \
     An inconclusive endpoint is **equivalent** when TOST shows it within ± the SESOI, **underpowered** \
     when the MDE exceeds the SESOI, **undecided** otherwise.\n\n";

/// What was seen before which endpoint was fixed (v1 → v2 → v3).
const DISCLOSURE: &str = "**What was seen before which endpoint was fixed.** *v1*: 3 seeds (42–44) and a \"mean ± sd \
     apart\" rule; its results were read. *v2*: the rules above with 5 seeds (42–46); seeds 42–44 repeat \
     the v1 runs. Between v1 and v2 `shift`'s primary changed from the drift of Ioffe & Szegedy's \
     percentiles (supported in v1, a secondary since) to cos(G, G′), and `smoothness` and \
     `regularization` changed measures. *v3*, written after the v2 results were read: `shift`'s primary \
     became Santurkar et al.'s Definition 2.1 itself, the raw ℓ2 distance ‖G − G′‖ (v2's cosine, with \
     its verdict, is now an alternative); `regularization`'s primary became the gap in loss, because its \
     accuracy gap sat at a ceiling (training-subset accuracy 99.9–100 %; v2's accuracy gap is now an \
     alternative); the secondaries became one Holm family per study; SESOIs, MDEs, the sign-flip \
     alternative and the split of \"inconclusive\" were added. Each claim then declared its seeds \
     (`Claim::seeds`), after the 5-seed v3 results were read: 10 (42–51) for every full-budget MLP \
     grid point whose runs are affordable, whichever way its result had gone (all but `batch` and \
     `shift`'s sigmoid network), 5 elsewhere. Runs made after v3 was written: the CNN halves of the full budget's `convergence` and `position`, `regularization`'s \
     (retrained to record the training-subset loss), and seeds 47–51 of the full budget's MLP runs.\n\n";

/// The whole report: an overview table of verdicts, then every study's section.
pub fn report(summaries: &[StudySummary]) -> String {
    let mut md = String::from("# What does BatchNorm actually do? The guide's claims, tested\n\n");
    md.push_str(INTRODUCTION);
    md.push_str(DISCLOSURE);
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
            let results = f.results();
            let (study, claim) = if i == 0 {
                (
                    format!("[`{0}`](#{0}--{1})", s.study.name(), anchor(&s.title)),
                    s.claim.replace('|', "\\|"),
                )
            } else {
                (String::new(), String::new())
            };
            md.push_str(&format!(
                "| {study} | {claim} | {} | {} | {} |\n",
                if f.scope.is_empty() { "–" } else { &f.scope },
                if results.is_empty() {
                    "no endpoint qualified".into()
                } else {
                    results.join("; ").replace('|', "\\|")
                },
                verdict_cell(f).replace('|', "\\|"),
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
