//! Looking inside an MLP while it trains: what a hidden layer receives (the shift study's
//! probes) and the pieces Santurkar et al.'s internal covariate shift swaps.

use burn::prelude::*;

use super::network::{Mlp, Network};
use super::norm::Norm;

impl Network {
    /// This MLP with its hidden blocks below `layer` taken from `other` (same architecture):
    /// "the layers below took their update" of internal covariate shift. `None` for a CNN or a
    /// layer it does not have.
    pub fn with_lower_layers_from(&self, other: &Network, layer: usize) -> Option<Network> {
        let (Network::Mlp(mine), Network::Mlp(theirs)) = (self, other) else {
            return None;
        };
        if layer >= mine.hidden.len() || theirs.hidden.len() != mine.hidden.len() {
            return None;
        }
        let mut mixed = mine.clone();
        mixed.hidden[..layer].clone_from_slice(&theirs.hidden[..layer]);
        Some(Network::Mlp(mixed))
    }

    /// The parameter id of MLP hidden layer `layer`'s weight matrix.
    pub fn hidden_weight_id(&self, layer: usize) -> Option<burn::module::ParamId> {
        let Network::Mlp(mlp) = self else { return None };
        Some(mlp.hidden.get(layer)?.linear.weight.id)
    }

    /// The inputs that MLP hidden layer `layer` (0-based) feeds to its activation, for a probe
    /// batch, as a training step computes them: BatchNorm normalizes with the probe batch's own
    /// statistics and its running statistics stay as they are. `None` for the CNN.
    pub fn hidden_preactivations(&self, images: Tensor<4>, layer: usize) -> Option<Tensor<2>> {
        let Network::Mlp(mlp) = self else { return None };
        let target = mlp.hidden.get(layer)?;
        let z = target.linear.forward(mlp.observed_input(images, layer));
        Some(match (&target.norm, target.after) {
            (Some(norm), false) => norm.forward_observed(z),
            _ => z,
        })
    }

    /// The input of MLP hidden layer `layer`'s normalization (its linear output), for a probe
    /// batch, when the norm sits before the activation; `None` otherwise (then the activation's input
    /// is that output already).
    pub fn hidden_norm_inputs(&self, images: Tensor<4>, layer: usize) -> Option<Tensor<2>> {
        let Network::Mlp(mlp) = self else { return None };
        let target = mlp.hidden.get(layer)?;
        if target.norm.is_none() || target.after {
            return None;
        }
        Some(target.linear.forward(mlp.observed_input(images, layer)))
    }
}

impl Mlp {
    /// What hidden layer `layer` receives for `images`, as a training step computes it with
    /// every norm below on the batch's own statistics (running statistics untouched).
    fn observed_input(&self, images: Tensor<4>, layer: usize) -> Tensor<2> {
        let mut x = images.flatten::<2>(1, 3);
        for block in &self.hidden[..layer] {
            x = block.activated(block.linear.forward(x), Norm::forward_observed);
        }
        x
    }
}
