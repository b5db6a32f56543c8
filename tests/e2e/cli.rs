//! End to end: the real `bnx` binary on tiny, real-format IDX files in a temporary folder.

use std::path::Path;

use crate::common::{bnx, clean_error, fixture, png_size, read_json};
use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

/// The same JSON up to the last bit of each number: `plot` recomputes summaries from the
/// metrics.json files, and serde_json's default float parser can land one ulp off.
fn assert_same_numbers(a: &Value, b: &Value) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-12 * x.abs().max(1e-3), "{x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).for_each(|(x, y)| assert_same_numbers(x, y));
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            x.values()
                .zip(y.values())
                .for_each(|(x, y)| assert_same_numbers(x, y));
        }
        _ => assert_eq!(a, b),
    }
}

#[test]
fn compare_writes_both_runs_charts_and_summary_and_plot_rerenders() {
    let f = fixture();
    f.bnx(
        &[
            "compare",
            "--model",
            "mlp",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--backend",
            "ndarray",
        ],
        &f.out,
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("mlp+bn epoch  2/2"))
    .stdout(predicate::str::contains("BN − no BN"))
    // Not a terminal: plain lines, no progress-bar redraws.
    .stdout(predicate::str::contains("\r").not())
    .stdout(predicate::str::contains("\x1b[").not());

    for (variant, bn) in [("no-bn", false), ("bn", true)] {
        let metrics = read_json(&f.out.join(variant).join("metrics.json"));
        assert_eq!(metrics["model"], "mlp");
        assert_eq!(metrics["bn"], bn);
        assert_eq!(metrics["dataset"], "mnist");
        assert_eq!(metrics["backend"], "ndarray");
        assert!(metrics["device"].as_str().unwrap().contains("threads"));
        let keys: Vec<&String> = metrics.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["backend", "bn", "dataset", "device", "epochs", "model"]
        );
        let epochs = metrics["epochs"].as_array().unwrap();
        assert_eq!(epochs.len(), 2);
        // metrics.csv holds the same numbers, one row per epoch, Keras CSVLogger's columns.
        let csv = std::fs::read_to_string(f.out.join(variant).join("metrics.csv")).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("epoch,accuracy,loss,val_accuracy,val_loss,seconds")
        );
        for (line, epoch) in lines.zip(epochs) {
            let cells: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
            let json = [
                "epoch",
                "train_acc",
                "train_loss",
                "val_acc",
                "val_loss",
                "seconds",
            ]
            .map(|key| epoch[key].as_f64().unwrap());
            // serde_json's default parser may land one ulp off: compare to that precision.
            for (cell, value) in cells.iter().zip(json) {
                assert!(
                    (cell - value).abs() <= 1e-15 * value.abs().max(1.0),
                    "{line}"
                );
            }
        }
        assert_eq!(csv.lines().count(), 3);
        for (i, epoch) in epochs.iter().enumerate() {
            assert_eq!(epoch["epoch"], i + 1);
            for key in ["train_acc", "val_acc"] {
                let acc = epoch[key].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&acc), "{key} = {acc}");
            }
            assert!(epoch["train_loss"].as_f64().unwrap() > 0.0);
            assert!(epoch["seconds"].as_f64().unwrap() > 0.0);
            assert_eq!(epoch.as_object().unwrap().len(), 6);
        }
        let config = read_json(&f.out.join(variant).join("config.json"));
        assert_eq!(config["backend"], "ndarray");
        assert_eq!(config["device"], metrics["device"]);
        assert!(
            ["avx512", "avx2+fma", "sse4.1", "sse2", "neon", "scalar"]
                .contains(&config["cpu_simd"].as_str().unwrap())
        );
        assert!(config["threads"].as_u64().unwrap() >= 1);
        let settings = &config["config"];
        assert_eq!(settings["runtime"]["flush_subnormals"], true);
        assert_eq!(
            settings["network"]["norm"],
            if bn { "batch" } else { "none" }
        );
        assert_eq!(
            settings["network"]["mlp_widths"],
            serde_json::json!([128, 64, 32])
        );
        assert_eq!(settings["training"]["epochs"], 2);
        assert_eq!(settings["training"]["batch_size"], 16);
        assert_eq!(config["dataset"]["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(config["train_samples"], 96);
        assert!(f.out.join(variant).join("model.bpk").is_file());
    }
    let chart = f.out.join("comparison.png");
    assert_eq!(png_size(&chart), (1400, 600));
    let svg = std::fs::read_to_string(f.out.join("comparison.svg")).unwrap();
    assert!(svg.contains("Accuracy Comparison") && svg.contains("Loss Comparison"));
    let summary = read_json(&f.out.join("summary.json"));
    let bn_acc = summary["bn"]["final_val_acc"].as_f64().unwrap();
    let no_bn_acc = summary["no_bn"]["final_val_acc"].as_f64().unwrap();
    let difference = summary["bn_minus_no_bn"]["final_val_acc"].as_f64().unwrap();
    assert!((difference - (bn_acc - no_bn_acc)).abs() < 1e-12);

    // `plot` re-renders from the saved metrics alone.
    std::fs::remove_file(&chart).unwrap();
    std::fs::remove_file(f.out.join("summary.json")).unwrap();
    bnx()
        .arg("plot")
        .arg(&f.out)
        .arg(f.out.join("bn"))
        .assert()
        .success()
        .stdout(predicate::str::contains("comparison.png"))
        .stdout(predicate::str::contains("curves.png"));
    assert_eq!(png_size(&chart), (1400, 600));
    assert_same_numbers(&read_json(&f.out.join("summary.json")), &summary);
}

