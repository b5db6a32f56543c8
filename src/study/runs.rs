//! One run of a study: what it trains (`RunSpec`), what else decides it (`RunContext`) and what
//! it measured (`RunOutcome`, kept as `run.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::kind::CHANCE_ACCURACY;
use super::point::Point;
use super::variant::Variant;
use crate::config::ExperimentConfig;
use crate::data::LoadedData;
use crate::model::ModelKind;
use crate::runtime::{Backend, BackendKind};
use crate::train::EpochMetrics;

/// The data and epochs of one run: the first `limit_train` / `limit_test` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scale {
    pub limit_train: Option<usize>,
    pub limit_test: Option<usize>,
    pub epochs: usize,
}

impl Scale {
    pub const fn new(limit_train: Option<usize>, limit_test: Option<usize>, epochs: usize) -> Self {
        Self {
            limit_train,
            limit_test,
            epochs,
        }
    }
}

/// One run of a study's grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "legacy::RunSpecFile")]
pub struct RunSpec {
    /// The curve this run belongs to.
    pub series: Variant,
    /// The grid point: what the study varies there.
    pub point: Point,
    /// Everything the run trains with, as `bnx train` would resolve it; the run's
    /// `config.json` holds exactly this.
    pub config: ExperimentConfig,
    /// What the run measures besides its epochs, by measure id (see `study::measures`).
    pub measures: Schedules,
}

/// Measure id → when it reads.
pub type Schedules = BTreeMap<String, Schedule>;

/// When a measure reads during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// After every epoch's validation.
    EveryEpoch,
    /// Every this many optimizer steps.
    EverySteps(usize),
}

impl Schedule {
    /// The step interval (1 for per-epoch measures, which read at every chance they get).
    pub fn steps(self) -> usize {
        match self {
            Self::EveryEpoch => 1,
            Self::EverySteps(every) => every,
        }
    }
}

impl RunSpec {
    /// `<series>/<point>/seed-<seed>`, in lower-case words joined by dashes.
    pub fn dir(&self) -> PathBuf {
        PathBuf::from(self.series.name())
            .join(self.point.slug())
            .join(format!("seed-{}", self.seed()))
    }

    pub fn model(&self) -> ModelKind {
        self.config.network.model
    }

    pub fn seed(&self) -> u64 {
        self.config.training.seed
    }

    /// The grid point's value on the chart's x axis.
    pub fn x(&self) -> f64 {
        self.point.x()
    }

    /// The run's data and epochs.
    pub fn scale(&self) -> Scale {
        Scale {
            limit_train: self.config.data.limit_train,
            limit_test: self.config.data.limit_test,
            epochs: self.config.training.epochs,
        }
    }
}

/// What else decides a run besides its spec: an earlier `run.json` is reused only when all
/// of it matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    /// SHA-256 naming the dataset's four files.
    pub dataset_sha256: String,
    /// The backend that runs (what `auto` chose).
    pub backend: BackendKind,
    pub bnx_version: String,
    /// FTZ/DAZ on the CPU compute threads.
    pub flush_subnormals: bool,
}

impl RunContext {
    pub(super) fn of(backend: &Backend, data: &LoadedData) -> Self {
        Self {
            dataset_sha256: data.provenance.sha256.clone(),
            backend: backend.kind,
            bnx_version: env!("CARGO_PKG_VERSION").into(),
            flush_subnormals: backend.flush_subnormals,
        }
    }
}

#[cfg(test)]
impl RunOutcome {
    /// A run of `spec` that diverged before its first epoch, for tests.
    pub fn diverged_for_tests(spec: RunSpec) -> Self {
        Self {
            spec,
            context: RunContext::for_tests(),
            epochs: Vec::new(),
            diverged: Some("training diverged".into()),
            measured: Measured::default(),
            steps_per_epoch: 0,
            seconds: 0.0,
        }
    }
}

#[cfg(test)]
impl RunContext {
    /// A context for synthetic runs in tests.
    pub fn for_tests() -> Self {
        Self {
            dataset_sha256: String::new(),
            backend: BackendKind::Flex,
            bnx_version: String::new(),
            flush_subnormals: true,
        }
    }
}

