//! The hidden layers' activation: ReLU (the guide) or the logistic sigmoid (Ioffe & Szegedy's
//! figure 1 network).

use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

named_enum! {
    /// The nonlinearity after every hidden Dense/Conv layer (and its norm).
    #[derive(Default)]
    pub enum Activation("activation") {
        #[default]
        Relu => "relu",
        Sigmoid => "sigmoid",
    }
}

impl Activation {
    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => relu(x),
            Activation::Sigmoid => sigmoid(x),
        }
    }

    /// "ReLU" or "sigmoid", for layer descriptions and chart titles.
    pub fn title(self) -> &'static str {
        match self {
            Activation::Relu => "ReLU",
            Activation::Sigmoid => "sigmoid",
        }
    }

    /// Serde's skip test: configs and run specs written before the flag existed stay as they
    /// were (a ReLU network's spec is byte-for-byte the same, so no study reruns it).
    pub fn is_relu(&self) -> bool {
        *self == Activation::Relu
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_and_relu_map_known_values() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([-2.0, 0.0, 3.0], &device);
        let values = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(values(Activation::Relu.apply(x.clone())), [0.0, 0.0, 3.0]);
        let s = values(Activation::Sigmoid.apply(x));
        let expected = [0.119_202_92, 0.5, 0.952_574_1];
        for (got, want) in s.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{s:?}");
        }
    }
}
