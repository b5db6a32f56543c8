//! End to end, what a user does after training: stop a run (Ctrl-C or a crash) and resume it,
//! evaluate a checkpoint, and classify images with it. No command throws kept epochs away unless
//! told to (`--restart`).

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use crate::common::{bnx, clean_error, fixture_with, png_size, read_json};
use bnx::data::digits::write_digit_png;
use bnx::data::idx::IMAGE_PIXELS;
use predicates::prelude::*;
use serde_json::Value;

/// Every epoch's numbers but the wall-clock seconds.
fn epochs_without_seconds(dir: &Path) -> Vec<Value> {
    let metrics = read_json(&dir.join("metrics.json"));
    metrics["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|epoch| {
            let mut epoch = epoch.clone();
            epoch.as_object_mut().unwrap().remove("seconds");
            epoch
        })
        .collect()
}

fn completed_epochs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("metrics.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|m| m["epochs"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Starts `bnx ARGS` and returns it once `dir` holds `epochs` completed epochs.
fn start_until(args: &[&str], dir: &Path, epochs: usize) -> Child {
    let mut child = Process::new(assert_cmd::cargo::cargo_bin("bnx"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while completed_epochs(dir) < epochs {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be stopped"
        );
        assert!(started.elapsed() < Duration::from_secs(300), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

fn interrupt(child: &Child) {
    let status = Process::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// `bnx ARGS` into `dir`, which holds kept work under other settings, is refused: one sentence
/// naming the `difference` and both ways on (`--resume DIR`, `--restart`).
fn refused_naming_both_ways_on<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    dir: &Path,
    difference: &str,
) {
    bnx()
        .args(args)
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains(difference))
        .stderr(predicate::str::contains(format!(
            "use --resume {}",
            dir.display()
        )))
        .stderr(predicate::str::contains("add --restart"));
}

const EPOCHS: &str = "30";

/// The settings of every resume test: enough epochs that a stop lands well before the end.
fn train_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--bn",
        "--epochs",
        EPOCHS,
        "--batch-size",
        "16",
        "--data-dir",
        data,
        "--out",
        out,
        "-q",
    ]
}

#[test]
fn ctrl_c_keeps_completed_epochs_and_resume_ends_exactly_as_an_uninterrupted_run() {
    let f = fixture_with(1024, 50);
    let data = f.data.to_str().unwrap();
    let straight = f.out.join("straight");
    bnx()
        .args(train_args(data, straight.to_str().unwrap()))
        .assert()
        .success();
    assert!(!straight.join("resume.state").exists(), "removed when done");

    let stopped = f.out.join("stopped");
    let child = start_until(&train_args(data, stopped.to_str().unwrap()), &stopped, 2);
    interrupt(&child);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let command = format!("To continue: bnx train --resume {}", stopped.display());
    assert!(stderr.contains(&command), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let kept = completed_epochs(&stopped);
    assert!((2..30).contains(&kept), "{kept} epochs kept");
    assert!(stopped.join("resume.state").is_file());

    // Another setting is refused, naming it; the folder is left as it was.
    bnx()
        .args([
            "train",
            "--resume",
            stopped.to_str().unwrap(),
            "--lr",
            "0.01",
        ])
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains(
            "training.learning_rate (0.01 asked, 0.001 in its config.json)",
        ));
    assert_eq!(completed_epochs(&stopped), kept);
    // So is the stopped run's own command with another setting and without --resume: it names
    // both ways on, and trains nothing over the kept epochs.
    let mut other_lr = train_args(data, stopped.to_str().unwrap());
    other_lr.extend(["--lr", "0.01"]);
    refused_naming_both_ways_on(
        &other_lr,
        &stopped,
        "training.learning_rate (0.01 asked, 0.001 in its config.json)",
    );
    assert_eq!(completed_epochs(&stopped), kept);

    // Running the same command again continues the stopped run (as Keras' BackupAndRestore
    // does), to the very numbers of the uninterrupted one.
    bnx()
        .args(train_args(data, stopped.to_str().unwrap()))
        .assert()
        .success();
    assert_eq!(
        epochs_without_seconds(&stopped),
        epochs_without_seconds(&straight),
        "continued after {kept} epochs"
    );
    assert!(!stopped.join("resume.state").exists());
    assert!(stopped.join("curves.png").is_file());

    // A finished run is kept, byte for byte, by the same command or by --resume.
    let finished = std::fs::read(stopped.join("metrics.json")).unwrap();
    let mut verbose = train_args(data, stopped.to_str().unwrap());
    verbose.pop(); // -q
    bnx()
        .args(&verbose)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "is complete (30 of 30 epochs): kept, not trained again",
        ));
    bnx()
        .args(["train", "--resume", stopped.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("is complete (30 of 30 epochs)"));
    assert_eq!(
        std::fs::read(stopped.join("metrics.json")).unwrap(),
        finished
    );
    // ... and refused under other settings, until --restart says to replace it.
    bnx()
        .args(&other_lr)
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("and 30 of its 30 epochs"));
    assert_eq!(
        std::fs::read(stopped.join("metrics.json")).unwrap(),
        finished
    );
    let mut restart = train_args(data, stopped.to_str().unwrap());
    let epochs = restart.iter().position(|a| *a == EPOCHS).unwrap();
    restart[epochs] = "1";
    restart.push("--restart");
    bnx().args(&restart).assert().success();
    assert_eq!(completed_epochs(&stopped), 1, "--restart trained afresh");

    // A metrics.json that does not read is an error under --resume or the same command, never
    // "nothing done": the finished run's checkpoint stays as it was.
    let checkpoint = std::fs::read(straight.join("model.bpk")).unwrap();
    std::fs::write(straight.join("metrics.json"), "{\"model\": \"mlp\", \"epo").unwrap();
    for args in [
        vec!["train", "--resume", straight.to_str().unwrap()],
        train_args(data, straight.to_str().unwrap()),
    ] {
        bnx()
            .args(&args)
            .assert()
            .code(1)
            .stderr(clean_error())
            .stderr(predicate::str::contains(
                "its metrics.json is not a valid bnx metrics file",
            ))
            .stderr(predicate::str::contains("pass --restart"));
    }
    assert_eq!(
        std::fs::read(straight.join("model.bpk")).unwrap(),
        checkpoint
    );
}

