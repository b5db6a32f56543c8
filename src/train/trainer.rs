//! The `Trainer`: a network, its Adam optimizer and its loss, stepping one batch at a time. Every
//! loop that trains (`fit`, `bench`, the cross-backend checks) steps through it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use super::adam::FusedAdam;
use super::epoch::EpochMetrics;
use super::error::TrainError;
use super::state::{STATE_FILE, TrainingState};
use crate::config::{AdamSettings, TrainingConfig};
use crate::data::{ImageBatch, ImageBatcher, ImageSet};
use crate::model::Network;

/// What one step leaves on the device: nothing is read back here, so a GPU is never stalled.
pub struct Step {
    /// The batch's mean loss, detached.
    pub loss: Tensor<1>,
    /// How many of the batch's samples were classified correctly.
    pub correct: Tensor<1, Int>,
    pub size: usize,
}

/// Where the last step's wall-clock time went, as the host saw it: exact on a CPU backend,
/// which computes as it is called; only the time to queue the work on a GPU.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepPhases {
    /// The forward pass through the loss, with autodiff recording its graph.
    pub forward: Duration,
    /// The backward pass and collecting the parameters' gradients.
    pub backward: Duration,
    /// Adam's update of every parameter.
    pub optimizer: Duration,
}

pub struct Trainer {
    /// Always `Some` between calls; taken while the optimizer consumes it.
    model: Option<Network>,
    optimizer: ModuleOptimizer,
    loss_fn: CrossEntropyLoss,
    learning_rate: f64,
    /// The autodiff device the model trains on.
    device: Device,
    /// The plain device under it, for inference.
    inference_device: Device,
    adam: AdamSettings,
    /// Every completed epoch, those before a resume included.
    completed: Vec<EpochMetrics>,
    /// Optimizer steps taken over the whole run, those before a resume included.
    steps_done: usize,
    last_phases: StepPhases,
}

impl Trainer {
    /// Trains `network` (built on the plain `device`) with Adam as `training` sets it.
    pub fn new(network: Network, device: &Device, training: &TrainingConfig) -> Self {
        let inference_device = device.clone();
        let device = device.clone().autodiff();
        Self {
            inference_device,
            model: Some(network.to_device(&device).train()),
            optimizer: FusedAdam::for_modules(&training.adam),
            loss_fn: CrossEntropyLossConfig::new().init(&device),
            learning_rate: training.learning_rate,
            device,
            adam: training.adam,
            completed: Vec::new(),
            steps_done: 0,
            last_phases: StepPhases::default(),
        }
    }

    /// Continues from a saved state: its model (parameters and BatchNorm running statistics),
    /// Adam's state and the epoch and step counts. Burn's records keep each parameter's id, which
    /// is what Adam's state is keyed by.
    pub fn restore(&mut self, state: &TrainingState) -> Result<(), String> {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(state.model.clone()))
            .map_err(|e| format!("its model: {e}"))?;
        let model = self
            .model
            .take()
            .expect("the model is back after every step")
            .valid()
            .try_load_record(record)
            .map_err(|e| format!("its model does not fit this network: {e}"))?;
        self.set_model(model);
        let optimizer = std::mem::replace(&mut self.optimizer, FusedAdam::for_modules(&self.adam));
        self.optimizer = optimizer
            .from_bytes(Bytes::from_bytes_vec(state.optimizer.clone()))
            .map_err(|e| format!("its optimizer state: {e}"))?;
        self.completed = state.header.epochs();
        self.steps_done = state.header.steps_done;
        Ok(())
    }

    /// The model (inference form: parameters and running statistics) and the optimizer state as
    /// burnpack bytes.
    pub fn state_records(&self) -> Result<(Vec<u8>, Vec<u8>), TrainError> {
        let encode = |e: burn::store::RecordError| TrainError::CheckpointEncode {
            path: STATE_FILE.into(),
            message: e.to_string(),
        };
        let model = self
            .model()
            .valid()
            .into_record()
            .into_bytes()
            .map_err(encode)?;
        let optimizer = self.optimizer.into_bytes().map_err(encode)?;
        Ok((model.to_vec(), optimizer.to_vec()))
    }

    /// Every completed epoch so far (including those before a resume).
    pub fn completed(&self) -> &[EpochMetrics] {
        &self.completed
    }

    /// Optimizer steps taken so far (including those before a resume).
    pub fn steps_done(&self) -> usize {
        self.steps_done
    }

    pub(super) fn complete_epoch(&mut self, metrics: EpochMetrics) {
        self.completed.push(metrics);
    }

    /// One optimizer step on `batch`.
    pub fn step(&mut self, batch: ImageBatch) -> Step {
        let model = self
            .model
            .take()
            .expect("the model is back after every step");
        let size = batch.len();
        let started = Instant::now();
        let logits = model.forward(batch.images);
        let correct = count_correct(logits.clone(), batch.targets.clone());
        let loss = self.loss_fn.forward(logits, batch.targets);
        let forward_done = Instant::now();
        let gradients = GradientsParams::from_grads(loss.backward(), &model);
        let backward_done = Instant::now();
        self.model = Some(self.optimizer.step(self.learning_rate, model, gradients));
        self.last_phases = StepPhases {
            forward: forward_done - started,
            backward: backward_done - forward_done,
            optimizer: backward_done.elapsed(),
        };
        self.steps_done += 1;
        Step {
            loss: loss.detach().inner(),
            correct: correct.inner(),
            size,
        }
    }

    /// Where the last step's time went.
    pub fn last_phases(&self) -> StepPhases {
        self.last_phases
    }

    /// The network as it trains (autodiff device, training mode).
    pub fn model(&self) -> &Network {
        self.model
            .as_ref()
            .expect("the model is back after every step")
    }

    /// Replaces the network (moved to the training device, in training mode); the optimizer
    /// keeps its state for parameters it knows.
    pub fn set_model(&mut self, network: Network) {
        self.model = Some(network.to_device(&self.device).train());
    }

    /// The autodiff device the model trains on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The plain device the model trains on (without autodiff): where validation runs.
    pub fn inference_device(&self) -> &Device {
        &self.inference_device
    }

    /// The trained network for inference.
    pub fn into_model(self) -> Network {
        self.model().valid()
    }

    /// Batches of `train` on the training device, reshuffled every epoch from `seed`: the data
    /// order depends only on the seed, never on the backend.
    pub fn loader(
        &self,
        train: &ImageSet,
        batch_size: usize,
        seed: u64,
    ) -> Arc<dyn DataLoader<ImageBatch>> {
        DataLoaderBuilder::new(ImageBatcher)
            .batch_size(batch_size)
            .shuffle(seed)
            .set_device(self.device.clone())
            .build(train.clone())
    }
}

pub(super) fn count_correct(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1, Int> {
    let predicted = logits.argmax(1).squeeze_dim::<1>(1);
    predicted.equal(targets).int().sum()
}
