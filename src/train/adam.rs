//! Adam as Burn 0.22 computes it, in one pass over each parameter on flex.
//!
//! Burn's `Adam` updates a parameter with thirteen tensor operations (two scalings and an add per
//! moment, a square, a square root, a division, …), each a pass over memory with an allocation of
//! its own: a quarter of the MLP's training step at batch 128 and 45 % at batch 32 (`bnx bench
//! --profile` on an Intel Xeon). On flex with f32 parameters, [`FusedAdam`] does the same arithmetic in one loop:
//! the same operations on the same f32 values in the same order, each rounded where Burn's tensor
//! operation rounds it, so parameters and moments keep Burn's bits (a test below checks every
//! bit). Anywhere else (ndarray, wgpu, other float types) it is Burn's own `Adam`. Its state is
//! Burn's `AdamState`, so saved optimizer states read the same either way.

use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use crate::config::AdamSettings;

/// Adam with Keras' settings, fused into one loop per parameter on flex.
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    /// Burn's Adam with the same settings, for every tensor the loop does not take.
    burn: Adam,
}

impl FusedAdam {
    pub fn new(settings: &AdamSettings) -> Self {
        Self {
            beta_1: settings.beta_1 as f32,
            beta_2: settings.beta_2 as f32,
            epsilon: settings.epsilon as f32,
            burn: burn_adam(settings).build(),
        }
    }

    /// The optimizer of a whole network.
    pub fn for_modules(settings: &AdamSettings) -> ModuleOptimizer {
        ModuleOptimizer::from(Self::new(settings))
    }

    /// The scalars of step `time` (1 for the first), computed as Burn's `AdaptiveMomentum` does.
    fn scalars(&self, time: usize, learning_rate: LearningRate) -> StepScalars {
        let time = time as i32;
        let bias_correction_2_sqrt = (1.0 - self.beta_2.powi(time)).sqrt();
        StepScalars {
            beta_1: self.beta_1,
            gain_1: 1.0 - self.beta_1,
            beta_2: self.beta_2,
            gain_2: 1.0 - self.beta_2,
            moment_scale: bias_correction_2_sqrt / (1.0 - self.beta_1.powi(time)),
            epsilon: self.epsilon * bias_correction_2_sqrt,
            // Burn multiplies by the rate as a scalar of the tensor's type.
            learning_rate: learning_rate as f32,
        }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        learning_rate: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        let fusable = on_flex_f32(&tensor)
            && on_flex_f32(&grad)
            && state.as_ref().is_none_or(|state| {
                let momentum = &state.momentum;
                on_flex_f32(&momentum.moment_1)
                    && on_flex_f32(&momentum.moment_2)
                    && momentum.max_moment_2.is_none()
            });
        if !fusable {
            return self.burn.step(learning_rate, tensor, grad, state);
        }

        let grad = flex(grad).to_contiguous();
        let grad = grad.as_slice::<f32>().expect("a contiguous f32 tensor");
        let mut parameter = writable(flex(tensor));
        let shape = parameter.layout().shape().clone();
        let count = grad.len();
        let (time, mut moment_1, mut moment_2) = match state {
            Some(state) => {
                let momentum = state.momentum;
                let moment_1 = writable(flex(momentum.moment_1));
                let moment_2 = writable(flex(momentum.moment_2));
                (momentum.time + 1, moment_1, moment_2)
            }
            None => {
                let zeros =
                    || FlexTensor::from_data(TensorData::new(vec![0f32; count], shape.clone()));
                (1, zeros(), zeros())
            }
        };
        let scalars = self.scalars(time, learning_rate);
        let slices = Slices {
            parameter: &mut parameter.storage_mut::<f32>()[..count],
            grad,
            moment_1: &mut moment_1.storage_mut::<f32>()[..count],
            moment_2: &mut moment_2.storage_mut::<f32>()[..count],
        };
        if time == 1 {
            slices.update::<true>(&scalars);
        } else {
            slices.update::<false>(&scalars);
        }

        let momentum = AdaptiveMomentumState::new(
            time,
            Tensor::from_primitive::<Flex>(moment_1),
            Tensor::from_primitive::<Flex>(moment_2),
        );
        (
            Tensor::from_primitive::<Flex>(parameter),
            Some(AdamState::new(momentum)),
        )
    }

