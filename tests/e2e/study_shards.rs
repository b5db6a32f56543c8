//! End to end: a study split into shards run by separate processes into one folder, then
//! reported, equals the same study run whole; a missing run is named.

use std::path::Path;
use std::process::{Command as Process, Stdio};

use crate::common::{bnx, clean_error, fixture, read_json};
use predicates::prelude::*;

const STUDY: [&str; 6] = ["study", "lr", "--budget", "tiny", "--seeds", "2"];

/// `bnx study lr --budget tiny --seeds 2 --data-dir DATA --out OUT EXTRA…`, as a std command.
fn study(data: &Path, out: &Path, extra: &[&str]) -> Process {
    let mut command = Process::new(assert_cmd::cargo::cargo_bin("bnx"));
    command
        .args(STUDY)
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--jobs", "1", "-q"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[test]
fn two_shards_then_the_report_equal_one_whole_study() {
    let f = fixture();
    let whole = f.out.join("whole");
    let output = study(&f.data, &whole, &[]).output().unwrap();
    assert!(output.status.success(), "{output:?}");

    // Both shards at once, into the same folder.
    let sharded = f.out.join("sharded");
    let shards: Vec<_> = ["1/2", "2/2"]
        .iter()
        .map(|shard| {
            study(&f.data, &sharded, &["--shard", shard])
                .spawn()
                .unwrap()
        })
        .collect();
    for shard in shards {
        let output = shard.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            stdout.contains("14 of the 28 planned runs are done"),
            "{stdout}"
        );
    }
    assert!(
        !sharded.join("REPORT.md").exists(),
        "a shard writes no report"
    );
    let output = study(&f.data, &sharded, &["--report-only"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        read_json(&sharded.join("lr/summary.json")),
        read_json(&whole.join("lr/summary.json"))
    );
    assert_eq!(
        std::fs::read_to_string(sharded.join("REPORT.md")).unwrap(),
        std::fs::read_to_string(whole.join("REPORT.md")).unwrap()
    );

    // A missing run is named, and nothing is reported from the incomplete grid…
    std::fs::remove_file(sharded.join("lr/bn/lr-0.01/seed-43/run.json")).unwrap();
    std::fs::remove_file(sharded.join("lr/summary.json")).unwrap();
    let report_only = || {
        let mut command = bnx();
        command
            .args(STUDY)
            .arg("--data-dir")
            .arg(&f.data)
            .arg("--out")
            .arg(&sharded)
            .arg("--report-only");
        command
    };
    report_only()
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("1 of 28 planned runs are not in"))
        .stderr(predicate::str::contains("lr/bn/lr-0.01/seed-43"));
    assert!(!sharded.join("lr/summary.json").exists());
    // …unless asked, and then the report says so.
    report_only().arg("--allow-missing").assert().success();
    let summary = read_json(&sharded.join("lr/summary.json"));
    assert_eq!(summary["runs"], 27);
    let caveat = summary["caveats"][0].as_str().unwrap();
    assert!(
        caveat.contains("27 of 28 planned runs") && caveat.contains("lr/bn/lr-0.01/seed-43"),
        "{caveat}"
    );
    let report = std::fs::read_to_string(sharded.join("REPORT.md")).unwrap();
    assert!(report.contains("Incomplete grid"), "{report}");
}

#[test]
fn shard_and_report_flags_are_checked() {
    for (args, expected) in [
        (&["--shard", "3/2"][..], "is not K/N"),
        (
            &["--shard", "1/2", "--report-only"][..],
            "cannot be used with",
        ),
        (&["--allow-missing"][..], "--report-only"),
    ] {
        bnx()
            .args(STUDY)
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(expected));
    }
}

/// A run two studies plan alike (`convergence` and `position` both train the guide's MLP with
/// and without BN) is trained once: the second study copies it, byte for byte.
#[test]
fn a_run_another_study_planned_alike_is_copied_not_retrained() {
    let f = fixture();
    let out = f.out.join("shared");
    let run = |study: &str| {
        let output = Process::new(assert_cmd::cargo::cargo_bin("bnx"))
            .args([
                "study", study, "--model", "mlp", "--budget", "tiny", "--seeds", "1",
            ])
            .arg("--data-dir")
            .arg(&f.data)
            .arg("--out")
            .arg(&out)
            .args(["--jobs", "1", "-q"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
    };
    run("convergence");
    run("position");
    for variant in ["bn", "no-bn"] {
        let file = format!("{variant}/mlp/seed-42/run.json");
        let trained = std::fs::read(out.join("convergence").join(&file)).unwrap();
        let copied = std::fs::read(out.join("position").join(&file)).unwrap();
        // A retrained run would differ at least in its wall-clock seconds.
        assert!(trained == copied, "{file}: position retrained it");
    }
    assert!(out.join("position/bn-after/mlp/seed-42/run.json").exists());
}
