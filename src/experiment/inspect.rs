//! A trained run's checkpoint put to use: `bnx eval` (the test split: accuracy, loss, confusion
//! matrix, most confident mistakes) and `bnx predict` (loose PNG images).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use serde::Serialize;

use super::error::ExperimentError;
use crate::data::LoadedData;
use crate::data::digits::read_digit;
use crate::model::Network;
use crate::report::eval_charts::{Tile, render_confusion, render_mistakes};
use crate::report::evaluation::{Evaluation, LastEpoch, probability_label, score};
use crate::report::files::{CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE};
use crate::report::{ReportError, RunMetrics, RunRecord};
use crate::runtime::{Backend, BackendKind, write_json};
use crate::train::evaluate::{eval_loader, evaluate_each};
use crate::train::predict::{CLASSES, argmax, image_probabilities, softmax_rows};

/// Where `eval` writes: `DIR/eval/`.
pub const EVAL_DIR: &str = "eval";

/// A run folder's record and its trained network, in inference mode on `backend`.
pub struct TrainedRun {
    pub dir: PathBuf,
    pub record: RunRecord,
    pub model: Network,
}

/// The run in `dir` loaded onto its backend (or `backend` when given): the network its
/// `config.json` describes with the weights and running statistics of its `model.bpk`.
pub fn open(
    dir: &Path,
    backend: Option<BackendKind>,
) -> Result<(TrainedRun, Backend), ExperimentError> {
    let record = read_record(dir)?;
    let runtime = &record.config.runtime;
    let backend = Backend::open(backend.unwrap_or(runtime.backend), runtime.flush_subnormals)?;
    let run = load_trained(dir, record, &backend)?;
    Ok((run, backend))
}

/// Reads `dir/config.json`, written by this bnx version.
fn read_record(dir: &Path) -> Result<RunRecord, ExperimentError> {
    let record = RunRecord::load(dir)?;
    if record.bnx_version != env!("CARGO_PKG_VERSION") {
        return Err(ExperimentError::Checkpoint {
            path: dir.join(CONFIG_FILE),
            message: format!(
                "it was written by bnx {}, this is bnx {}; train the run again with this version",
                record.bnx_version,
                env!("CARGO_PKG_VERSION")
            ),
        });
    }
    Ok(record)
}

/// Loads the network `record` describes from `dir/model.bpk` onto `backend`.
fn load_trained(
    dir: &Path,
    record: RunRecord,
    backend: &Backend,
) -> Result<TrainedRun, ExperimentError> {
    let path = dir.join(CHECKPOINT_FILE);
    if !path.is_file() {
        return Err(ExperimentError::Checkpoint {
            path,
            message: "there is no such file; `bnx train` and `bnx compare` keep one in every run folder (studies do not)".into(),
        });
    }
    let network = &record.config.network;
    let fail = |message: String| ExperimentError::Checkpoint {
        path: path.clone(),
        message,
    };
    let checkpoint = ModuleRecord::load(&path).map_err(|e| fail(e.to_string()))?;
    let model = network
        .init(record.config.training.seed, &backend.device)
        .try_load_record(checkpoint)
        .map_err(|e| {
            fail(format!(
                "it does not fit the network {CONFIG_FILE} describes ({}): {e}",
                network.label()
            ))
        })?
        .valid();
    Ok(TrainedRun {
        dir: dir.into(),
        record,
        model,
    })
}