    fn to_device<const D: usize>(state: AdamState<D>, device: &Device) -> AdamState<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// Burn's Adam with every setting explicit (Burn's defaults differ from Keras').
fn burn_adam(settings: &AdamSettings) -> AdamConfig {
    AdamConfig::new()
        .with_beta_1(settings.beta_1 as f32)
        .with_beta_2(settings.beta_2 as f32)
        .with_epsilon(settings.epsilon as f32)
}

/// What one step multiplies and adds, in f32 as Burn's tensor operations take them.
#[derive(Debug, Clone, Copy)]
struct StepScalars {
    beta_1: f32,
    /// `1 - beta_1`: the new gradient's weight in the first moment.
    gain_1: f32,
    beta_2: f32,
    gain_2: f32,
    /// Both bias corrections in one factor: `sqrt(1 - beta_2^t) / (1 - beta_1^t)`.
    moment_scale: f32,
    /// Epsilon scaled by the second moment's bias correction.
    epsilon: f32,
    learning_rate: f32,
}

/// One parameter's values, gradient and moments, element for element.
struct Slices<'a> {
    parameter: &'a mut [f32],
    grad: &'a [f32],
    moment_1: &'a mut [f32],
    moment_2: &'a mut [f32],
}

/// Elements per parallel task: a tensor at most this long is updated on the calling thread.
const CHUNK: usize = 1 << 14;

impl Slices<'_> {
    /// Adam's update of every element; `FIRST` is the first step, where the moments start from
    /// the gradient alone (Burn does not scale zero moments, so neither does this).
    fn update<const FIRST: bool>(self, scalars: &StepScalars) {
        if self.grad.len() <= CHUNK {
            return self.update_chunk::<FIRST>(scalars);
        }
        // Each element is independent, so the split changes no bit.
        self.parameter
            .par_chunks_mut(CHUNK)
            .zip(self.grad.par_chunks(CHUNK))
            .zip(self.moment_1.par_chunks_mut(CHUNK))
            .zip(self.moment_2.par_chunks_mut(CHUNK))
            .for_each(|(((parameter, grad), moment_1), moment_2)| {
                Slices {
                    parameter,
                    grad,
                    moment_1,
                    moment_2,
                }
                .update_chunk::<FIRST>(scalars)
            });
    }

    /// The loop compiled for the widest vectors the CPU has: a square root and a division per
    /// element make it compute-bound (0.09–0.12 ms for the MLP's 111k parameters in SSE registers on
    /// an AMD EPYC). Every instruction width rounds each operation the same way, and Rust never
    /// fuses a multiply and an add on its own, so the bits do not depend on the path.
    fn update_chunk<const FIRST: bool>(self, s: &StepScalars) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { self.update_chunk_avx512::<FIRST>(s) };
        } else if std::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX.
            return unsafe { self.update_chunk_avx::<FIRST>(s) };
        }
        self.update_elements::<FIRST>(s)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn update_chunk_avx512<const FIRST: bool>(self, s: &StepScalars) {
        self.update_elements::<FIRST>(s)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn update_chunk_avx<const FIRST: bool>(self, s: &StepScalars) {
        self.update_elements::<FIRST>(s)
    }

    #[inline(always)]
    fn update_elements<const FIRST: bool>(self, s: &StepScalars) {
        let elements = self
            .parameter
            .iter_mut()
            .zip(self.grad)
            .zip(self.moment_1.iter_mut())
            .zip(self.moment_2.iter_mut());
        for (((parameter, &grad), moment_1), moment_2) in elements {
            // Burn: moment_1 * beta_1 + grad * (1 - beta_1), and the same for the squared
            // gradient; each product rounded before the sum (no fused multiply-add).
            let (m1, m2) = if FIRST {
                (grad * s.gain_1, (grad * grad) * s.gain_2)
            } else {
                (
                    *moment_1 * s.beta_1 + grad * s.gain_1,
                    *moment_2 * s.beta_2 + (grad * grad) * s.gain_2,
                )
            };
            *moment_1 = m1;
            *moment_2 = m2;
            let step = (m1 * s.moment_scale) / (m2.sqrt() + s.epsilon);
            *parameter -= step * s.learning_rate;
        }
    }
}

