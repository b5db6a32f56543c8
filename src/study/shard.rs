//! Studies spread over several processes or machines (a Slurm job array, say): `--shard K/N`
//! trains the K-th of N slices of the run plan, `--report-only` reduces whatever runs the
//! shards left in the shared folder to the report.
//!
//! The slices depend on the plan alone — every shard computes the same plan from the same flags
//! — and deal its runs out in turn (run i goes to shard i mod N + 1, as cargo-nextest's
//! `--partition count:K/N` deals tests), so each shard gets a share of every study and of every
//! network, and no two shards ever train the same run.

use std::fmt;
use std::str::FromStr;

/// The K-th (1-based) of N slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Whether the run at `position` (0-based, over the whole plan) is this shard's.
    pub fn takes(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("'{text}' is not K/N with 1 ≤ K ≤ N (e.g. 2/4)");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            index.trim().parse().map_err(|_| bad())?,
            count.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a study invocation does with its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StudyMode {
    /// Train every run (reusing finished ones), then report.
    #[default]
    Whole,
    /// Train this shard's runs only; no report.
    Shard(Shard),
    /// Train nothing: report from the runs present. Missing runs are an error unless allowed,
    /// and then the report says which were missing.
    ReportOnly { allow_missing: bool },
}

/// "a, b, c and 4 more": the first few of a long list of names.
pub fn first_few(names: &[String]) -> String {
    const SHOWN: usize = 5;
    if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!(
            "{} and {} more",
            names[..SHOWN].join(", "),
            names.len() - SHOWN
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_plan_exactly() {
        for count in 1..=5 {
            let shards: Vec<Shard> = (1..=count).map(|index| Shard { index, count }).collect();
            for position in 0..23 {
                let takers = shards.iter().filter(|s| s.takes(position)).count();
                assert_eq!(takers, 1, "run {position} of {count} shards");
            }
        }
        let second = Shard { index: 2, count: 3 };
        let taken: Vec<usize> = (0..8).filter(|&p| second.takes(p)).collect();
        assert_eq!(taken, [1, 4, 7]);
    }

    #[test]
    fn shard_text_is_k_of_n() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        assert_eq!("1/1".parse::<Shard>().unwrap().to_string(), "1/1");
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("is not K/N"), "{bad}: {err}");
        }
    }

    #[test]
    fn long_lists_are_cut() {
        let names: Vec<String> = (0..7).map(|i| format!("r{i}")).collect();
        assert_eq!(first_few(&names[..2]), "r0, r1");
        assert_eq!(first_few(&names), "r0, r1, r2, r3, r4 and 2 more");
    }
}