/// One finished run, as `run.json` keeps it next to the run's `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "legacy::RunOutcomeFile")]
pub struct RunOutcome {
    pub spec: RunSpec,
    pub context: RunContext,
    pub epochs: Vec<EpochMetrics>,
    /// Why the run stopped early (a non-finite loss), if it did.
    pub diverged: Option<String>,
    /// Each measure's raw series, by measure id.
    pub measured: Measured,
    /// Optimizer steps per epoch, to put epoch-wise accuracies on a step axis (0 in runs
    /// recorded before bnx kept it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub steps_per_epoch: usize,
    pub seconds: f64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The raw series of a run's measures, by measure id, as `run.json` keeps them. Each measure
/// reads its own back with [`Measured::read`]; an absent series reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Measured(BTreeMap<String, serde_json::Value>);

impl Measured {
    /// Keeps `series` under `id`; an empty series is not kept.
    pub fn insert<T: Serialize>(&mut self, id: &str, series: &T) {
        // A series is numbers, lists and structs with named fields, which always serialize.
        // `to_value` keeps every number exactly as recorded (an f32 is widened, so run.json
        // prints it with f64's digits); going through the JSON text instead would print f32s
        // shorter but, without serde_json's float_roundtrip, move some f64s by an ulp, and a
        // fresh study's summary.json with them.
        let value = serde_json::to_value(series).expect("a measure's series serializes");
        let empty = matches!(&value, serde_json::Value::Array(items) if items.is_empty());
        if !empty {
            self.0.insert(id.into(), value);
        }
    }

    /// The series kept under `id`; the type's default (an empty series) when there is none.
    pub fn read<T: serde::de::DeserializeOwned + Default>(&self, id: &str) -> T {
        self.0
            .get(id)
            .and_then(|value| T::deserialize(value).ok())
            .unwrap_or_default()
    }

    /// Whether the series under `id`, if there is one, reads as a `T`.
    pub fn reads_as<T: serde::de::DeserializeOwned>(&self, id: &str) -> bool {
        self.0
            .get(id)
            .is_none_or(|value| T::deserialize(value).is_ok())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }
}

impl RunOutcome {
    /// Final validation accuracy; chance level for a diverged run.
    pub fn final_val_acc(&self) -> f64 {
        match (&self.diverged, self.epochs.last()) {
            (None, Some(last)) => last.val_acc,
            _ => CHANCE_ACCURACY,
        }
    }

    /// Validation accuracy after `epoch` (1-based); chance once the run has diverged.
    pub fn val_acc_at(&self, epoch: usize) -> f64 {
        self.epochs
            .get(epoch - 1)
            .map_or(CHANCE_ACCURACY, |e| e.val_acc)
    }
}

/// `run.json` as bnx reads it: today's form, or the form before measures were plug-ins (one
/// field per measure on the spec and on the outcome) and grid points were typed (a label).
/// Every committed study is in the older form; these structs are frozen with it.
mod legacy {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum PointField {
        Typed(Point),
        Label(String),
    }

    #[derive(Deserialize)]
    pub(super) struct RunSpecFile {
        series: Variant,
        point: PointField,
        config: ExperimentConfig,
        #[serde(default)]
        measures: Option<Schedules>,
        #[serde(default)]
        probe_every: Option<usize>,
        #[serde(default)]
        record_steps: bool,
        #[serde(default)]
        landscape_every: Option<usize>,
        #[serde(default)]
        shift_every: Option<usize>,
    }

    /// What every study run measured before the spec listed its measures.
    const ALWAYS: [&str; 3] = ["bn_running_var", "train_subset_acc", "recalibrated"];

    impl TryFrom<RunSpecFile> for RunSpec {
        type Error = String;

        fn try_from(file: RunSpecFile) -> Result<Self, String> {
            let point = match file.point {
                PointField::Typed(point) => point,
                PointField::Label(label) => label.parse()?,
            };
            let measures = file.measures.unwrap_or_else(|| {
                let every = |id: &str, steps: Option<usize>| {
                    steps.map(|n| (id.to_string(), Schedule::EverySteps(n)))
                };
                ALWAYS
                    .iter()
                    .map(|id| (id.to_string(), Schedule::EveryEpoch))
                    .chain(every("probes", file.probe_every))
                    .chain(every("step_losses", file.record_steps.then_some(1)))
                    .chain(every("landscape", file.landscape_every))
                    .chain(every("covariate_shift", file.shift_every))
                    .collect()
            });
            Ok(Self {
                series: file.series,
                point,
                config: file.config,
                measures,
            })
        }
    }

