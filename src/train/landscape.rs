//! The measures of Santurkar, Tsipras, Ilyas & Madry (2018), "How does batch normalization help
//! optimization?", taken during training on the current batch, in training mode (BatchNorm on
//! batch statistics), on copies of the network whose running statistics are their own:
//!
//! - [`Landscape`] (their fig. 4): the loss L(w − η·g) and the gradient change
//!   ‖∇L(w) − ∇L(w − η·g)‖ along the gradient g for step sizes η in [`STEP_SIZES`]; the loss
//!   range, gradient predictiveness and effective β-smoothness derive from them at report time.
//! - [`CovariateShift`] (their Definition 2.1): layer i's weight gradient G on the batch, and G′
//!   after the layers below i took the update the optimizer actually made on that batch.
//!
//! Only raw numbers are recorded; every measure is derived from them when a report is written.

use burn::module::{ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::TrainError;
use super::hooks::Hook;
use crate::data::ImageBatch;
use crate::model::Network;

/// Step sizes along the gradient (the range of Santurkar et al.'s figure 4).
pub const STEP_SIZES: [f64; 4] = [0.05, 0.1, 0.2, 0.4];

/// Loss and gradients of `model` on `batch` (training mode).
fn loss_and_gradients(model: &Network, batch: &ImageBatch) -> (f64, GradientsParams) {
    let device = batch.images.device();
    let logits = model.forward(batch.images.clone());
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits, batch.targets.clone());
    let value = f64::from(loss.clone().into_scalar::<f32>());
    (value, GradientsParams::from_grads(loss.backward(), model))
}

/// Squared norms of two gradients and their dot product, over every parameter of a module
/// (`b` absent: only `a`'s norm).
#[derive(Default)]
struct Products<'a> {
    a: Option<&'a GradientsParams>,
    b: Option<&'a GradientsParams>,
    aa: f64,
    bb: f64,
    ab: f64,
}

impl ModuleVisitor for Products<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(a) = self.a.and_then(|g| g.get::<D>(param.id)) else {
            return;
        };
        let sum = |t: Tensor<D>| f64::from(t.sum().into_scalar::<f32>());
        self.aa += sum(a.clone().mul(a.clone()));
        if let Some(b) = self.b.and_then(|g| g.get::<D>(param.id)) {
            self.bb += sum(b.clone().mul(b.clone()));
            self.ab += sum(a.mul(b));
        }
    }
}

fn products(model: &Network, a: &GradientsParams, b: Option<&GradientsParams>) -> (f64, f64, f64) {
    let mut visitor = Products {
        a: Some(a),
        b,
        ..Products::default()
    };
    model.visit(&mut visitor);
    (visitor.aa, visitor.bb, visitor.ab)
}

/// A copy of `grads` (the optimizer consumes what it is given).
struct CopyGradients<'a> {
    from: &'a GradientsParams,
    to: GradientsParams,
}

impl ModuleVisitor for CopyGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.from.get::<D>(param.id) {
            self.to.register::<D>(param.id, g);
        }
    }
}

fn copy_gradients(model: &Network, grads: &GradientsParams) -> GradientsParams {
    let mut visitor = CopyGradients {
        from: grads,
        to: GradientsParams::new(),
    };
    model.visit(&mut visitor);
    visitor.to
}

/// `model` on `device` in training mode with running statistics of its own, so measuring never
/// moves the trained network's statistics.
fn detached_copy(model: &Network, device: &Device) -> Network {
    model.valid().to_device(device).train()
}

/// One reading of the loss landscape along the gradient, after `step` optimizer steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LandscapePoint {
    pub step: usize,
    pub loss: f64,
    /// ‖∇L(w)‖ over all parameters.
    pub grad_norm: f64,
    /// L(w − η·g) for each η of [`STEP_SIZES`].
    pub losses: Vec<f64>,
    /// ‖∇L(w) − ∇L(w − η·g)‖ for each η.
    pub grad_changes: Vec<f64>,
}

/// Reads the landscape every `every` steps (before the step, on the batch it takes).
pub struct Landscape {
    every: usize,
    pub points: Vec<LandscapePoint>,
}

impl Landscape {
    pub fn new(every: usize) -> Self {
        Self {
            every: every.max(1),
            points: Vec::new(),
        }
    }
}

