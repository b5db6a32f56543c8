//! One table, two renderings: aligned columns for the terminal and Markdown for reports.

use serde::{Deserialize, Serialize};

/// How a column's cells line up (Markdown: `---`, `---:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    Left,
    Right,
}

/// A table of text cells; study summaries keep theirs in `summary.json` as headers and rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Per column; columns without an entry are left-aligned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub align: Vec<Align>,
}

impl Table {
    pub fn new(headers: &[&str], rows: Vec<Vec<String>>) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows,
            align: Vec::new(),
        }
    }

    /// The first column left-aligned (names), the others right-aligned (numbers).
    pub fn numeric(mut self) -> Self {
        self.align = (0..self.headers.len())
            .map(|i| if i == 0 { Align::Left } else { Align::Right })
            .collect();
        self
    }

    fn align_of(&self, column: usize) -> Align {
        self.align.get(column).copied().unwrap_or(Align::Left)
    }

    /// GitHub-renderable Markdown, one line per row.
    pub fn markdown(&self) -> String {
        let escape = |cell: &str| cell.replace('|', "\\|");
        let line = |cells: &[String]| {
            format!(
                "| {} |\n",
                cells
                    .iter()
                    .map(|c| escape(c))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )
        };
        let mut md = line(&self.headers);
        md.push('|');
        for column in 0..self.headers.len() {
            md.push_str(match self.align_of(column) {
                Align::Left => "---|",
                Align::Right => "---:|",
            });
        }
        md.push('\n');
        for row in &self.rows {
            md.push_str(&line(row));
        }
        md
    }

    /// Columns padded to their widest cell (in characters), two spaces apart.
    pub fn terminal(&self) -> String {
        let width = |column: usize| {
            std::iter::once(&self.headers)
                .chain(&self.rows)
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.headers.len()).map(width).collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    let pad = " ".repeat(widths[i].saturating_sub(cell.chars().count()));
                    match self.align_of(i) {
                        Align::Left => format!("{cell}{pad}"),
                        Align::Right => format!("{pad}{cell}"),
                    }
                })
                .collect();
            format!("{}\n", padded.join("  ").trim_end())
        };
        let mut text = line(&self.headers);
        for row in &self.rows {
            text.push_str(&line(row));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table::new(
            &["variant", "val acc", "note"],
            vec![
                vec!["no BN".into(), "97.31%".into(), "a|b".into()],
                vec!["BN − no BN".into(), "+0.72 pp".into(), String::new()],
            ],
        )
    }

    #[test]
    fn markdown_escapes_pipes_and_marks_alignment() {
        assert_eq!(
            table().markdown(),
            "| variant | val acc | note |\n|---|---|---|\n| no BN | 97.31% | a\\|b |\n| BN − no BN | +0.72 pp |  |\n"
        );
        assert!(table().numeric().markdown().contains("|---|---:|---:|\n"));
    }

    #[test]
    fn terminal_pads_columns_by_characters() {
        assert_eq!(
            table().numeric().terminal(),
            "variant      val acc  note\nno BN         97.31%   a|b\nBN − no BN  +0.72 pp\n"
        );
    }

    #[test]
    fn summaries_written_before_alignment_still_load() {
        let table: Table = serde_json::from_str(r#"{"headers": ["a"], "rows": [["1"]]}"#).unwrap();
        assert_eq!(table.align, Vec::new());
        assert_eq!(
            serde_json::to_string(&table).unwrap(),
            r#"{"headers":["a"],"rows":[["1"]]}"#
        );
    }
}