/// `compare --seeds 3`: every seed's runs, a chart with bands, and the paired difference with
/// its confidence interval, recomputed here from the runs' own metrics.json files.
#[test]
fn compare_over_seeds_reports_paired_differences_with_intervals() {
    let f = fixture();
    f.bnx(
        &[
            "compare",
            "--seeds",
            "3",
            "--jobs",
            "2",
            "--epochs",
            "2",
            "--batch-size",
            "16",
        ],
        &f.out,
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("BN − no BN [95% CI]"))
    .stdout(predicate::str::contains("seeds 42, 43, 44"));
    let final_acc = |variant: &str, seed: u64| {
        let metrics = read_json(
            &f.out
                .join(variant)
                .join(format!("seed-{seed}/metrics.json")),
        );
        metrics["epochs"].as_array().unwrap().last().unwrap()["val_acc"]
            .as_f64()
            .unwrap()
    };
    let differences: Vec<f64> = (42..45)
        .map(|seed| final_acc("bn", seed) - final_acc("no-bn", seed))
        .collect();
    let mean = differences.iter().sum::<f64>() / 3.0;
    let sd = (differences.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    // scipy.stats.t.ppf(0.975, 2)
    let half = 4.302652729749462 * sd / 3f64.sqrt();

    let summary = read_json(&f.out.join("summary.json"));
    assert_eq!(summary["seeds"], serde_json::json!([42, 43, 44]));
    assert_eq!(summary["band"], "sd");
    let reported = &summary["bn_minus_no_bn"]["final_val_acc"];
    assert_eq!(reported["n"], 3);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(
        close(reported["mean"].as_f64().unwrap(), mean),
        "{reported}"
    );
    let ci = reported["ci95"].as_array().unwrap();
    assert!(close(ci[0].as_f64().unwrap(), mean - half), "{reported}");
    assert!(close(ci[1].as_f64().unwrap(), mean + half), "{reported}");
    assert!(f.out.join("bn/seed-44/model.bpk").is_file());
    assert_eq!(png_size(&f.out.join("comparison.png")), (1400, 600));
    let svg = std::fs::read_to_string(f.out.join("comparison.svg")).unwrap();
    assert!(
        svg.contains("mean ± 1 sd") && svg.contains("3 seeds"),
        "legend and title"
    );

    // plot rebuilds the same summary from the saved runs.
    std::fs::remove_file(f.out.join("summary.json")).unwrap();
    bnx().arg("plot").arg(&f.out).assert().success();
    assert_same_numbers(&read_json(&f.out.join("summary.json")), &summary);

    // --jobs without --seeds would do nothing: refused.
    bnx()
        .args(["compare", "--jobs", "2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--seeds"));
}

#[test]
fn bench_times_each_network_and_backend_asked_for() {
    let f = fixture();
    let output = bnx()
        .args([
            "bench",
            "--model",
            "mlp",
            "--backends",
            "flex,ndarray",
            "--steps",
            "2",
        ])
        .args([
            "--warmup",
            "1",
            "--batch-size",
            "16",
            "--json",
            "-q",
            "--data-dir",
        ])
        .arg(&f.data)
        .assert()
        .success();
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let rows: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cells: Vec<(&str, bool, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["model"].as_str().unwrap(),
                r["bn"].as_bool().unwrap(),
                r["backend"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            ("mlp", false, "flex"),
            ("mlp", false, "ndarray"),
            ("mlp", true, "flex"),
            ("mlp", true, "ndarray")
        ]
    );
    for row in &rows {
        assert_eq!(row["result"]["steps"], 2);
        assert_eq!(row["result"]["batch_size"], 16);
        let samples = row["result"]["samples_per_second"].as_f64().unwrap();
        assert!(samples > 0.0);
        // The guide's MLP: 2 · (3 · 110,912 − 784 · 128) FLOPs a sample.
        let gflops = row["gflops"].as_f64().unwrap();
        assert!((gflops - 464_768.0 * samples / 1e9).abs() < 1e-9 * gflops.max(1.0));
        // The peak, measured on the same threads, and the share of it.
        let peak = &row["peak"];
        assert_eq!(peak["threads"], row["threads"]);
        let share = row["peak_share"].as_f64().unwrap();
        assert!((share - gflops / peak["gflops"].as_f64().unwrap()).abs() < 1e-12);
    }
}

/// `bench --profile`: every operation of a step with its time, the phases adding up to it.
#[test]
fn bench_profile_breaks_a_step_into_its_operations() {
    let f = fixture();
    let output = bnx()
        .args(["bench", "--profile", "--model", "cnn", "--variant", "bn"])
        .args([
            "--steps",
            "3",
            "--warmup",
            "1",
            "--batch-size",
            "8",
            "--json",
            "-q",
        ])
        .arg("--data-dir")
        .arg(&f.data)
        .assert()
        .success();
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let profile: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(profile["network"], "cnn+bn");
    let rows = profile["rows"].as_array().unwrap();
    let operations: Vec<&str> = rows
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    for expected in [
        "1 conv 1→32, 28×28: convolution",
        "2 conv 32→64, 13×13: input gradient",
        "2 conv 32→64, 13×13: weight and bias gradient",
        "1 conv 1→32, 28×28: BatchNorm",
        "1 conv 1→32, 28×28: max-pool",
        "3 dense 1600→64: product",
        "Adam (122250 parameters)",
    ] {
        assert!(operations.contains(&expected), "{expected}: {operations:?}");
    }
    // Nothing needs the image's gradient.
    assert!(!operations.contains(&"1 conv 1→32, 28×28: input gradient"));
    let total: f64 = rows
        .iter()
        .map(|r| r["milliseconds"].as_f64().unwrap())
        .sum();
    // The step is its phases' medians added up, and each phase's rest is what its kernels
    // leave of it: the rows account for the whole step.
    let step = profile["step_milliseconds"].as_f64().unwrap();
    assert!((total - step).abs() < 1e-9 * step, "{total} vs {step}");
    let kernels = rows.iter().filter(|r| r["kind"] != "rest");
    assert!(kernels.clone().count() > 10);
    for kernel in kernels {
        assert!(kernel["milliseconds"].as_f64().unwrap() > 0.0, "{kernel}");
    }
    // --profile times flex's own kernels: another backend is refused.
    bnx()
        .args(["bench", "--profile", "--backends", "ndarray"])
        .assert()
        .code(2);
}

/// Event files land in one run folder per network and variant; scripts/test.sh reads their
/// values back with TensorBoard's own reader.
#[test]
fn tensorboard_runs_are_named_after_network_and_variant() {
    let f = fixture();
    let logs = f.out.join("logs");
    let events = |run: &str| logs.join(run).join("events.out.tfevents.bnx");
    f.bnx(
        &["train", "--bn", "--epochs", "1", "-q"],
        &f.out.join("train"),
    )
    .arg("--tensorboard")
    .arg(&logs)
    .assert()
    .success();
    f.bnx(&["compare", "--epochs", "2", "-q"], &f.out.join("compare"))
        .arg("--tensorboard")
        .arg(&logs)
        .assert()
        .success();
    // Header record, then four scalars per epoch.
    let size = |run: &str| std::fs::metadata(events(run)).unwrap().len();
    assert!(size("mlp-bn") > 0);
    assert!(
        size("mlp/bn") > size("mlp-bn"),
        "two epochs hold more than one"
    );
    assert!(size("mlp/no-bn") > 0);
    bnx()
        .args(["train", "--tensorboard-steps"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--tensorboard <DIR>"));
}

#[test]
fn train_cnn_with_bn_reports_keras_parameter_counts_and_checkpoints() {
    let f = fixture();
    f.bnx(
        &[
            "train",
            "--model",
            "cnn",
            "--bn",
            "--epochs",
            "1",
            "--backend",
            "flex",
        ],
        &f.out,
    )
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "parameters: 122,250 trainable + 320 BatchNorm running statistics",
    ))
    .stdout(predicate::str::contains(
        "Conv 32 3×3 → BN → ReLU → MaxPool 2",
    ));
    let metrics = read_json(&f.out.join("metrics.json"));
    assert_eq!(
        (metrics["model"].as_str(), metrics["bn"].as_bool()),
        (Some("cnn"), Some(true))
    );
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), 1);
    assert!(f.out.join("model.bpk").metadata().unwrap().len() > 4 * 122_000);
    assert_eq!(png_size(&f.out.join("curves.png")), (1400, 600));
}

