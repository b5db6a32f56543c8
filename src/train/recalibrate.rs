//! BatchNorm's population statistics recomputed with one pass over the training data ("precise
//! BN"): with Keras' momentum 0.99 the running variance still holds a share of its initial 1
//! after short runs, and validation divides by it. Recomputing shows what the network itself
//! can do; `--recalibrate-bn` validates that way, and studies record both.

use burn::prelude::*;

use super::epoch::EpochMetrics;
use super::error::TrainError;
use super::evaluate::{eval_loader, evaluate};
use super::hooks::Hook;
use super::trainer::Trainer;
use crate::data::ImageSet;
use crate::model::Network;

/// A copy of `model` (for inference) whose BatchNorm running mean and variance are the averages
/// of the batch statistics over `set` in batches of 500, computed on the autodiff `device` in
/// training mode. `model` itself is untouched: the copy's running statistics are its own.
pub fn recalibrated(model: &Network, set: &ImageSet, device: &Device) -> Network {
    // `valid` gives the copy running-state buffers of its own; `train` brings it back to the
    // training path, where BatchNorm updates them from each batch. Inference adds no noisy-BN
    // noise, so neither does the pass that measures its statistics (nor does it draw from the
    // generator training continues with).
    // `no_grad`: the passes are never differentiated, and on the autodiff device a tracked
    // forward keeps its graph (every activation) until a backward pass that never comes: a
    // full-MNIST CNN pass grew to 24 GB and was killed.
    let mut copy = model
        .valid()
        .to_device(device)
        .train()
        .without_noise()
        .no_grad();
    let loader = eval_loader(set, device);
    for (k, batch) in loader.iter().enumerate() {
        let batch = batch.expect("in-memory data cannot fail to load");
        // Momentum 1/(k+1) makes the running value the plain mean over the batches so far.
        for bn in copy.batch_norms_mut() {
            bn.momentum = 1.0 / (k + 1) as f64;
        }
        drop(copy.forward(batch.images));
    }
    for (bn, original) in copy.batch_norms_mut().into_iter().zip(model.batch_norms()) {
        bn.momentum = original.momentum;
    }
    copy.valid()
}

/// After each epoch, validation and training-subset accuracy with recalibrated statistics
/// (nothing without BatchNorm): the run itself trains and validates as it would without it.
pub struct RecalibratedAccuracy {
    train: ImageSet,
    subset: ImageSet,
    test: ImageSet,
    /// Per epoch: (validation accuracy, training-subset accuracy).
    pub accuracies: Vec<(f64, f64)>,
}

impl RecalibratedAccuracy {
    pub fn new(train: ImageSet, subset: ImageSet, test: ImageSet) -> Self {
        Self {
            train,
            subset,
            test,
            accuracies: Vec::new(),
        }
    }
}

impl Hook for RecalibratedAccuracy {
    fn on_epoch(
        &mut self,
        trainer: &mut Trainer,
        _metrics: &EpochMetrics,
        _steps_done: usize,
    ) -> Result<(), TrainError> {
        if trainer.model().batch_norms().is_empty() {
            return Ok(());
        }
        let model = recalibrated(trainer.model(), &self.train, trainer.device());
        let device = trainer.inference_device();
        let accuracy = |set: &ImageSet| evaluate(&model, eval_loader(set, device).as_ref()).1;
        self.accuracies
            .push((accuracy(&self.test), accuracy(&self.subset)));
        Ok(())
    }
}