    #[derive(Deserialize)]
    pub(super) struct RunOutcomeFile {
        spec: RunSpec,
        context: RunContext,
        epochs: Vec<EpochMetrics>,
        diverged: Option<String>,
        #[serde(default)]
        measured: Measured,
        #[serde(default)]
        steps_per_epoch: usize,
        seconds: f64,
        /// The series that were fields of their own, under their measure's id.
        #[serde(flatten)]
        older: BTreeMap<String, serde_json::Value>,
    }

    /// The outcome fields that were series; any other unknown field is refused.
    pub(crate) const SERIES: [&str; 7] = [
        "train_subset_acc",
        "bn_running_var",
        "recalibrated",
        "step_losses",
        "probes",
        "landscape",
        "covariate_shift",
    ];

    impl TryFrom<RunOutcomeFile> for RunOutcome {
        type Error = String;

        fn try_from(file: RunOutcomeFile) -> Result<Self, String> {
            let mut measured = file.measured;
            for (id, series) in file.older {
                if !SERIES.contains(&id.as_str()) {
                    return Err(format!("unknown field `{id}`"));
                }
                measured.insert(&id, &series);
            }
            Ok(Self {
                spec: file.spec,
                context: file.context,
                epochs: file.epochs,
                diverged: file.diverged,
                measured,
                steps_per_epoch: file.steps_per_epoch,
                seconds: file.seconds,
            })
        }
    }
}

#[cfg(test)]
pub(crate) use legacy::SERIES as LEGACY_SERIES;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::kind::{Budget, StudyKind};
    use crate::study::plan;

    fn committed(path: &str) -> RunOutcome {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn a_committed_run_json_from_before_plug_ins_loads_as_the_plan_has_it() {
        let old = committed("results/study/shift/bn/sigmoid-mlp-3-100/seed-43/run.json");
        let planned = plan::runs(
            StudyKind::Shift,
            Budget::Quick,
            None,
            &ExperimentConfig::default(),
        )
        .into_iter()
        .find(|spec| spec.dir() == old.spec.dir())
        .unwrap();
        // Equal to today's plan: the cached run is reused, not retrained.
        assert_eq!(old.spec, planned);
        assert_eq!(old.spec.point, Point::SigmoidMlp);
        assert_eq!(
            old.spec.measures["probes"],
            Schedule::EverySteps(10),
            "{:?}",
            old.spec.measures
        );
        for id in [
            "probes",
            "covariate_shift",
            "train_subset_acc",
            "bn_running_var",
        ] {
            assert!(old.measured.contains(id), "{id}");
        }
        let cosines: Vec<serde_json::Value> = old.measured.read("covariate_shift");
        assert!(cosines.len() > 10);
    }

    #[test]
    fn a_run_json_round_trips_in_todays_form() {
        let old = committed("results/study/smoothness/no-bn/mlp/seed-44/run.json");
        let text = serde_json::to_string(&old).unwrap();
        assert!(text.contains("\"measured\":{") && !text.contains("\"record_steps\""));
        let again: RunOutcome = serde_json::from_str(&text).unwrap();
        assert_eq!(again, old);
        let steps: Vec<f32> = again.measured.read("step_losses");
        assert_eq!(steps.len(), 3 * 10_000usize.div_ceil(32));
    }

    #[test]
    fn an_unknown_point_or_field_is_refused() {
        let old = committed("results/study/smoothness/no-bn/mlp/seed-44/run.json");
        let mut value = serde_json::to_value(&old).unwrap();
        value["spec"]["point"] = "lr fast".into();
        assert!(serde_json::from_value::<RunOutcome>(value).is_err());
        let mut value = serde_json::to_value(&old).unwrap();
        value["gradient_noise"] = serde_json::json!([1.0]);
        assert!(serde_json::from_value::<RunOutcome>(value).is_err());
    }
}