#[test]
fn a_stopped_noisy_batch_norm_run_is_not_resumed_with_other_noise() {
    let f = fixture_with(1024, 50);
    let data = f.data.to_str().unwrap();
    let stopped = f.out.join("noisy");
    let mut args = train_args(data, stopped.to_str().unwrap());
    args.push("--norm-noise");
    let child = start_until(&args, &stopped, 1);
    interrupt(&child);
    assert_eq!(child.wait_with_output().unwrap().status.code(), Some(130));
    let kept = completed_epochs(&stopped);
    bnx()
        .args(["train", "--resume", stopped.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains(
            "it trains with noisy BatchNorm, whose noise generator",
        ));
    assert_eq!(
        completed_epochs(&stopped),
        kept,
        "the folder is left as it was"
    );
}

#[test]
fn a_killed_compare_resumes_to_the_same_numbers() {
    let f = fixture_with(768, 50);
    let data = f.data.to_str().unwrap();
    let args = |out: &Path| {
        let mut args: Vec<String> = [
            "compare",
            "--seeds",
            "2",
            "--jobs",
            "2",
            "--epochs",
            "12",
            "--data-dir",
            data,
            "-q",
            "--out",
        ]
        .map(String::from)
        .to_vec();
        args.push(out.to_str().unwrap().into());
        args
    };
    let straight = f.out.join("straight");
    bnx().args(args(&straight)).assert().success();

    // A crash, not a Ctrl-C: nothing gets to run after SIGKILL.
    let killed = f.out.join("killed");
    let arg_refs: Vec<String> = args(&killed);
    let arg_refs: Vec<&str> = arg_refs.iter().map(String::as_str).collect();
    let mut child = start_until(&arg_refs, &killed.join("no-bn/seed-42"), 2);
    // While it trains, a second compare into the folder is refused before it writes anything:
    // the plan it would have written (other epochs) is not there.
    let plan = std::fs::read(killed.join("compare.json")).unwrap();
    let mut other_epochs = args(&killed);
    let epochs = other_epochs.iter().position(|a| a == "12").unwrap();
    other_epochs[epochs] = "3".into();
    bnx()
        .args(&other_epochs)
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("is in use by another bnx process"));
    assert_eq!(std::fs::read(killed.join("compare.json")).unwrap(), plan);
    child.kill().unwrap();
    child.wait().unwrap();

    // Once it is dead, other settings are refused (its runs hold epochs), naming both ways on.
    refused_naming_both_ways_on(
        &other_epochs,
        &killed,
        "training.epochs (3 asked, 12 in its compare.json)",
    );
    assert_eq!(std::fs::read(killed.join("compare.json")).unwrap(), plan);

    bnx()
        .args(["compare", "--resume", killed.to_str().unwrap(), "-q"])
        .assert()
        .success();
    // The same command again keeps every finished run rather than training it anew.
    let finished = std::fs::read(killed.join("bn/seed-43/metrics.json")).unwrap();
    let mut again = args(&killed);
    again.retain(|a| a != "-q");
    bnx()
        .args(&again)
        .assert()
        .success()
        .stdout(predicate::str::contains("complete before, kept").count(4));
    assert_eq!(
        std::fs::read(killed.join("bn/seed-43/metrics.json")).unwrap(),
        finished
    );
    for run in ["no-bn/seed-42", "bn/seed-42", "no-bn/seed-43", "bn/seed-43"] {
        assert_eq!(
            epochs_without_seconds(&killed.join(run)),
            epochs_without_seconds(&straight.join(run)),
            "{run}"
        );
        assert!(!killed.join(run).join("resume.state").exists());
    }
    let summary = |dir: &Path| {
        read_json(&dir.join("summary.json"))["bn_minus_no_bn"]["final_val_acc"].clone()
    };
    assert_eq!(summary(&killed), summary(&straight));

    // A folder `compare` did not write cannot be resumed.
    bnx()
        .args(["compare", "--resume", data])
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("has no compare.json"));
}

