//! The hidden blocks: Dense or Conv, then the norm and the activation in the configured order
//! (and for the CNN, 2 × 2 max pooling).

use burn::nn::Linear;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;

use super::activation::Activation;
use super::noise::NoiseSource;
use super::norm::Norm;

/// Dense → [Norm] → activation, or Dense → activation → [Norm].
#[derive(Module, Debug)]
pub struct DenseBlock {
    pub linear: Linear,
    pub norm: Option<Norm>,
    #[module(skip)]
    pub after: bool,
    #[module(skip)]
    pub activation: Activation,
    /// Noisy BatchNorm's noise after the norm (training only).
    #[module(skip)]
    pub noise: Option<NoiseSource>,
}

impl DenseBlock {
    pub(super) fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.activated(self.linear.forward(x), Norm::forward)
    }

    /// The block after its linear layer, normalizing with `norm_forward` (training or probe).
    pub(super) fn activated(&self, z: Tensor<2>, norm_forward: NormForward<2>) -> Tensor<2> {
        let norm = self.norm.as_ref().map(|norm| (norm, norm_forward));
        normalized(z, norm, self.after, self.activation, self.noise.as_ref())
    }
}

/// How a norm layer maps its input: `Norm::forward`, or `Norm::forward_observed` for probes.
pub(super) type NormForward<const D: usize> = fn(&Norm, Tensor<D>) -> Tensor<D>;

/// The norm (with how it maps its input), the activation in the order `after` says, and the
/// noise on the norm's output.
fn normalized<const D: usize>(
    x: Tensor<D>,
    norm: Option<(&Norm, NormForward<D>)>,
    after: bool,
    activation: Activation,
    noise: Option<&NoiseSource>,
) -> Tensor<D> {
    let normalize = |norm, x| noisy_norm(x, norm, noise);
    match (norm, after) {
        (None, _) => activation.apply(x),
        (Some(norm), false) => activation.apply(normalize(norm, x)),
        (Some(norm), true) => normalize(norm, activation.apply(x)),
    }
}

/// The norm's output with the noise on it.
fn noisy_norm<const D: usize>(
    x: Tensor<D>,
    (norm, forward): (&Norm, NormForward<D>),
    noise: Option<&NoiseSource>,
) -> Tensor<D> {
    let y = forward(norm, x);
    match noise {
        Some(noise) => noise.apply(y),
        None => y,
    }
}

/// Conv 3×3 → [Norm] → activation (or activation → [Norm]) → MaxPool 2×2.
#[derive(Module, Debug)]
pub struct ConvBlock {
    pub conv: burn::nn::conv::Conv2d,
    pub norm: Option<Norm>,
    #[module(skip)]
    pub after: bool,
    #[module(skip)]
    pub activation: Activation,
    #[module(skip)]
    pub noise: Option<NoiseSource>,
    pub pool: MaxPool2d,
}

impl ConvBlock {
    pub(super) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let norm = self
            .norm
            .as_ref()
            .map(|norm| (norm, Norm::forward as NormForward<4>));
        let z = self.conv.forward(x);
        if self.pools_before_relu() {
            // max(relu(a), relu(b)) = relu(max(a, b)) bit for bit, and the gradient reaches the
            // same input either way (the window's first maximum, when it is positive), so pooling
            // first gives the same outputs and gradients with a quarter of the ReLU's work.
            let z = match norm {
                Some(norm) => noisy_norm(z, norm, self.noise.as_ref()),
                None => z,
            };
            return Activation::Relu.apply(self.pool.forward(z));
        }
        self.pool.forward(normalized(
            z,
            norm,
            self.after,
            self.activation,
            self.noise.as_ref(),
        ))
    }

    /// Whether ReLU is the last step before the pooling (no norm after the activation): then the
    /// two commute. A sigmoid does not (it maps distinct inputs to one value, which moves ties).
    fn pools_before_relu(&self) -> bool {
        self.activation == Activation::Relu && !(self.after && self.norm.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelKind, Network, NetworkConfig, NormPosition};

    fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
        let values = t.into_data().try_to_vec::<f32>().unwrap();
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// The block as the guide writes it: ReLU, then the pooling.
    fn relu_then_pool(block: &ConvBlock, x: Tensor<4>) -> Tensor<4> {
        let norm = block
            .norm
            .as_ref()
            .map(|norm| (norm, Norm::forward as NormForward<4>));
        let z = normalized(
            block.conv.forward(x),
            norm,
            block.after,
            block.activation,
            None,
        );
        block.pool.forward(z)
    }

    /// Pooling before the ReLU changes no output bit and no gradient bit, with and without
    /// BatchNorm, on inputs with whole windows below zero and ties (rounded to quarters).
    #[test]
    fn pooling_before_relu_gives_the_same_bits() {
        let device = Device::flex().autodiff();
        let x = Tensor::<4>::random(
            [6, 1, 28, 28],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let x = x.mul_scalar(4.0).round().div_scalar(4.0);
        for bn in [false, true] {
            let Network::Cnn(cnn) = NetworkConfig::guide(ModelKind::Cnn, bn).init(5, &device)
            else {
                unreachable!()
            };
            let block = &cnn.features[0];
            assert!(block.pools_before_relu());
            let upstream = Tensor::<4>::random(
                [6, 32, 13, 13],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            let run = |y: Tensor<4>| {
                let gradients = (y.clone() * upstream.clone()).sum().backward();
                let weight = block.conv.weight.grad(&gradients).unwrap();
                (bits(y), bits(weight))
            };
            let (ours, ours_grad) = run(block.forward(x.clone()));
            let (theirs, theirs_grad) = run(relu_then_pool(block, x.clone()));
            let zeros = ours.iter().filter(|&&v| v == 0).count();
            assert!(
                zeros > 0 && zeros < ours.len(),
                "BN {bn}: {zeros} of {} outputs are 0",
                ours.len()
            );
            let differing = |a: &[u32], b: &[u32]| a.iter().zip(b).filter(|(a, b)| a != b).count();
            assert_eq!(differing(&ours, &theirs), 0, "outputs differ, BN {bn}");
            assert_eq!(
                differing(&ours_grad, &theirs_grad),
                0,
                "weight gradients differ, BN {bn}"
            );
        }
    }

    /// A norm after the ReLU, or a sigmoid, keeps the guide's order.
    #[test]
    fn other_blocks_keep_relu_then_pool() {
        let device = Device::flex();
        let after = NetworkConfig {
            position: NormPosition::After,
            ..NetworkConfig::guide(ModelKind::Cnn, true)
        };
        let sigmoid = NetworkConfig {
            activation: Activation::Sigmoid,
            ..NetworkConfig::guide(ModelKind::Cnn, false)
        };
        for config in [after, sigmoid] {
            let Network::Cnn(cnn) = config.init(5, &device) else {
                unreachable!()
            };
            assert!(!cnn.features[0].pools_before_relu());
        }
    }
}
