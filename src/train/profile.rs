//! `bnx bench --profile`: where a training step's time goes on flex, operation by operation.
//!
//! The step's three phases (forward pass with the loss, backward pass, Adam) are timed inside
//! real training steps. Each convolution, BatchNorm, ReLU, pooling and dense kernel is then timed
//! alone, by calling flex's own operation at the shape the step gives it. A phase's time beyond
//! its kernels is its rest: autodiff's graph and bookkeeping, the loss, bias and gradient adds,
//! reshapes, and allocating every new tensor. A kernel timed alone runs with warm caches, so the
//! rest is, if anything, underestimated.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use burn_backend::ops::{ActivationOps, ConvOptions, FloatTensorOps, ModuleOps};
use burn_backend::tensor::FloatTensor;
use burn_backend::{DType, IntDType, TensorData, TensorMetadata};
use burn_flex::{Flex, FlexDevice};
use serde::Serialize;

use super::bench::for_each_full_batch;
use super::trainer::{StepPhases, Trainer};
use crate::config::TrainingConfig;
use crate::data::ImageSet;
use crate::model::{Layer, NetworkConfig, NormKind};

/// Bytes of one f32.
const FLOAT: usize = 4;
/// The guide's BatchNorm epsilon (Keras' 1e-3); the kernels' time does not depend on it.
const EPSILON: f64 = 1e-3;

/// Which part of the step an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Forward,
    Backward,
    Optimizer,
}

/// One operation's share of a step.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileRow {
    pub phase: Phase,
    /// The layer and what of it, e.g. "2 conv 32→64, 13×13: input gradient".
    pub operation: String,
    /// The operation without its layer, e.g. "conv: input gradient", to add layers up by.
    pub kind: String,
    /// Per step (median over the timed repetitions).
    pub milliseconds: f64,
    /// Arithmetic rate, for convolutions and matrix products (a multiply-add counts two).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gflops: Option<f64>,
    /// Memory rate for the rest, counting each input read once and each output written once:
    /// the least traffic the operation can cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gbytes_per_second: Option<f64>,
}

/// The kind of the row that holds what a phase's kernels leave of its time.
const REST: &str = "rest";

impl ProfileRow {
    /// Whether this row is a phase's rest rather than one operation.
    pub fn is_rest(&self) -> bool {
        self.kind == REST
    }
}

/// A training step of one network, broken down.
#[derive(Debug, Clone, Serialize)]
pub struct StepProfile {
    pub network: String,
    pub batch_size: usize,
    /// The whole step: the medians of its phases over the timed steps, added up.
    pub step_milliseconds: f64,
    pub rows: Vec<ProfileRow>,
}

/// Profiles `network` trained as `training` says on `device` (flex): `steps` real steps after
/// `warmup`, then every kernel `steps` times alone.
pub fn profile(
    network: &NetworkConfig,
    train: &ImageSet,
    device: &burn::prelude::Device,
    training: &TrainingConfig,
    warmup: usize,
    steps: usize,
) -> StepProfile {
    let batch = training.batch_size;
    let (phases, parameters) = step_phases(network, train, device, training, warmup, steps);
    let median_of = |pick: fn(&StepPhases) -> Duration| {
        median(phases.iter().map(|p| milliseconds(pick(p))).collect())
    };
    let measured = [
        median_of(|p| p.forward),
        median_of(|p| p.backward),
        median_of(|p| p.optimizer),
    ];
    // The phases' medians added up, so that the rows (each phase's kernels and rest) add up to
    // the step exactly; the median of whole steps differs from it by the machine's noise alone.
    let step = measured.iter().sum();
    let bn = network.norm == NormKind::Batch;
    // Max pooling writes its indices in the int type the step's pooling asks for: the device's.
    let indices = device.settings().int_dtype;
    let layers = network.layers();
    let mut forward = Vec::new();
    let mut backward = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let last = i + 1 == layers.len();
        let timer = Timer { reps: steps, i };
        match *layer {
            Layer::Conv { .. } => conv(
                &timer,
                *layer,
                batch,
                bn,
                indices,
                &mut forward,
                &mut backward,
            ),
            Layer::Dense { .. } => dense(
                &timer,
                *layer,
                batch,
                bn && !last,
                last,
                &mut forward,
                &mut backward,
            ),
        }
    }
    backward.reverse();
    let mut rows = forward;
    rows.push(rest(Phase::Forward, measured[0], &rows));
    let first_backward = rows.len();
    rows.extend(backward);
    rows.push(rest(Phase::Backward, measured[1], &rows[first_backward..]));
    // Adam reads each parameter, its gradient and two moments and writes back three.
    rows.push(ProfileRow {
        phase: Phase::Optimizer,
        operation: format!("Adam ({parameters} parameters)"),
        kind: "Adam".into(),
        milliseconds: measured[2],
        gflops: None,
        gbytes_per_second: Some(rate(7 * FLOAT * parameters, measured[2])),
    });
    StepProfile {
        network: network.label(),
        batch_size: batch,
        step_milliseconds: step,
        rows,
    }
}