impl Hook for Landscape {
    fn before_step(
        &mut self,
        model: &Network,
        batch: &ImageBatch,
        steps_done: usize,
    ) -> Result<(), TrainError> {
        if !steps_done.is_multiple_of(self.every) {
            return Ok(());
        }
        let base = detached_copy(model, &batch.images.device());
        let (loss, grads) = loss_and_gradients(&base, batch);
        let (norm_sq, _, _) = products(&base, &grads, None);
        // Plain SGD without momentum or decay moves every parameter by exactly −η·g.
        let mut sgd = SgdConfig::new().init();
        let mut losses = Vec::with_capacity(STEP_SIZES.len());
        let mut grad_changes = Vec::with_capacity(STEP_SIZES.len());
        for eta in STEP_SIZES {
            let moved = sgd.step(eta, base.clone(), copy_gradients(&base, &grads));
            let (moved_loss, moved_grads) = loss_and_gradients(&moved, batch);
            let (aa, bb, ab) = products(&base, &grads, Some(&moved_grads));
            losses.push(moved_loss);
            grad_changes.push((aa + bb - 2.0 * ab).max(0.0).sqrt());
        }
        self.points.push(LandscapePoint {
            step: steps_done,
            loss,
            grad_norm: norm_sq.sqrt(),
            losses,
            grad_changes,
        });
        Ok(())
    }
}

/// One reading of internal covariate shift (Definition 2.1) at MLP hidden layer `layer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftPoint {
    pub step: usize,
    pub layer: usize,
    /// ‖G‖², ‖G′‖² and G·G′ of the layer's weight gradients.
    pub g_sq: f64,
    pub g_prime_sq: f64,
    pub dot: f64,
}

impl ShiftPoint {
    /// ‖G − G′‖.
    pub fn distance(&self) -> f64 {
        (self.g_sq + self.g_prime_sq - 2.0 * self.dot)
            .max(0.0)
            .sqrt()
    }

    /// cos(G, G′).
    pub fn cosine(&self) -> f64 {
        self.dot / (self.g_sq.sqrt() * self.g_prime_sq.sqrt())
    }
}

/// Measures internal covariate shift at MLP hidden layer `layer` every `every` steps: the
/// weights before a step and the batch are kept, and once the optimizer has stepped, the layers
/// below `layer` are swapped for their updated selves.
pub struct CovariateShift {
    every: usize,
    layer: usize,
    before: Option<(Network, ImageBatch)>,
    pub points: Vec<ShiftPoint>,
}

impl CovariateShift {
    pub fn new(every: usize, layer: usize) -> Self {
        Self {
            every: every.max(1),
            layer,
            before: None,
            points: Vec::new(),
        }
    }
}

impl Hook for CovariateShift {
    fn before_step(
        &mut self,
        model: &Network,
        batch: &ImageBatch,
        steps_done: usize,
    ) -> Result<(), TrainError> {
        if steps_done.is_multiple_of(self.every) {
            self.before = Some((model.valid(), batch.clone()));
        }
        Ok(())
    }

    fn on_step(&mut self, model: &Network, steps_done: usize) -> Result<(), TrainError> {
        let Some((before, batch)) = self.before.take() else {
            return Ok(());
        };
        let device = batch.images.device();
        let before = detached_copy(&before, &device);
        let after = detached_copy(model, &device);
        let (Some(hybrid), Some(id)) = (
            before.with_lower_layers_from(&after, self.layer),
            before.hidden_weight_id(self.layer),
        ) else {
            return Ok(());
        };
        let (_, g) = loss_and_gradients(&before, &batch);
        let (_, g_prime) = loss_and_gradients(&hybrid, &batch);
        let (Some(a), Some(b)) = (g.get::<2>(id), g_prime.get::<2>(id)) else {
            return Ok(());
        };
        let sum = |t: Tensor<2>| f64::from(t.sum().into_scalar::<f32>());
        self.points.push(ShiftPoint {
            step: steps_done - 1,
            layer: self.layer,
            g_sq: sum(a.clone().mul(a.clone())),
            g_prime_sq: sum(b.clone().mul(b.clone())),
            dot: sum(a.mul(b)),
        });
        Ok(())
    }
}