fn on_flex_f32<const D: usize>(tensor: &Tensor<D>) -> bool {
    let device = tensor.device();
    tensor.dtype() == DType::F32 && !device.is_autodiff() && device == Device::flex()
}

fn flex<const D: usize>(tensor: Tensor<D>) -> FlexTensor {
    tensor
        .try_into_primitive::<Flex>()
        .expect("on_flex_f32 checked the tensor is a plain flex tensor")
}

/// `tensor` laid out from its first element, so that its storage can be written in place: a view
/// is copied first, and a buffer another tensor shares is copied when it is written.
fn writable(tensor: FlexTensor) -> FlexTensor {
    let count = tensor.layout().num_elements();
    if tensor.layout().contiguous_offsets() == Some((0, count)) {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AdamSettings {
        AdamSettings::default()
    }

    /// Values that exercise the arithmetic: mixed signs and scales, signed zeros and tiny
    /// gradients. Not subnormal ones: other tests open backends that flush subnormals on the
    /// rayon pool, where this loop runs, and Burn's scalar operations run on the test's thread.
    fn values(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..count)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let unit = (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                match i % 11 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => unit * 1e-15,
                    3 => unit * 1e3,
                    _ => unit,
                }
            })
            .collect()
    }

    fn bits<const D: usize>(tensor: &Tensor<D>) -> Vec<u32> {
        let values = tensor.to_data().try_to_vec::<f32>().expect("f32 values");
        values.iter().map(|value| value.to_bits()).collect()
    }

    fn state_bits<const D: usize>(state: &Option<AdamState<D>>) -> (usize, Vec<u32>, Vec<u32>) {
        let momentum = &state.as_ref().expect("Adam keeps a state").momentum;
        (
            momentum.time,
            bits(&momentum.moment_1),
            bits(&momentum.moment_2),
        )
    }

    /// Four steps of both optimizers from the same parameter, with the same gradients.
    fn assert_same_bits(shape: [usize; 2], learning_rate: LearningRate) {
        let device = Device::flex();
        let count = shape[0] * shape[1];
        let tensor =
            |values: Vec<f32>| Tensor::<2>::from_data(TensorData::new(values, shape), &device);
        let fused = FusedAdam::new(&settings());
        let burn = burn_adam(&settings()).build();
        let mut ours = (tensor(values(count, 1)), None);
        let mut theirs = (tensor(values(count, 1)), None);
        for step in 0..4 {
            let grad = tensor(values(count, 10 + step));
            ours = fused.step(learning_rate, ours.0, grad.clone(), ours.1);
            theirs = burn.step(learning_rate, theirs.0, grad, theirs.1);
            assert_eq!(
                bits(&ours.0),
                bits(&theirs.0),
                "parameters after step {step}"
            );
            assert_eq!(
                state_bits(&ours.1),
                state_bits(&theirs.1),
                "moments after step {step}"
            );
        }
    }

    #[test]
    fn gives_burns_bits_on_a_small_tensor() {
        assert_same_bits([7, 13], 1e-3);
    }

    #[test]
    fn gives_burns_bits_when_split_across_threads() {
        assert_same_bits([300, 211], 0.3);
    }

    #[test]
    fn a_shared_parameter_is_copied_not_written() {
        let device = Device::flex();
        let parameter = Tensor::<1>::from_floats([1.0, -2.0, 3.0], &device);
        let kept = parameter.clone();
        let grad = Tensor::<1>::from_floats([0.5, 0.5, -0.5], &device);
        let (updated, _) = FusedAdam::new(&settings()).step(0.1, parameter, grad, None);
        assert_eq!(
            kept.to_data().try_to_vec::<f32>().unwrap(),
            vec![1.0, -2.0, 3.0]
        );
        assert_ne!(bits(&updated), bits(&kept));
    }
}