/// The phases of `steps` real training steps after `warmup`, and the network's trainable
/// parameters (what Adam updates).
fn step_phases(
    network: &NetworkConfig,
    train: &ImageSet,
    device: &burn::prelude::Device,
    training: &TrainingConfig,
    warmup: usize,
    steps: usize,
) -> (Vec<StepPhases>, usize) {
    let mut trainer = Trainer::new(network.init(training.seed, device), device, training);
    let mut phases = Vec::with_capacity(steps);
    let mut done = 0;
    for_each_full_batch(&mut trainer, train, training, |trainer, batch| {
        // Reading the loss back waits for nothing on flex, which computes as it is called.
        let _ = trainer.step(batch).loss.into_data();
        done += 1;
        if done > warmup {
            phases.push(trainer.last_phases());
        }
        if phases.len() == steps {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    (phases, trainer.model().parameter_counts().trainable)
}

/// Times one kernel of layer `i`.
struct Timer {
    reps: usize,
    i: usize,
}

impl Timer {
    /// Median milliseconds of `kernel` over the repetitions, after one untimed call.
    fn time<R>(&self, mut kernel: impl FnMut() -> R) -> f64 {
        drop(kernel());
        let times = (0..self.reps.max(1))
            .map(|_| {
                let started = Instant::now();
                drop(kernel());
                milliseconds(started.elapsed())
            })
            .collect();
        median(times)
    }

    /// One row: `kernel` timed, with its rate from the `work` it does.
    fn row<R>(
        &self,
        phase: Phase,
        what: &str,
        work: Work,
        kernel: impl FnMut() -> R,
    ) -> ProfileRow {
        let ms = self.time(kernel);
        let (gflops, gbytes_per_second) = match work {
            Work::Flops(flops) => (Some(rate(flops, ms)), None),
            Work::Bytes(bytes) => (None, Some(rate(bytes, ms))),
        };
        ProfileRow {
            phase,
            operation: format!("{} {what}", self.i + 1),
            kind: kind_of(what),
            milliseconds: ms,
            gflops,
            gbytes_per_second,
        }
    }
}

/// What a kernel does, to rate it by: arithmetic, or the least memory traffic it can cause.
#[derive(Clone, Copy)]
enum Work {
    Flops(usize),
    Bytes(usize),
}

/// A convolution layer's kernels: the convolution, BatchNorm, ReLU and 2 × 2 max-pooling, each
/// forward and backward (no input gradient for the first layer: nothing needs the image's);
/// the pooling's indices are `indices`.
fn conv(
    timer: &Timer,
    layer: Layer,
    batch: usize,
    bn: bool,
    indices: IntDType,
    forward: &mut Vec<ProfileRow>,
    backward: &mut Vec<ProfileRow>,
) {
    let Layer::Conv {
        channels_in,
        channels_out,
        side,
        kernel,
    } = layer
    else {
        return;
    };
    let out = layer.output_side();
    let x = random(&[batch, channels_in, side, side], 1);
    let weight = random(&[channels_out, channels_in, kernel, kernel], 2);
    let bias = random(&[channels_out], 3);
    let options = || ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    let y = Flex::conv2d(x.clone(), weight.clone(), Some(bias.clone()), options());
    let dy = random(&[batch, channels_out, out, out], 4);
    let flops = 2 * batch * layer.multiply_adds();
    let name = format!("conv {channels_in}→{channels_out}, {side}×{side}");
    forward.push(timer.row(
        Phase::Forward,
        &format!("{name}: convolution"),
        Work::Flops(flops),
        || Flex::conv2d(x.clone(), weight.clone(), Some(bias.clone()), options()),
    ));
    if timer.i > 0 {
        backward.push(timer.row(
            Phase::Backward,
            &format!("{name}: input gradient"),
            Work::Flops(flops),
            || Flex::conv2d_x_backward(x.clone(), weight.clone(), dy.clone(), options()),
        ));
    }
    backward.push(timer.row(
        Phase::Backward,
        &format!("{name}: weight and bias gradient"),
        Work::Flops(flops),
        || {
            let _bias = Flex::conv2d_bias_backward(x.clone(), bias.clone(), dy.clone());
            Flex::conv2d_weight_backward(x.clone(), weight.clone(), dy.clone(), options())
        },
    ));
    let mut rows = Rows {
        timer,
        name: &name,
        forward,
        backward,
    };
    let normalized = if bn {
        batch_norm(&mut rows, y, dy, channels_out)
    } else {
        y
    };
    // The network pools before its ReLU (the same values and gradients, a quarter of the ReLU's
    // work: `model::network`), so the ReLU runs on the pooled activations.
    let pooled_grad = random(&[batch, channels_out, out / 2, out / 2], 5);
    let pooled = max_pool(&mut rows, normalized, pooled_grad.clone(), indices);
    relu(&mut rows, pooled, pooled_grad);
}

/// Where one layer's rows go: its name, the timer, the forward and backward lists.
struct Rows<'a> {
    timer: &'a Timer,
    name: &'a str,
    forward: &'a mut Vec<ProfileRow>,
    backward: &'a mut Vec<ProfileRow>,
}

impl Rows<'_> {
    /// Times `kernel` as the layer's `what` in `phase` (forward or backward) and files its row.
    fn add<R>(&mut self, phase: Phase, what: &str, work: Work, kernel: impl FnMut() -> R) {
        let row = self
            .timer
            .row(phase, &format!("{}: {what}", self.name), work, kernel);
        match phase {
            Phase::Backward => self.backward.push(row),
            _ => self.forward.push(row),
        }
    }
}

/// 2 × 2 max-pooling of `x`, forward (with the indices its backward pass needs) and backward from
/// `pooled_grad`, its indices written as `indices`; returns the pooled values.
fn max_pool(
    rows: &mut Rows,
    x: FloatTensor<Flex>,
    pooled_grad: FloatTensor<Flex>,
    indices: IntDType,
) -> FloatTensor<Flex> {
    let pool = |x: FloatTensor<Flex>| {
        Flex::max_pool2d_with_indices(x, [2, 2], [2, 2], [0, 0], [1, 1], false, indices)
    };
    let pooled = pool(x.clone());
    let elements = x.shape().num_elements();
    let index_bytes = DType::from(indices).size();
    let bytes = Work::Bytes(elements * FLOAT + elements / 4 * (FLOAT + index_bytes));
    rows.add(Phase::Forward, "max-pool", bytes, || pool(x.clone()));
    rows.add(Phase::Backward, "max-pool", bytes, || {
        Flex::max_pool2d_with_indices_backward(
            x.clone(),
            [2, 2],
            [2, 2],
            [0, 0],
            [1, 1],
            false,
            pooled_grad.clone(),
            pooled.indices.clone(),
        )
    });
    pooled.output
}

/// A dense layer's kernels: the matrix product with its bias, and its BatchNorm and ReLU unless
/// it is the output layer.
#[allow(clippy::too_many_arguments)]
fn dense(
    timer: &Timer,
    layer: Layer,
    batch: usize,
    bn: bool,
    last: bool,
    forward: &mut Vec<ProfileRow>,
    backward: &mut Vec<ProfileRow>,
) {
    let Layer::Dense { inputs, outputs } = layer else {
        return;
    };
    let x = random(&[batch, inputs], 6);
    let weight = random(&[inputs, outputs], 7);
    let bias = random(&[1, outputs], 8);
    let dy = random(&[batch, outputs], 9);
    let flops = 2 * batch * layer.multiply_adds();
    let name = format!("dense {inputs}→{outputs}");
    forward.push(timer.row(
        Phase::Forward,
        &format!("{name}: product"),
        Work::Flops(flops),
        || Flex::float_add(Flex::float_matmul(x.clone(), weight.clone()), bias.clone()),
    ));
    if timer.i > 0 {
        backward.push(timer.row(
            Phase::Backward,
            &format!("{name}: input gradient"),
            Work::Flops(flops),
            || Flex::float_matmul(dy.clone(), Flex::float_transpose(weight.clone())),
        ));
    }
    backward.push(timer.row(
        Phase::Backward,
        &format!("{name}: weight and bias gradient"),
        Work::Flops(flops),
        || {
            let _bias = Flex::float_sum_dim(dy.clone(), 0);
            Flex::float_matmul(Flex::float_transpose(x.clone()), dy.clone())
        },
    ));
    if !last {
        let y = Flex::float_matmul(x.clone(), weight.clone());
        let mut rows = Rows {
            timer,
            name: &name,
            forward,
            backward,
        };
        let normalized = if bn {
            batch_norm(&mut rows, y, dy.clone(), outputs)
        } else {
            y
        };
        relu(&mut rows, normalized, dy);
    }
}

/// BatchNorm in training mode on a layer's output `y`, forward and backward (from `dy`); returns
/// the normalized output.
fn batch_norm(
    rows: &mut Rows,
    y: FloatTensor<Flex>,
    dy: FloatTensor<Flex>,
    channels: usize,
) -> FloatTensor<Flex> {
    let elements = y.shape().num_elements();
    let gamma = random(&[channels], 10);
    let beta = random(&[channels], 11);
    let train = || Flex::batch_norm_train(y.clone(), gamma.clone(), beta.clone(), EPSILON);
    rows.add(
        Phase::Forward,
        "BatchNorm",
        Work::Bytes(2 * elements * FLOAT),
        || train().output,
    );
    let statistics = train();
    rows.add(
        Phase::Backward,
        "BatchNorm",
        Work::Bytes(3 * elements * FLOAT),
        || {
            Flex::batch_norm_train_backward(
                y.clone(),
                gamma.clone(),
                statistics.mean.clone(),
                statistics.variance.clone(),
                EPSILON,
                dy.clone(),
            )
            .x_grad
        },
    );
    statistics.output
}

/// ReLU on `x`, forward and backward (from `dy`, of `x`'s shape).
fn relu(rows: &mut Rows, x: FloatTensor<Flex>, dy: FloatTensor<Flex>) {
    let elements = x.shape().num_elements();
    rows.add(
        Phase::Forward,
        "ReLU",
        Work::Bytes(2 * elements * FLOAT),
        || Flex::relu(x.clone()),
    );
    let activated = Flex::relu(x);
    rows.add(
        Phase::Backward,
        "ReLU",
        Work::Bytes(3 * elements * FLOAT),
        || Flex::relu_backward(activated.clone(), dy.clone()),
    );
}

/// "conv 32→64, 13×13: ReLU" → "conv: ReLU".
fn kind_of(what: &str) -> String {
    let layer = what.split(' ').next().unwrap_or(what);
    let part = what.rsplit(": ").next().unwrap_or(what);
    format!("{layer}: {part}")
}

/// What a phase spent beyond the kernels timed alone.
fn rest(phase: Phase, measured: f64, kernels: &[ProfileRow]) -> ProfileRow {
    let what = match phase {
        Phase::Forward => "the loss, autodiff's graph, reshapes and allocation",
        _ => "autodiff's bookkeeping, gradient adds and allocation",
    };
    ProfileRow {
        phase,
        operation: format!("rest: {what}"),
        kind: REST.into(),
        milliseconds: measured - kernels.iter().map(|r| r.milliseconds).sum::<f64>(),
        gflops: None,
        gbytes_per_second: None,
    }
}

/// A float tensor of `shape` filled with reproducible values in [−1, 1).
fn random(shape: &[usize], seed: u64) -> FloatTensor<Flex> {
    let n: usize = shape.iter().product();
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let values: Vec<f32> = (0..n)
        .map(|_| {
            // xorshift64: the values only need to be ordinary floats, not good random numbers.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    Flex::float_from_data(TensorData::new(values, shape.to_vec()), &FlexDevice)
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Billions a second of `amount` done in `ms` milliseconds.
fn rate(amount: usize, ms: f64) -> f64 {
    amount as f64 / (ms * 1e6)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelKind;

    #[test]
    fn a_profile_accounts_for_every_phase_of_the_step() {
        let config = NetworkConfig::guide(ModelKind::Cnn, true);
        let training = TrainingConfig {
            batch_size: 8,
            ..TrainingConfig::default()
        };
        let train = ImageSet::new(
            vec![0u8; 32 * crate::data::idx::IMAGE_PIXELS],
            (0..32).map(|i| (i % 10) as u8).collect(),
        );
        let profile = profile(
            &config,
            &train,
            &burn::prelude::Device::flex(),
            &training,
            1,
            3,
        );
        // conv 1: convolution, weight gradient, BN ×2, ReLU ×2, pool ×2; conv 2 adds its input
        // gradient; dense 1600→64: product, two gradients, BN ×2, ReLU ×2; the output layer:
        // product, two gradients; two rests and Adam.
        assert_eq!(profile.rows.len(), 8 + 9 + 7 + 3 + 3);
        // The rows add up to the phases' medians, the step to the median of their sums.
        let total: f64 = profile.rows.iter().map(|r| r.milliseconds).sum();
        assert!((total - profile.step_milliseconds).abs() < 0.25 * profile.step_milliseconds);
        assert!(profile.rows.iter().all(|r| r.milliseconds.is_finite()));
        assert_eq!(profile.rows.last().unwrap().phase, Phase::Optimizer);
    }
}