/// The first `count` test images of the fixture, as the IDX file holds them.
fn test_images(data: &Path, count: usize) -> Vec<[u8; IMAGE_PIXELS]> {
    let images = bnx::data::idx::read_images(&data.join("t10k-images-idx3-ubyte")).unwrap();
    images.pixels[..count * IMAGE_PIXELS]
        .chunks_exact(IMAGE_PIXELS)
        .map(|c| c.try_into().unwrap())
        .collect()
}

#[test]
fn eval_reproduces_the_last_epoch_and_predict_agrees_with_it() {
    let f = fixture_with(256, 60);
    let run = f.out.join("run");
    f.bnx(
        &["train", "--bn", "--epochs", "2", "--batch-size", "16", "-q"],
        &run,
    )
    .assert()
    .success();

    let output = bnx().arg("eval").arg(&run).assert().success();
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("the same, to the last bit"), "{stdout}");
    assert!(
        stdout.contains("precision") && stdout.contains("recall"),
        "{stdout}"
    );

    let eval = read_json(&run.join("eval/eval.json"));
    let metrics = read_json(&run.join("metrics.json"));
    let last = metrics["epochs"].as_array().unwrap().last().unwrap();
    assert_eq!(eval["accuracy"], last["val_acc"]);
    assert_eq!(eval["loss"], last["val_loss"]);
    assert_eq!(eval["samples"], 60);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(eval["confusion"].clone()).unwrap();
    let total: u64 = confusion.iter().flatten().sum();
    let right: u64 = (0..10).map(|i| confusion[i][i]).sum();
    assert_eq!(total, 60);
    assert_eq!(right as f64 / 60.0, eval["accuracy"].as_f64().unwrap());
    for (class, score) in eval["classes"].as_array().unwrap().iter().enumerate() {
        assert_eq!(score["count"], confusion[class].iter().sum::<u64>());
    }
    assert!(png_size(&run.join("eval/confusion.png")).0 > 600);
    assert!(run.join("eval/mistakes.png").is_file());

    // The test digits as PNG files (and black on white): predicted as eval's confusion has them.
    let images = test_images(&f.data, 12);
    let mut files = Vec::new();
    for (i, pixels) in images.iter().enumerate() {
        let path = f.out.join(format!("digit-{i}.png"));
        if i % 2 == 0 {
            write_digit_png(&path, pixels).unwrap();
        } else {
            let inverted: [u8; IMAGE_PIXELS] = pixels.map(|p| 255 - p);
            write_digit_png(&path, &inverted).unwrap();
        }
        files.push(path);
    }
    let output = bnx()
        .arg("predict")
        .arg(&run)
        .args(&files)
        .arg("--json")
        .assert()
        .success();
    let predictions: Vec<Value> = serde_json::from_slice(&output.get_output().stdout).unwrap();
    assert_eq!(predictions.len(), 12);
    // eval.json lists the wrong predictions; every other test image was predicted right.
    let labels = bnx::data::idx::read_labels(&f.data.join("t10k-labels-idx1-ubyte")).unwrap();
    let wrong: std::collections::HashMap<u64, u64> = eval["mistakes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["index"].as_u64().unwrap(),
                m["predicted"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(wrong.len() < 40, "all mistakes are listed");
    for (i, prediction) in predictions.iter().enumerate() {
        let expected = wrong
            .get(&(i as u64))
            .copied()
            .unwrap_or(u64::from(labels[i]));
        assert_eq!(prediction["predicted"], expected, "image {i}");
        let top3 = prediction["top3"].as_array().unwrap();
        assert_eq!(top3.len(), 3);
        assert_eq!(top3[0][0], expected);
    }
    bnx()
        .arg("predict")
        .arg(&run)
        .arg(&files[0])
        .assert()
        .success()
        .stdout(predicate::str::contains("digit-0.png: "));

    // One bad file among good ones: each good one is predicted, the bad one named, status 1.
    let bad = f.out.join("notes.png");
    std::fs::write(&bad, "text").unwrap();
    let output = bnx()
        .arg("predict")
        .arg(&run)
        .args([&files[0], &bad, &files[1]])
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("notes.png is not a PNG image"))
        .stderr(predicate::str::contains(
            "1 of 3 images could not be classified",
        ));
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].contains("digit-0.png: ") && lines[1].contains("digit-1.png: "));
    let output = bnx()
        .arg("predict")
        .arg(&run)
        .args([&files[0], &bad, &files[1]])
        .arg("--json")
        .assert()
        .code(1);
    let entries: Vec<Value> = serde_json::from_slice(&output.get_output().stdout).unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["predicted"], predictions[0]["predicted"]);
    assert!(
        entries[1]["error"]
            .as_str()
            .unwrap()
            .contains("is not a PNG image")
    );
    assert_eq!(entries[2]["predicted"], predictions[1]["predicted"]);
}