#[test]
fn train_sigmoid_network_with_noisy_batch_norm_records_both() {
    let f = fixture();
    f.bnx(
        &[
            "train",
            "--bn",
            "--activation",
            "sigmoid",
            "--norm-noise",
            "--hidden-layers",
            "3",
            "--width",
            "100",
            "--epochs",
            "1",
        ],
        &f.out,
    )
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "784 → Dense 100 → BN + noise → sigmoid → Dense 100",
    ));
    let network = &read_json(&f.out.join("config.json"))["config"]["network"];
    assert_eq!(network["activation"].as_str(), Some("sigmoid"));
    assert_eq!(network["norm_noise"]["sample_sd"].as_f64(), Some(0.5));
}

#[test]
fn same_seed_same_metrics_and_quiet_prints_only_the_result() {
    let f = fixture();
    let run = |out: &Path| {
        f.bnx(
            &[
                "train",
                "--epochs",
                "2",
                "--backend",
                "ndarray",
                "--seed",
                "9",
                "--quiet",
            ],
            out,
        )
        .assert()
        .success()
        .stdout(predicate::str::contains("epoch").not())
        .stdout(predicate::str::contains("final val accuracy"));
        let mut metrics = read_json(&out.join("metrics.json"));
        for epoch in metrics["epochs"].as_array_mut().unwrap() {
            epoch.as_object_mut().unwrap().remove("seconds");
        }
        metrics
    };
    assert_eq!(run(&f.out.join("a")), run(&f.out.join("b")));
}

#[test]
fn limits_take_the_first_samples() {
    let f = fixture();
    f.bnx(
        &[
            "train",
            "--epochs",
            "1",
            "--limit-train",
            "20",
            "--limit-test",
            "10",
            "-q",
        ],
        &f.out,
    )
    .assert()
    .success();
    let config = read_json(&f.out.join("config.json"));
    assert_eq!(
        (
            config["train_samples"].as_u64(),
            config["test_samples"].as_u64()
        ),
        (Some(20), Some(10))
    );
}

