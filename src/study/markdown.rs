//! `REPORT.md`: GitHub-renderable Markdown from study summaries.

use super::StudySummary;
use super::verdict::Outcome;

/// One study's section. `image_dir` is the chart's folder relative to the Markdown file
/// ("" when the file sits next to the chart); `level` is the heading level.
pub fn section(summary: &StudySummary, image_dir: &str, level: usize) -> String {
    let name = summary.study.name();
    let hashes = "#".repeat(level);
    let image = if image_dir.is_empty() {
        format!("{name}.png")
    } else {
        format!("{image_dir}/{name}.png")
    };
    let mut md = String::new();
    md.push_str(&format!("{hashes} `{name}` — {}\n\n", summary.title));
    md.push_str(&format!("**Claim.** {}\n\n", summary.claim));
    md.push_str(&format!(
        "**Verdict: {}** on this setup. {}\n\n",
        badge(summary.verdict),
        summary.verdict_detail
    ));
    md.push_str(&format!("![{name} chart]({image})\n\n"));
    md.push_str(&summary.table.markdown());
    md.push_str(&format!("\n**Rule.** {}\n\n", summary.rule));
    md.push_str(&format!(
        "**Setup.** {} {} runs.\n\n",
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

fn badge(outcome: Outcome) -> String {
    outcome.to_string().to_uppercase()
}

/// The whole report: an overview table of verdicts, then every study's section.
pub fn report(summaries: &[StudySummary]) -> String {
    let mut md = String::from("# What does BatchNorm actually do? The guide's claims, tested\n\n");
    md.push_str(
        "Written by `bnx study`. Every number below comes from the runs in the folders next to this file \
         (each with its `config.json`, `metrics.json` and `run.json`); every verdict is computed by the rule \
         printed with it (see `src/study/verdict.rs` and `src/study/analysis.rs`), never by hand. Means are \
         over seeds, ± one sample standard deviation; the charts shade ± one standard deviation.\n\n",
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
    md.push_str("| Study | Claim | Verdict | Runs |\n|---|---|---|---:|\n");
    for s in summaries {
        md.push_str(&format!(
            "| [`{0}`](#{0}--{1}) | {2} | **{3}** | {4} |\n",
            s.study.name(),
            anchor(&s.title),
            s.claim.replace('|', "\\|"),
            badge(s.verdict),
            s.runs
        ));
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