#[test]
fn eval_and_predict_refuse_bad_input_in_one_sentence() {
    let f = fixture_with(64, 20);
    let run = f.out.join("run");
    f.bnx(&["train", "--epochs", "1", "-q"], &run)
        .assert()
        .success();
    let not_png = f.out.join("digit.png");
    std::fs::write(&not_png, "text").unwrap();
    bnx()
        .arg("predict")
        .arg(&run)
        .arg(&not_png)
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("digit.png is not a PNG image"));
    bnx()
        .arg("eval")
        .arg(&f.data)
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("is not a bnx run folder"));

    // A checkpoint of another network: the MLP's weights where the CNN's belong.
    let config = run.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("\"model\": \"mlp\"", "\"model\": \"cnn\""),
    )
    .unwrap();
    bnx()
        .arg("eval")
        .arg(&run)
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains(
            "does not fit the network config.json describes (cnn)",
        ));
    std::fs::write(
        &config,
        text.replace("\"bnx_version\": \"0.1.0\"", "\"bnx_version\": \"0.0.1\""),
    )
    .unwrap();
    bnx()
        .arg("predict")
        .arg(&run)
        .arg(&not_png)
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("written by bnx 0.0.1"));
    std::fs::write(&config, text).unwrap();
    std::fs::remove_file(run.join("model.bpk")).unwrap();
    bnx()
        .arg("eval")
        .arg(&run)
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("model.bpk: there is no such file"));
}

#[test]
fn a_second_process_on_the_same_run_folder_is_refused_naming_the_first() {
    let f = fixture_with(1024, 50);
    let data = f.data.to_str().unwrap();
    let out = f.out.join("busy");
    let first = start_until(&train_args(data, out.to_str().unwrap()), &out, 1);
    bnx()
        .args(["train", "--epochs", "1", "--data-dir", data, "--out"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(clean_error())
        .stderr(predicate::str::contains("is in use by another bnx process"))
        .stderr(predicate::str::contains(format!("pid {}", first.id())));
    interrupt(&first);
    let output = first.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    // Released when the holder exits: the run can be resumed.
    bnx()
        .args(["train", "--resume", out.to_str().unwrap(), "-q"])
        .assert()
        .success();
}