#[test]
fn bad_flags_fail_with_a_clear_message() {
    let f = fixture();
    // Values are checked once, with the config file's: the message names the field and flag.
    let cases: [(&[&str], &str); 6] = [
        (
            &["train", "--epochs", "0"],
            "training.epochs (--epochs) must be at least 1, got 0",
        ),
        (
            &["train", "--batch-size", "0"],
            "training.batch_size (--batch-size) must be at least 1, got 0",
        ),
        (
            &["train", "--lr=-0.5"],
            "training.learning_rate (--lr) must be a finite number above 0, got -0.5",
        ),
        (
            &["train", "--lr", "NaN"],
            "training.learning_rate (--lr) must be a finite number above 0, got NaN",
        ),
        (
            &["compare", "--limit-train", "0"],
            "data.limit_train (--limit-train) must be at least 1 when given, got 0",
        ),
        (
            &["compare", "--model", "all", "--hidden-layers", "4"],
            "--hidden-layers and --width shape the MLP only",
        ),
    ];
    for (args, message) in cases {
        bnx()
            .args(args)
            .arg("--data-dir")
            .arg(&f.data)
            .arg("--out")
            .arg(&f.out)
            .assert()
            .code(1)
            .stderr(clean_error().and(predicate::str::contains(message)));
    }
    // What cannot be parsed at all is clap's usage error.
    bnx()
        .args(["train", "--init-scale", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "invalid value 'x' for '--init-scale <X>'",
        ));
    assert!(!f.out.exists(), "nothing is written for bad flags");
    bnx()
        .args(["train", "--model", "resnet"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("invalid value 'resnet'")
                .and(predicate::str::contains("mlp, cnn")),
        );
    bnx()
        .args(["train", "--backend", "tpu"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value 'tpu'"));
    // bench writes the Markdown table or JSON rows, not both.
    bnx()
        .args(["bench", "--json", "--markdown", "table.md"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
}

/// Every cause in an error chain is printed once, after the context that names the file.
#[test]
fn errors_name_each_cause_once() {
    let f = fixture();
    let stderr_of = |command: &mut Command| {
        let output = command.assert().code(1);
        let stderr = String::from_utf8(output.get_output().stderr.clone()).unwrap();
        let line = stderr.trim_end();
        assert!(!line.contains('\n'), "one line: {stderr}");
        let causes: Vec<&str> = line.trim_start_matches("error: ").split(": ").collect();
        for (i, cause) in causes.iter().enumerate() {
            assert!(
                !causes[i + 1..]
                    .iter()
                    .any(|later| later.contains(cause) || cause.contains(later)),
                "'{cause}' repeated in: {line}"
            );
        }
        line.to_string()
    };
    let missing = stderr_of(bnx().args(["train", "--config", "/no/such/config.json"]));
    assert_eq!(
        missing,
        "error: cannot read config file /no/such/config.json: No such file or directory (os error 2)"
    );

    // An output folder under a plain file cannot be created.
    let file = f.out.join("plain-file");
    std::fs::create_dir_all(&f.out).unwrap();
    std::fs::write(&file, "x").unwrap();
    let blocked = stderr_of(&mut f.bnx(&["train", "--epochs", "1", "-q"], &file.join("run")));
    assert!(blocked.contains("cannot write"), "{blocked}");
    assert_eq!(blocked.matches("Not a directory").count(), 1, "{blocked}");

    // A gzip header followed by something that is not a gzip stream.
    std::fs::write(
        f.data.join("train-labels-idx1-ubyte.gz"),
        b"\x1f\x8bnot gzip",
    )
    .unwrap();
    let corrupt = stderr_of(&mut f.bnx(&["train", "--epochs", "1"], &f.out));
    assert!(
        corrupt.ends_with(
            "train-labels-idx1-ubyte.gz: not a valid gzip stream (expected an IDX file, raw or gzipped): invalid gzip header"
        ),
        "{corrupt}"
    );
}

#[test]
fn unavailable_backends_say_what_is_missing_and_what_to_use() {
    let f = fixture();
    let train = |backend: &str| {
        let mut command = f.bnx(&["train", "--epochs", "1", "--backend", backend], &f.out);
        command.env("RUST_BACKTRACE", "1");
        command
    };
    #[cfg(not(feature = "cuda"))]
    train("cuda").assert().code(1).stderr(
        clean_error()
            .and(predicate::str::contains(
                "backend 'cuda' is not compiled into this bnx",
            ))
            .and(predicate::str::contains("--features cuda"))
            .and(predicate::str::contains("--backend flex")),
    );
    // Hide every Vulkan driver and every EGL (OpenGL) vendor library: wgpu finds no adapter.
    let without_drivers = |mut command: Command| {
        let none = f.data.join("no-such-driver.json");
        command
            .env("VK_ICD_FILENAMES", &none)
            .env("VK_DRIVER_FILES", &none)
            .env("__EGL_VENDOR_LIBRARY_FILENAMES", &none);
        command
    };
    without_drivers(train("wgpu")).assert().code(1).stderr(
        clean_error()
            .and(predicate::str::contains("backend 'wgpu' is not available"))
            .and(predicate::str::contains("--backend flex")),
    );
    // auto falls back to flex rather than fail, and says what it picked.
    without_drivers(train("auto"))
        .assert()
        .success()
        .stdout(predicate::str::contains("backend auto → flex ("));
    assert_eq!(read_json(&f.out.join("metrics.json"))["backend"], "flex");
}

#[test]
fn missing_or_broken_data_is_named() {
    let f = fixture();
    let out = f.out.join("compare");
    bnx()
        .args(["compare", "--data-dir", "/definitely/not/here", "--out"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(clean_error().and(predicate::str::contains(
            "data directory /definitely/not/here does not exist (from --data-dir",
        )));
    assert!(
        !out.exists(),
        "nothing is made or written for data that is not there"
    );

    // A truncated training-image file: the error names it and what was expected.
    let images = f.data.join("train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&images).unwrap();
    let raw = f.data.join("train-images-idx3-ubyte");
    std::fs::remove_file(&images).unwrap();
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut decoded)
        .unwrap();
    std::fs::write(&raw, &decoded[..decoded.len() - 100]).unwrap();
    f.bnx(&["train", "--epochs", "1"], &f.out)
        .assert()
        .code(1)
        .stderr(clean_error().and(predicate::str::contains(
            "train-images-idx3-ubyte: header declares",
        )))
        .stderr(predicate::str::contains("the file is truncated"));

    // A label file where the images belong: wrong magic, named.
    std::fs::copy(f.data.join("t10k-labels-idx1-ubyte"), &raw).unwrap();
    bnx()
        .args(["train", "--epochs", "1"])
        .arg("--data-dir")
        .arg(&f.data)
        .assert()
        .code(1)
        .stderr(clean_error().and(predicate::str::contains(
            "magic number is 0x00000801, expected 0x00000803",
        )));

    // A folder without the files.
    let empty = f.out.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    bnx()
        .args(["train", "--dataset", "fashion-mnist"])
        .arg("--data-dir")
        .arg(&empty)
        .assert()
        .code(1)
        .stderr(clean_error().and(predicate::str::contains(
            "expected the four IDX files of fashion-mnist",
        )));
}

#[test]
fn config_files_are_validated_by_field() {
    let f = fixture();
    let config = f.out.join("bad.json");
    std::fs::create_dir_all(&f.out).unwrap();
    let cases = [
        (
            r#"{"training": {"epoch": 3}}"#,
            "bad.json: field `training`: unknown field `epoch`",
        ),
        (
            r#"{"network": {"norm_settings": {"momentum": "high"}}}"#,
            "field `network.norm_settings.momentum`: invalid type",
        ),
        (
            r#"{"network": {"norm": "instance"}}"#,
            "field `network.norm`: unknown variant `instance`",
        ),
        (
            r#"{"model": "mlp", "epochs": 3}"#,
            "flat layout of earlier bnx versions; fields are now nested by concern",
        ),
        (
            r#"{"training": {"epochs": 0}}"#,
            "training.epochs (--epochs) must be at least 1, got 0",
        ),
        (
            r#"{"network": {"norm_noise": {}}}"#,
            "network.norm_noise (--norm-noise) must be left out for a network without normalization",
        ),
        (
            r#"{"network": {"norm": "batch", "norm_noise": {"scale_low": 2.0, "scale_high": 1.0}}}"#,
            "network.norm_noise must be a scale range with 0 < scale_low ≤ scale_high",
        ),
        (
            r#"{"network": {"activation": "tanh"}}"#,
            "field `network.activation`: unknown variant `tanh`",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&config, text).unwrap();
        bnx()
            .args(["train"])
            .arg("--config")
            .arg(&config)
            .assert()
            .code(1)
            .stderr(clean_error().and(predicate::str::contains(expected)));
    }

    // The shipped configs run as they are.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/mlp.json");
    bnx()
        .args(["train", "--epochs", "1", "-q", "--limit-train", "32"])
        .arg("--config")
        .arg(&shipped)
        .arg("--data-dir")
        .arg(&f.data)
        .arg("--out")
        .arg(f.out.join("shipped"))
        .assert()
        .success();

    // A good file, with a flag overriding it.
    std::fs::write(
        &config,
        r#"{"network": {"model": "mlp"}, "training": {"epochs": 5, "batch_size": 8}}"#,
    )
    .unwrap();
    bnx()
        .args(["train", "--epochs", "1", "-q"])
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&f.data)
        .arg("--out")
        .arg(f.out.join("run"))
        .assert()
        .success();
    let resolved = read_json(&f.out.join("run").join("config.json"));
    assert_eq!(
        (
            resolved["config"]["training"]["epochs"].as_u64(),
            resolved["config"]["training"]["batch_size"].as_u64()
        ),
        (Some(1), Some(8))
    );
}

#[test]
fn divergence_stops_with_a_message_and_keeps_valid_metrics() {
    let f = fixture();
    f.bnx(&["train", "--epochs", "3", "--lr", "1e30", "-q"], &f.out)
        .assert()
        .code(1)
        .stderr(clean_error().and(predicate::str::contains(
            "training diverged: the loss became",
        )))
        .stderr(predicate::str::contains("epoch 1, step"));
    let metrics = read_json(&f.out.join("metrics.json"));
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), 0);
}

#[test]
fn plot_of_a_folder_without_results_fails_clearly() {
    let f = fixture();
    bnx()
        .arg("plot")
        .arg(&f.data)
        .assert()
        .code(1)
        .stderr(clean_error().and(predicate::str::contains("holds no results")));
}

/// `--help` of each command lists what that command takes, and only that.
#[test]
fn help_lists_each_commands_flags_and_no_others() {
    let help = |args: &[&str]| {
        let output = bnx().args(args).arg("--help").assert().success();
        String::from_utf8(output.get_output().stdout.clone()).unwrap()
    };
    let top = help(&[]);
    for command in [
        "train",
        "compare",
        "eval",
        "predict",
        "plot",
        "bench",
        "study",
        "Examples:",
    ] {
        assert!(top.contains(command), "{command} in:\n{top}");
    }
    let shared = [
        "--config",
        "--dataset",
        "--data-dir",
        "--keep-subnormals",
        "--quiet",
    ];
    let training = ["--backend <", "--batch-size", "--lr", "--seed"];
    let schedule = ["--epochs", "--limit-train", "--limit-test"];
    let cases: [(&str, Vec<&str>, Vec<&str>); 7] = [
        (
            "train",
            [
                &shared[..],
                &training,
                &schedule,
                &[
                    "--bn",
                    "--no-bn",
                    "--norm <",
                    "--activation <",
                    "--norm-noise",
                    "--out",
                    "--resume <DIR>",
                    "--tensorboard <",
                    "--tensorboard-steps",
                ],
            ]
            .concat(),
            vec!["--backends", "--seeds"],
        ),
        (
            "compare",
            [
                &shared[..],
                &training,
                &schedule,
                &[
                    "--norm-position",
                    "--out",
                    "--seeds",
                    "--jobs",
                    "--resume <DIR>...",
                    "--tensorboard <",
                ],
            ]
            .concat(),
            vec!["--bn ", "--backends", "--budget"],
        ),
        (
            "study",
            [
                &shared[..],
                &training,
                &[
                    "--seeds",
                    "--budget",
                    "--jobs",
                    "--rerun",
                    "--shard <K/N>",
                    "--report-only",
                    "--allow-missing",
                ],
            ]
            .concat(),
            vec![
                "--epochs",
                "--limit-train",
                "--limit-test",
                "--backends",
                "--tensorboard",
                "--resume",
            ],
        ),
        (
            "bench",
            [
                &shared[..],
                &["--backends", "--batch-size", "--limit-train", "--steps"],
            ]
            .concat(),
            vec![
                "--epochs",
                "--backend <",
                "--lr",
                "--seed",
                "--limit-test",
                "--tensorboard",
            ],
        ),
        ("plot", vec!["<DIR>..."], vec!["--config", "--backend"]),
        (
            "eval",
            vec!["<DIR>", "--data-dir", "--backend <", "--json"],
            vec!["--config", "--epochs", "--out", "--seed"],
        ),
        (
            "predict",
            vec!["<DIR>", "<IMAGE>...", "--backend <", "--json"],
            vec!["--config", "--data-dir", "--epochs", "--out"],
        ),
    ];
    for (command, present, absent) in cases {
        let full = help(&[command]);
        // The examples below the options mention other commands' flags.
        let text = full.split("Examples:").next().unwrap();
        for flag in present {
            assert!(
                text.contains(flag),
                "bnx {command} --help lacks {flag}:\n{text}"
            );
        }
        for flag in absent {
            assert!(
                !text.contains(flag),
                "bnx {command} --help offers {flag}:\n{text}"
            );
        }
    }
}

/// The README's first command writes to `runs/`, which git ignores: trying bnx leaves the
/// committed `results/` as they are.
#[test]
fn default_output_goes_to_the_ignored_runs_folder() {
    let f = fixture();
    let cwd = f.out.join("checkout");
    std::fs::create_dir_all(&cwd).unwrap();
    bnx()
        .current_dir(&cwd)
        .args(["compare", "--epochs", "1", "-q", "--limit-train", "32"])
        .arg("--data-dir")
        .arg(&f.data)
        .assert()
        .success()
        .stdout(predicate::str::contains("runs/mlp/comparison.png"));
    assert!(cwd.join("runs/mlp/bn/metrics.json").is_file());
    assert!(!cwd.join("results").exists());
}

#[test]
fn study_lr_tiny_writes_chart_table_verdict_and_reuses_runs() {
    let f = fixture();
    let run = |extra: &[&str]| {
        f.bnx(&["study", "lr", "--budget", "tiny", "--seeds", "2"], &f.out)
            .args(extra)
            .assert()
            .success()
    };
    let first = run(&["--jobs", "2"]);
    let stdout = String::from_utf8(first.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("[28/28] lr:"), "{stdout}");
    let study = f.out.join("lr");
    assert_eq!(png_size(&study.join("lr.png")), (900, 600));
    let svg = std::fs::read_to_string(study.join("lr.svg")).unwrap();
    assert!(
        svg.contains("Learning rate") && svg.contains("With BN"),
        "axis label and legend"
    );

    let summary = read_json(&study.join("summary.json"));
    assert_eq!(summary["study"], "lr");
    assert_eq!(summary["runs"], 28);
    let finding = &summary["findings"][0];
    let verdict = finding["verdict"].as_str().unwrap();
    let (expected, endpoints) = lr_verdict_from_runs(&study);
    assert_eq!(verdict, expected, "the report's verdict: {finding}");
    let reported = finding["endpoints"].as_array().unwrap();
    assert_eq!(reported.len(), endpoints.len(), "{finding}");
    for (e, (label, mean, (lo, hi))) in reported.iter().zip(&endpoints) {
        assert_eq!(e["label"], label.as_str());
        let ci = &e["test"]["ci95"];
        for (got, want) in [(&e["test"]["mean"], mean), (&ci[0], lo), (&ci[1], hi)] {
            assert!((got.as_f64().unwrap() - want).abs() < 1e-9, "{e}");
        }
    }
    assert_eq!(
        summary["table"]["rows"].as_array().unwrap().len(),
        7,
        "one row per learning rate"
    );

    let report = std::fs::read_to_string(f.out.join("REPORT.md")).unwrap();
    assert!(
        report.contains("## `lr` — Higher learning rates"),
        "{report}"
    );
    assert!(report.contains("![lr chart](lr/lr.png)"));
    assert!(report.contains("| lr 0.1 |"));
    assert!(report.contains(&format!("**Verdict: {}.**", verdict.to_uppercase())));
    assert!(
        report.contains("![lr: paired differences with 95 % confidence intervals](lr/forest.png)")
    );
    assert!(png_size(&study.join("forest.png")).0 > 0);

    // Every run keeps its metrics like `train` does.
    let metrics = read_json(&study.join("bn/lr-0.01/seed-43/metrics.json"));
    assert_eq!(metrics["bn"], true);
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), 2);

    // Retrained one run at a time, every number is the same: runs are independent and seeded.
    let run_file = study.join("bn/lr-0.01/seed-43/run.json");
    let trained_at = std::fs::metadata(&run_file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    run(&["--jobs", "1", "--rerun"]);
    assert_eq!(read_json(&study.join("summary.json")), summary);
    let retrained_at = std::fs::metadata(&run_file).unwrap().modified().unwrap();
    assert!(retrained_at > trained_at, "--rerun trains again");
    // Without --rerun the finished runs are reused, not retrained.
    run(&[]);
    assert_eq!(
        std::fs::metadata(&run_file).unwrap().modified().unwrap(),
        retrained_at
    );
    assert_eq!(read_json(&study.join("summary.json")), summary);
}

/// An endpoint's label, mean and 95 % interval.
type LabelledInterval = (String, f64, (f64, f64));

/// The `lr` verdict recomputed from the runs' `run.json` files by the rule its report states,
/// independently of bnx's statistics code: the rates above 1e-3 where the plain network's
/// final inference-mode training-subset accuracy (mean over seeds) is more than 1 pp below its
/// best qualify; at each, the per-seed difference With BN − No BN in final validation accuracy
/// (a diverged run scores chance, 10 %) gets a paired t-test; with 2 seeds t has 1 degree of
/// freedom, a Cauchy distribution: two-sided p = 1 − 2·atan(|t|)/π and the 95 % quantile is
/// 12.706204736174694. Holm over the qualifying rates; supported if every one is significant in
/// BN's favour, contradicted if any is significant against it, inconclusive otherwise.
/// Returns the verdict and each endpoint's (label, mean, 95 % CI).
fn lr_verdict_from_runs(study: &Path) -> (&'static str, Vec<LabelledInterval>) {
    let run = |series: &str, rate: &str, seed: u64| {
        read_json(
            &study
                .join(series)
                .join(format!("lr-{rate}"))
                .join(format!("seed-{seed}"))
                .join("run.json"),
        )
    };
    let diverged = |run: &serde_json::Value| !run["diverged"].is_null();
    let accuracy = |run: &serde_json::Value| {
        if diverged(run) {
            0.1
        } else {
            let last = run["epochs"].as_array().unwrap().last().unwrap();
            last["val_acc"].as_f64().unwrap()
        }
    };
    let training = |run: &serde_json::Value| {
        if diverged(run) {
            0.1
        } else {
            run["measured"]["train_subset_acc"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .as_f64()
                .unwrap()
        }
    };
    let rates = ["0.0001", "0.0003", "0.001", "0.003", "0.01", "0.03", "0.1"];
    let plain = |rate: &str| {
        (42..44)
            .map(|s| training(&run("no-bn", rate, s)))
            .sum::<f64>()
            / 2.0
    };
    let best = rates.iter().map(|r| plain(r)).fold(f64::MIN, f64::max);
    let mut endpoints = Vec::new();
    let mut p = Vec::new();
    for rate in &rates[3..] {
        if plain(rate) >= best - 0.01 {
            continue;
        }
        let d: Vec<f64> = (42..44)
            .map(|s| accuracy(&run("bn", rate, s)) - accuracy(&run("no-bn", rate, s)))
            .collect();
        let mean = (d[0] + d[1]) / 2.0;
        let sd = ((d[0] - mean).powi(2) + (d[1] - mean).powi(2)).sqrt();
        let half = 12.706204736174694 * sd / 2f64.sqrt();
        p.push(if sd == 0.0 {
            if mean == 0.0 { 1.0 } else { 0.0 }
        } else {
            1.0 - 2.0 * (mean / (sd / 2f64.sqrt())).abs().atan() / std::f64::consts::PI
        });
        endpoints.push((format!("lr {rate}"), mean, (mean - half, mean + half)));
    }
    // Holm: the k-th smallest p times (m − k), kept monotone.
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut adjusted = vec![0.0; p.len()];
    let mut running = 0.0f64;
    for (k, &i) in order.iter().enumerate() {
        running = running.max(((p.len() - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    let significant = |i: usize| adjusted[i] < 0.05;
    let verdict = if (0..p.len()).any(|i| significant(i) && endpoints[i].1 < 0.0) {
        "contradicted"
    } else if !p.is_empty() && (0..p.len()).all(|i| significant(i) && endpoints[i].1 > 0.0) {
        "supported"
    } else {
        "inconclusive"
    };
    (verdict, endpoints)
}

#[test]
fn study_takes_no_flag_the_budget_decides() {
    let f = fixture();
    for flag in ["--epochs", "--limit-train", "--limit-test"] {
        bnx()
            .args(["study", "lr", flag, "3"])
            .arg("--data-dir")
            .arg(&f.data)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "unexpected argument '{flag}'"
            )));
    }
    bnx()
        .args(["study", "speed"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("convergence"));
}

/// Every study end to end on tiny data: each writes its chart, forest plot, report and summary,
/// and every finding carries its primary endpoint's paired test over both seeds.
#[test]
fn study_all_tiny_reports_every_claim_with_paired_tests() {
    let f = fixture();
    let output = f
        .bnx(
            &["study", "all", "--budget", "tiny", "--seeds", "2", "-q"],
            &f.out,
        )
        .assert()
        .success();
    let stdout = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let studies = [
        "convergence",
        "lr",
        "init",
        "batch",
        "position",
        "depth",
        "regularization",
        "smoothness",
        "shift",
        "noise",
    ];
    let report = std::fs::read_to_string(f.out.join("REPORT.md")).unwrap();
    for study in studies {
        let dir = f.out.join(study);
        for file in ["REPORT.md", "forest.png", "forest.svg", "summary.json"] {
            assert!(dir.join(file).is_file(), "{study}/{file}");
        }
        assert!(png_size(&dir.join(format!("{study}.png"))).0 >= 900);
        assert!(stdout.contains(study), "{stdout}");
        assert!(report.contains(&format!("![{study}: paired differences")));
        let summary = read_json(&dir.join("summary.json"));
        let findings = summary["findings"].as_array().unwrap();
        assert!(!findings.is_empty(), "{study}");
        // The secondaries are one Holm family: each adjusted p is the step-down maximum of
        // (m − rank) × p over the raw p-values sorted ascending, capped at 1.
        let secondary = summary["secondary"].as_array().unwrap();
        let raw: Vec<f64> = secondary
            .iter()
            .map(|e| e["test"]["p_value"].as_f64().unwrap_or(1.0))
            .collect();
        let mut order: Vec<usize> = (0..raw.len()).collect();
        order.sort_by(|&a, &b| raw[a].total_cmp(&raw[b]));
        let mut running: f64 = 0.0;
        for (rank, &i) in order.iter().enumerate() {
            running = running.max(((raw.len() - rank) as f64 * raw[i]).min(1.0));
            if let Some(adjusted) = secondary[i]["p_adjusted"].as_f64() {
                assert!(
                    (adjusted - running).abs() < 1e-12,
                    "{study}: {adjusted} vs {running}"
                );
                let significant = secondary[i]["verdict"].as_str() != Some("inconclusive");
                assert_eq!(significant, adjusted < 0.05, "{study}: {}", secondary[i]);
            }
        }
        for finding in findings {
            let verdict = finding["verdict"].as_str().unwrap();
            assert!(
                ["supported", "contradicted", "inconclusive"].contains(&verdict),
                "{study}: {verdict}"
            );
            for endpoint in finding["endpoints"].as_array().unwrap() {
                let seeds = endpoint["seeds"].as_array().unwrap();
                assert_eq!(seeds.len(), 2, "{study}: {endpoint}");
                assert!(endpoint["test"]["n"].as_u64().unwrap() <= 2);
            }
        }
    }
    // The raw measurements each claim needs are in its runs' run.json.
    let run = |path: &str| read_json(&f.out.join(path).join("run.json"));
    let smooth = run("smoothness/bn/mlp/seed-42");
    assert!(
        !smooth["measured"]["landscape"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let shift = run("shift/bn/mlp/seed-43");
    assert!(
        !shift["measured"]["covariate_shift"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(!shift["measured"]["probes"].as_array().unwrap().is_empty());
    // Ioffe & Szegedy's sigmoid network, probed one unit at a time, and its figure in the report.
    let sigmoid = run("shift/bn/sigmoid-mlp-3-100/seed-42");
    assert_eq!(
        sigmoid["spec"]["config"]["network"]["activation"].as_str(),
        Some("sigmoid")
    );
    assert!(
        sigmoid["measured"]["probes"][0]["unit"]
            .as_array()
            .is_some()
    );
    assert_eq!(
        png_size(&f.out.join("shift/ioffe-szegedy-fig1.png")).0,
        2100
    );
    assert!(report.contains("figure 1, reproduced.** Ioffe & Szegedy: \"(a) The test accuracy"));
    assert!(report.contains("](shift/ioffe-szegedy-fig1.png)"));
    let noisy = run("noise/noisy-bn/mlp/seed-43");
    assert!(noisy["spec"]["config"]["network"]["norm_noise"].is_object());
    let bn = run("convergence/bn/cnn/seed-42");
    assert_eq!(
        bn["measured"]["train_subset_acc"].as_array().unwrap().len(),
        2
    );
    assert_eq!(bn["measured"]["recalibrated"].as_array().unwrap().len(), 2);
    assert_eq!(
        bn["measured"]["bn_running_var"].as_array().unwrap().len(),
        2
    );
}

/// The exit-status contract, and proof that the helpers catch a panic: bnx's one test-only path
/// into an internal error (BNX_TEST_INTERNAL_ERROR) must exit 70, say it is a bug, and fail both
/// `.code(1)` and `clean_error()`, which every user-error assertion in these tests pairs.
#[test]
fn an_internal_error_is_a_bug_with_its_own_status_and_the_helpers_reject_it() {
    let f = fixture();
    let output = f
        .bnx(&["train", "--epochs", "1", "-q"], &f.out)
        .env("BNX_TEST_INTERNAL_ERROR", "1")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(i32::from(bnx::INTERNAL_ERROR_EXIT_CODE))
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: internal error: BNX_TEST_INTERNAL_ERROR is set")
            && stderr.contains("this is a bug in bnx"),
        "{stderr}"
    );
    assert!(
        !clean_error().eval(stderr.as_str()),
        "clean_error() accepted: {stderr}"
    );
    let asserted = f
        .bnx(&["train", "--epochs", "1", "-q"], &f.out)
        .env("BNX_TEST_INTERNAL_ERROR", "1")
        .assert();
    assert!(asserted.try_code(1).is_err(), "a panic passed .code(1)");

    // The other statuses of the contract: a user error 1, a usage error (clap) 2.
    bnx()
        .args(["train", "--data-dir", "/definitely/not/here"])
        .assert()
        .code(i32::from(bnx::USER_ERROR_EXIT_CODE))
        .stderr(clean_error());
    bnx().args(["train", "--no-such-flag"]).assert().code(2);
}

/// Shell completion and the man page come from the clap definition and work where they are used.
#[test]
fn completions_complete_in_a_real_bash_and_the_man_page_renders() {
    let dir = tempfile::TempDir::new().unwrap();
    let script = dir.path().join("bnx.bash");
    let output = bnx().args(["completions", "bash"]).assert().success();
    std::fs::write(&script, &output.get_output().stdout).unwrap();
    let completed = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}'; COMP_WORDS=(bnx comp); COMP_CWORD=1; COMP_LINE='bnx comp'; COMP_POINT=8; _bnx bnx comp bnx; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let words = String::from_utf8(completed.stdout).unwrap();
    assert_eq!(
        words.lines().collect::<Vec<_>>(),
        ["compare", "completions"],
        "{words}"
    );
    for shell in ["zsh", "fish", "powershell"] {
        bnx()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("compare"));
    }

    let page = dir.path().join("bnx.1");
    let output = bnx().arg("man").assert().success();
    std::fs::write(&page, &output.get_output().stdout).unwrap();
    let rendered = std::process::Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(rendered.status.success(), "man -l: {rendered:?}");
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        text.contains("What does Batch Normalization actually do"),
        "{text}"
    );
    assert!(text.contains("compare"), "{text}");
}