/// Evaluates `run` on `data`'s test split and writes `eval.json`, `confusion.png` and
/// `mistakes.png` into `run.dir/eval/`.
pub fn evaluate_run(
    run: &TrainedRun,
    backend: &Backend,
    data: &LoadedData,
) -> Result<Evaluation, ExperimentError> {
    let test = &data.test;
    let loader = eval_loader(test, &backend.device);
    // The very computation the run validated with, so the numbers can be compared exactly; the
    // probabilities come from the same forward pass.
    let mut probabilities = Vec::with_capacity(test.labels().len());
    let (loss, accuracy) = evaluate_each(&run.model, loader.as_ref(), |logits| {
        probabilities.extend(softmax_rows(logits))
    });
    let dataset = data.provenance.name;
    let (classes, confusion, mistakes) = score(test.labels(), &probabilities, dataset);
    let same_test_split = data.provenance.sha256 == run.record.dataset.sha256
        && test.labels().len() == run.record.test_samples;
    let run_last_epoch = match same_test_split && run.dir.join(METRICS_FILE).is_file() {
        true => RunMetrics::load(&run.dir)?
            .epochs
            .last()
            .map(|e| LastEpoch {
                epoch: e.epoch,
                val_acc: e.val_acc,
                val_loss: e.val_loss,
            }),
        false => None,
    };
    let evaluation = Evaluation {
        run: run.dir.clone(),
        network: run.record.config.network.label(),
        dataset,
        data_dir: data.provenance.dir.clone(),
        samples: test.labels().len(),
        accuracy,
        loss,
        run_last_epoch,
        classes,
        confusion,
        mistakes,
    };
    let out = run.dir.join(EVAL_DIR);
    write_json(&out.join("eval.json"), &evaluation).map_err(ReportError::from)?;
    let names = dataset.class_names();
    let title = format!(
        "{} on the {} test split: {:.2}% of {} right",
        run.record.config.network.label().to_uppercase(),
        dataset.title(),
        100.0 * accuracy,
        evaluation.samples
    );
    render_confusion(
        &out.join("confusion.png"),
        &title,
        &evaluation.confusion,
        &names,
    )?;
    let tiles: Vec<Tile> = evaluation
        .mistakes
        .iter()
        .map(|m| Tile {
            pixels: test.image(m.index),
            caption: format!(
                "true {} → {} ({})",
                names[m.label],
                names[m.predicted],
                probability_label(m.probability)
            ),
        })
        .collect();
    let title = format!(
        "{}: the {} test images it got wrong most confidently",
        run.record.config.network.label().to_uppercase(),
        tiles.len()
    );
    render_mistakes(&out.join("mistakes.png"), &title, &tiles)?;
    Ok(evaluation)
}

/// What the network makes of one image file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub file: PathBuf,
    pub predicted: usize,
    pub name: String,
    /// The three most probable classes, most probable first: (class, name, probability).
    pub top3: Vec<(usize, String, f32)>,
    pub probabilities: [f32; CLASSES],
}

/// One file's outcome: its prediction, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FilePrediction {
    Predicted(Prediction),
    Failed { file: PathBuf, error: String },
}

/// Classifies each PNG in `files` (shaped as MNIST digits are; see `data::digits`), in order; a
/// file that cannot be read gets its error instead, and the others are classified all the same.
pub fn predict_files(
    run: &TrainedRun,
    backend: &Backend,
    files: &[PathBuf],
) -> Vec<FilePrediction> {
    let read: Vec<_> = files.iter().map(|file| read_digit(file)).collect();
    let images: Vec<_> = read
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    let names = run.record.config.data.dataset.class_names();
    let mut probabilities = image_probabilities(&run.model, &images, &backend.device).into_iter();
    files
        .iter()
        .zip(read)
        .map(|(file, image)| match image {
            Err(error) => FilePrediction::Failed {
                file: file.clone(),
                error: error.to_string(),
            },
            Ok(_) => {
                let probabilities = probabilities.next().expect("one row per readable image");
                FilePrediction::Predicted(ranked(file, probabilities, &names))
            }
        })
        .collect()
}

/// The prediction `probabilities` make for `file`, with the three most probable classes.
fn ranked(file: &Path, probabilities: [f32; CLASSES], names: &[&str; CLASSES]) -> Prediction {
    let mut ranked: Vec<usize> = (0..CLASSES).collect();
    ranked.sort_by(|&a, &b| {
        probabilities[b]
            .total_cmp(&probabilities[a])
            .then(a.cmp(&b))
    });
    let predicted = argmax(&probabilities);
    Prediction {
        file: file.into(),
        predicted,
        name: names[predicted].into(),
        top3: ranked[..3]
            .iter()
            .map(|&c| (c, names[c].to_string(), probabilities[c]))
            .collect(),
        probabilities,
    }
}
