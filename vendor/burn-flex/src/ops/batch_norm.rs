//! Batch normalization: per-channel statistics, normalization and its gradient, each in one or
//! two passes over the activation.
//!
//! Burn's generic path swaps the batch and channel axes and copies the whole activation to
//! reduce over each channel, four times per training step counting the backward pass. These
//! kernels read a `[batch, channels, rest…]` activation where it lies: a channel's values are
//! `batch` runs of `rest` contiguous elements. Sums are accumulated in f64; the statistics are
//! computed in two passes (mean, then the mean squared deviation), as Burn's path does.

use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use burn_backend::DType;
use burn_std::Shape;
use num_traits::ToPrimitive;

use crate::FlexTensor;

use super::batch_norm_avx512;
use super::kernel_support::{KernelFloat, as_f32, for_each_chunk, into_tensor, with_float_dtype, write_in_chunks};

/// Channels one task of [`Channels::sum_per_channel`] sums side by side.
const SIDE_BY_SIDE: usize = 4;
/// Lanes each channel's long runs are summed in.
const LANES: usize = 8;
/// Runs at least this long (a convolution's positions) are summed in lanes, channel by channel;
/// shorter ones (a dense layer's runs of 1) row by row, across channels.
const LONG_RUN: usize = 16;

/// How one activation splits into channels.
#[derive(Debug, Clone, Copy)]
struct Channels {
    batch: usize,
    channels: usize,
    /// Contiguous elements per sample and channel (the product of the axes after the channel).
    run: usize,
}

impl Channels {
    fn of(shape: &Shape) -> Self {
        let dims = shape.as_slice();
        assert!(dims.len() >= 2, "batch_norm: expected [batch, channels, ...], got {dims:?}");
        Self {
            batch: dims[0],
            channels: dims[1],
            run: dims[2..].iter().product(),
        }
    }

    fn count(&self) -> f64 {
        (self.batch * self.run) as f64
    }

    /// `[batch, channels, run]` when the runs are long (a convolution's activation), where f32
    /// may take `batch_norm_avx512.rs`.
    fn long_runs(&self) -> Option<batch_norm_avx512::Axes> {
        (self.run >= LONG_RUN).then_some([self.batch, self.channels, self.run])
    }

    /// Sums `term(channel, x, y)` over every element of each channel: one f64 per channel.
    fn sum_per_channel<T: KernelFloat>(
        &self,
        x: &[T],
        y: &[T],
        term: impl Fn(usize, T, T) -> f64 + Send + Sync,
    ) -> Vec<f64> {
        let sums = self.sums_per_channel(x, y, |channel, x, y| [term(channel, x, y)]);
        sums.into_iter().map(|[sum]| sum).collect()
    }

    /// Sums each of the `M` values `terms(channel, x, y)` gives over every element of each
    /// channel, in one pass over `x` and `y`: `M` f64 per channel. Each sum adds its values in
    /// the order it would alone, so the bits do not depend on what else is summed beside it.
    ///
    /// Long runs (convolutions) go [`SIDE_BY_SIDE`] channels per task. Each channel is summed
    /// in eight lanes (element `i` of a run into lane `i % 8`, a run's last `run % 8` elements
    /// into a tail first), then the lanes in order and the tail; the channels of a task are
    /// independent chains of additions, so that none waits on another's. Short runs (a dense
    /// layer's `[batch, features]`, runs of 1) are read row by row, vectorized across channels.
    fn sums_per_channel<T: KernelFloat, const M: usize>(
        &self,
        x: &[T],
        y: &[T],
        terms: impl Fn(usize, T, T) -> [f64; M] + Send + Sync,
    ) -> Vec<[f64; M]> {
        let mut sums = vec![[0.0f64; M]; self.channels];
        let (channels, run) = (self.channels, self.run);
        if run >= LONG_RUN {
            for_each_chunk(&mut sums, SIDE_BY_SIDE, |group, sums| {
                self.sum_group(group * SIDE_BY_SIDE, sums, x, y, &terms)
            });
        } else {
            let add = |sums: &mut [f64; M], values: [f64; M]| {
                for (sum, value) in sums.iter_mut().zip(values) {
                    *sum += value;
                }
            };
            for (x_row, y_row) in x.chunks_exact(channels * run).zip(y.chunks_exact(channels * run)) {
                if run == 1 {
                    for (channel, ((sums, &x), &y)) in sums.iter_mut().zip(x_row).zip(y_row).enumerate() {
                        add(sums, terms(channel, x, y));
                    }
                    continue;
                }
                for (at, (&x, &y)) in x_row.iter().zip(y_row).enumerate() {
                    add(&mut sums[at / run], terms(at / run, x, y));
                }
            }
        }
        sums
    }

    /// The mean and the mean squared deviation from it of every channel, each the sum of its
    /// terms divided by the count, in the order [`Self::sums_per_channel`] adds them. Long runs
    /// take both sums of a group of channels in one task, one after the other: the second pass
    /// reads what the first just read from the core's own cache rather than from memory (the
    /// first convolution's output at batch 128 is 11 MB, a group's share 1.4 MB).
    fn mean_and_variance<T: KernelFloat>(&self, x: &[T]) -> (Vec<f64>, Vec<f64>) {
        let count = self.count();
        if self.run < LONG_RUN {
            let mean: Vec<f64> = self.sum_per_channel(x, x, |_, v, _| f64_of(v)).into_iter().map(|sum| sum / count).collect();
            let deviations = self.sum_per_channel(x, x, |channel, v, _| (f64_of(v) - mean[channel]).powi(2));
            return (mean, deviations.into_iter().map(|sum| sum / count).collect());
        }
        let mut statistics = vec![[0.0f64; 2]; self.channels];
        for_each_chunk(&mut statistics, SIDE_BY_SIDE, |group, statistics| {
            let first = group * SIDE_BY_SIDE;
            let mut sums = [[0.0f64; 1]; SIDE_BY_SIDE];
            let sums = &mut sums[..statistics.len()];
            self.sum_group(first, sums, x, x, &|_, v, _| [f64_of(v)]);
            let mut mean = [0.0f64; SIDE_BY_SIDE];
            for ((mean, [sum]), statistics) in mean.iter_mut().zip(&*sums).zip(&mut *statistics) {
                *mean = sum / count;
                statistics[0] = *mean;
            }
            self.sum_group(first, sums, x, x, &|channel, v, _| [(f64_of(v) - mean[channel - first]).powi(2)]);
            for ([sum], statistics) in sums.iter().zip(statistics) {
                statistics[1] = sum / count;
            }
        });
        statistics.into_iter().map(|[mean, variance]| (mean, variance)).unzip()
    }

    /// The sums of the group of `sums.len()` (at most [`SIDE_BY_SIDE`]) channels from `first`.
    fn sum_group<T: KernelFloat, const M: usize>(
        &self,
        first: usize,
        sums: &mut [[f64; M]],
        x: &[T],
        y: &[T],
        terms: &(impl Fn(usize, T, T) -> [f64; M] + Send + Sync),
    ) {
        match sums.len() {
            SIDE_BY_SIDE => self.sum_runs::<T, SIDE_BY_SIDE, M>(first, sums, x, y, terms),
            3 => self.sum_runs::<T, 3, M>(first, sums, x, y, terms),
            2 => self.sum_runs::<T, 2, M>(first, sums, x, y, terms),
            _ => self.sum_runs::<T, 1, M>(first, sums, x, y, terms),
        }
    }

    /// The sums of channels `first..first + K` (see [`Self::sums_per_channel`]). Every width
    /// adds the same values in the same order, so the bits do not depend on the group's size.
    /// (On AVX-512, f32 convolutions take `batch_norm_avx512.rs` instead, which gives these
    /// sums' bits.)
    fn sum_runs<T: KernelFloat, const K: usize, const M: usize>(
        &self,
        first: usize,
        sums: &mut [[f64; M]],
        x: &[T],
        y: &[T],
        terms: &(impl Fn(usize, T, T) -> [f64; M] + Send + Sync),
    ) {
        let run = self.run;
        let blocks = run / LANES;
        let mut lanes = [[[0.0f64; LANES]; K]; M];
        let mut tails = [[0.0f64; K]; M];
        for sample in 0..self.batch {
            let start = (sample * self.channels + first) * run;
            let (xs, ys) = (&x[start..][..K * run], &y[start..][..K * run]);
            for c in 0..K {
                let range = c * run + blocks * LANES..(c + 1) * run;
                for (&x, &y) in xs[range.clone()].iter().zip(&ys[range]) {
                    let values = terms(first + c, x, y);
                    for m in 0..M {
                        tails[m][c] += values[m];
                    }
                }
            }
            for block in 0..blocks {
                for c in 0..K {
                    let at = c * run + block * LANES;
                    let (x, y) = (&xs[at..at + LANES], &ys[at..at + LANES]);
                    for lane in 0..LANES {
                        let values = terms(first + c, x[lane], y[lane]);
                        for m in 0..M {
                            lanes[m][c][lane] += values[m];
                        }
                    }
                }
            }
        }
        for (c, sums) in sums.iter_mut().enumerate() {
            for m in 0..M {
                sums[m] = lanes[m][c].iter().sum::<f64>() + tails[m][c];
            }
        }
    }

    /// Writes `out = scale · (x − shift) + offset (+ y_scale · y)` for every element, with the
    /// coefficients given per channel. Subtracting the shift first keeps the precision of
    /// activations whose mean is large against their spread.
    fn affine<T: KernelFloat>(&self, x: &[T], y: Option<&[T]>, map: &Affine<T>) -> Vec<T> {
        let (channels, run) = (self.channels, self.run);
        let row = channels * run;
        if row == 0 {
            return Vec::new();
        }
        // Whole samples per task, at least 16 Ki elements so short rows are not one task each.
        let rows_per_task = 16_384usize.div_ceil(row).max(1);
        let task = |task: usize, dst: &mut [MaybeUninit<T>], _: &mut [T]| {
            let first = task * rows_per_task * row;
            let x = &x[first..first + dst.len()];
            let y = y.map(|y| &y[first..first + dst.len()]);
            for (sample, dst) in dst.chunks_mut(row).enumerate() {
                let x = &x[sample * row..][..row];
                let y = y.map(|y| &y[sample * row..][..row]);
                if run == 1 {
                    map.apply_across(dst, x, y);
                } else {
                    for channel in 0..channels {
                        let range = channel * run..(channel + 1) * run;
                        let y = y.map(|y| &y[range.clone()]);
                        map.apply_along(channel, &mut dst[range.clone()], &x[range], y);
                    }
                }
            }
        };
        // SAFETY: a task's piece is whole rows (the output's length is a multiple of `row`), and
        // each row is written whole: by `apply_across` (one coefficient per element when runs
        // are 1), or run by run by `apply_along`, each writing every element of its run.
        unsafe { write_in_chunks(x.len(), row * rows_per_task, 0, task) }
    }
}

/// `scale · (x − shift) + offset (+ y_scale · y)`, one set of coefficients per channel, each
/// kind in its own vector (so that a dense layer's row is mapped with vector loads).
struct Affine<T> {
    shift: Vec<T>,
    scale: Vec<T>,
    offset: Vec<T>,
    y_scale: Vec<T>,
}

impl<T: KernelFloat> Affine<T> {
    /// The map whose channel `c` has the coefficients `[shift, scale, offset, y_scale]` of
    /// `coefficients(c)`.
    fn of(channels: usize, coefficients: impl Fn(usize) -> [T; 4]) -> Self {
        let mut map = Self { shift: Vec::new(), scale: Vec::new(), offset: Vec::new(), y_scale: Vec::new() };
        for [shift, scale, offset, y_scale] in (0..channels).map(coefficients) {
            map.shift.push(shift);
            map.scale.push(scale);
            map.offset.push(offset);
            map.y_scale.push(y_scale);
        }
        map
    }

    /// Along one channel's run (`dst`, `x` and `y` of one length): the coefficients are scalars.
    fn apply_along(&self, channel: usize, dst: &mut [MaybeUninit<T>], x: &[T], y: Option<&[T]>) {
        let (shift, scale, offset) = (self.shift[channel], self.scale[channel], self.offset[channel]);
        match y {
            Some(y) => {
                let y_scale = self.y_scale[channel];
                for ((d, &x), &y) in dst.iter_mut().zip(x).zip(y) {
                    d.write(scale * (x - shift) + offset + y_scale * y);
                }
            }
            None => {
                for (d, &x) in dst.iter_mut().zip(x) {
                    d.write(scale * (x - shift) + offset);
                }
            }
        }
    }

    /// Across a row of channels (runs of 1; `dst`, `x` and `y` one row): the coefficients are
    /// vectors.
    fn apply_across(&self, dst: &mut [MaybeUninit<T>], x: &[T], y: Option<&[T]>) {
        let coefficients = self.shift.iter().zip(&self.scale).zip(&self.offset);
        match y {
            Some(y) => {
                for ((((d, &x), &y), ((&shift, &scale), &offset)), &y_scale) in dst
                    .iter_mut()
                    .zip(x)
                    .zip(y)
                    .zip(coefficients)
                    .zip(&self.y_scale)
                {
                    d.write(scale * (x - shift) + offset + y_scale * y);
                }
            }
            None => {
                for ((d, &x), ((&shift, &scale), &offset)) in dst.iter_mut().zip(x).zip(coefficients) {
                    d.write(scale * (x - shift) + offset);
                }
            }
        }
    }
}

/// One channel's forward map, `γ · (x − mean) / √(variance + ε) + β`, as affine coefficients.
fn normalize_coefficients<T: KernelFloat>(gamma: f64, beta: f64, mean: f64, variance: f64, epsilon: f64) -> [T; 4] {
    [from_f64(mean), from_f64(gamma * inv_std(variance, epsilon)), from_f64(beta), T::zero()]
}

/// One channel's input gradient, `γ · inv_std · (dy − mean(dy) − x̂ · mean(dy · x̂))` with
/// x̂ = (x − mean) · inv_std, as affine coefficients of x and dy (`beta_grad` = Σ dy, `gamma_grad`
/// = Σ dy · x̂, `count` the elements each sum adds).
fn gradient_coefficients<T: KernelFloat>(
    gamma: f64,
    mean: f64,
    inv_std: f64,
    [beta_grad, gamma_grad]: [f64; 2],
    count: f64,
) -> [T; 4] {
    let scale = gamma * inv_std;
    [
        from_f64(mean),
        from_f64(-scale * inv_std * gamma_grad / count),
        from_f64(-scale * beta_grad / count),
        from_f64(scale),
    ]
}

fn f64_of<T: KernelFloat>(value: T) -> f64 {
    ToPrimitive::to_f64(&value).unwrap_or(f64::NAN)
}

fn from_f64<T: KernelFloat>(value: f64) -> T {
    T::from(value).unwrap_or_else(T::nan)
}

fn per_channel<T: KernelFloat>(values: &[f64]) -> Vec<T> {
    values.iter().map(|&v| from_f64(v)).collect()
}

fn inv_std(variance: f64, epsilon: f64) -> f64 {
    1.0 / (variance + epsilon).sqrt()
}

fn values<T: KernelFloat>(tensor: &FlexTensor) -> Vec<f64> {
    tensor.storage::<T>().iter().map(|&v| f64_of(v)).collect()
}

/// `γ · (x − mean) / √(variance + ε) + β` as one affine map per channel.
fn normalize<T: KernelFloat>(
    x: &FlexTensor,
    gamma: &[f64],
    beta: &[f64],
    mean: &[f64],
    variance: &[f64],
    epsilon: f64,
) -> FlexTensor {
    let layout = Channels::of(x.layout().shape());
    let map = Affine::of(layout.channels, |c| {
        normalize_coefficients(gamma[c], beta[c], mean[c], variance[c], epsilon)
    });
    let data = x.storage::<T>();
    into_tensor(
        layout.affine(data, None, &map),
        x.layout().shape().to_vec(),
    )
}

fn inference_typed<T: KernelFloat>(t: Vec<FlexTensor>, epsilon: f64) -> Vec<FlexTensor> {
    let [x, gamma, beta, mean, variance] = [&t[0], &t[1], &t[2], &t[3], &t[4]];
    let output = normalize::<T>(
        x,
        &values::<T>(gamma),
        &values::<T>(beta),
        &values::<T>(mean),
        &values::<T>(variance),
        epsilon,
    );
    vec![output]
}

fn train_typed<T: KernelFloat>(t: Vec<FlexTensor>, epsilon: f64) -> Vec<FlexTensor> {
    let [x, gamma, beta] = [&t[0], &t[1], &t[2]];
    let layout = Channels::of(x.layout().shape());
    let (gamma, beta) = (values::<T>(gamma), values::<T>(beta));
    let shape = x.layout().shape().to_vec();
    let vectors = layout.long_runs().zip(as_f32(x.storage::<T>())).and_then(|(axes, x)| {
        batch_norm_avx512::train(x, axes, |c, mean, variance| {
            normalize_coefficients(gamma[c], beta[c], mean, variance, epsilon)
        })
    });
    let (output, mean, variance) = match vectors {
        Some((output, statistics)) => {
            let (mean, variance) = statistics.into_iter().map(|[mean, variance]| (mean, variance)).unzip();
            (into_tensor(output, shape), mean, variance)
        }
        None => {
            let (mean, variance) = layout.mean_and_variance(x.storage::<T>());
            (normalize::<T>(x, &gamma, &beta, &mean, &variance, epsilon), mean, variance)
        }
    };
    vec![
        output,
        into_tensor(per_channel::<T>(&mean), vec![layout.channels]),
        into_tensor(per_channel::<T>(&variance), vec![layout.channels]),
    ]
}

fn train_backward_typed<T: KernelFloat>(t: Vec<FlexTensor>, epsilon: f64) -> Vec<FlexTensor> {
    let [x, gamma, mean, variance, output_grad] = [&t[0], &t[1], &t[2], &t[3], &t[4]];
    let layout = Channels::of(x.layout().shape());
    let (gamma, mean) = (values::<T>(gamma), values::<T>(mean));
    let inv_std: Vec<f64> = values::<T>(variance)
        .into_iter()
        .map(|v| inv_std(v, epsilon))
        .collect();
    let (x_data, grad) = (x.storage::<T>(), output_grad.storage::<T>());
    let shape = x.layout().shape().to_vec();
    let count = layout.count();

    let vectors = layout
        .long_runs()
        .zip(as_f32(x_data).zip(as_f32(grad)))
        .and_then(|(axes, (x, dy))| {
            batch_norm_avx512::train_backward(x, dy, axes, &mean, &inv_std, |c, beta_grad, gamma_grad| {
                gradient_coefficients(gamma[c], mean[c], inv_std[c], [beta_grad, gamma_grad], count)
            })
        });
    let (x_grad, sums) = match vectors {
        Some((x_grad, sums)) => (into_tensor(x_grad, shape), sums),
        None => {
            // β's gradient is Σ dy; γ's is Σ dy · x̂, with x̂ = (x − mean) · inv_std: both in
            // one pass.
            let sums = layout.sums_per_channel(x_data, grad, |channel, x, dy| {
                let dy = f64_of(dy);
                [dy, (f64_of(x) - mean[channel]) * inv_std[channel] * dy]
            });
            // dx = γ · inv_std · (dy − mean(dy) − x̂ · mean(dy · x̂)), an affine map of x and dy
            // per channel.
            let map = Affine::of(layout.channels, |c| {
                gradient_coefficients(gamma[c], mean[c], inv_std[c], sums[c], count)
            });
            (into_tensor(layout.affine(x_data, Some(grad), &map), shape), sums)
        }
    };
    let (beta_grad, gamma_grad): (Vec<f64>, Vec<f64>) = sums.into_iter().map(|[beta, gamma]| (beta, gamma)).unzip();
    vec![
        x_grad,
        into_tensor(per_channel::<T>(&gamma_grad), vec![layout.channels]),
        into_tensor(per_channel::<T>(&beta_grad), vec![layout.channels]),
    ]
}

fn contiguous(tensors: [FlexTensor; 5]) -> Vec<FlexTensor> {
    tensors.iter().map(FlexTensor::to_contiguous).collect()
}

/// Batch normalization with supplied statistics (inference).
pub fn batch_norm(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
) -> FlexTensor {
    let dtype: DType = x.dtype();
    with_float_dtype(
        dtype,
        contiguous([x, gamma, beta, mean, variance]),
        |t| inference_typed::<f32>(t, epsilon),
        |t| inference_typed::<f64>(t, epsilon),
    )
    .remove(0)
}

/// Batch normalization with the batch's own statistics: (output, mean, biased variance).
pub fn batch_norm_train(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let dtype = x.dtype();
    let tensors = [x, gamma, beta].iter().map(FlexTensor::to_contiguous).collect();
    let mut out = with_float_dtype(
        dtype,
        tensors,
        |t| train_typed::<f32>(t, epsilon),
        |t| train_typed::<f64>(t, epsilon),
    );
    let variance = out.pop().expect("three outputs");
    let mean = out.pop().expect("three outputs");
    (out.pop().expect("three outputs"), mean, variance)
}

/// Gradients of [`batch_norm_train`]: (x, γ, β).
pub fn batch_norm_train_backward(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let dtype = x.dtype();
    let mut out = with_float_dtype(
        dtype,
        contiguous([x, gamma, mean, variance, output_grad]),
        |t| train_backward_typed::<f32>(t, epsilon),
        |t| train_backward_typed::<f64>(t, epsilon),
    );
    let beta_grad = out.pop().expect("three outputs");
    let gamma_grad = out.pop().expect("three outputs");
    (out.pop().expect("three outputs"), gamma_grad, beta_grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One channel per task, eight lanes and a tail, as the sums were first computed: the
    /// definition of the bits `sum_per_channel` must keep.
    fn one_channel_at_a_time(layout: &Channels, x: &[f32], y: &[f32], term: impl Fn(usize, f32, f32) -> f64) -> Vec<f64> {
        (0..layout.channels)
            .map(|channel| {
                let mut lanes = [0.0f64; 8];
                let mut tail = 0.0;
                for sample in 0..layout.batch {
                    let start = (sample * layout.channels + channel) * layout.run;
                    let (xs, ys) = (&x[start..][..layout.run], &y[start..][..layout.run]);
                    let (x_chunks, y_chunks) = (xs.chunks_exact(8), ys.chunks_exact(8));
                    for (&x, &y) in x_chunks.remainder().iter().zip(y_chunks.remainder()) {
                        tail += term(channel, x, y);
                    }
                    for (x, y) in x_chunks.zip(y_chunks) {
                        for lane in 0..8 {
                            lanes[lane] += term(channel, x[lane], y[lane]);
                        }
                    }
                }
                lanes.iter().sum::<f64>() + tail
            })
            .collect()
    }

    #[test]
    fn channels_side_by_side_give_the_one_channel_sums_bits() {
        // Channel counts below, at and past one group of SIDE_BY_SIDE, runs with and without a
        // tail; values of mixed magnitude, so that any other order of the additions rounds
        // differently.
        for (channels, run) in [(1, 16), (3, 17), (SIDE_BY_SIDE, 25), (5, 169), (13, 33), (32, 676)] {
            let layout = Channels { batch: 3, channels, run };
            let len = layout.batch * channels * run;
            let x: Vec<f32> = (0..len)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * [1e-3, 1.0, 1e3][i % 3])
                .collect();
            let y: Vec<f32> = x.iter().rev().map(|v| v * 0.37 + 1.0).collect();
            let shift: Vec<f64> = (0..channels).map(|c| c as f64 * 0.1 - 0.3).collect();
            let term = |c: usize, x: f32, y: f32| (x as f64 - shift[c]) * y as f64;
            let expected = one_channel_at_a_time(&layout, &x, &y, term);
            let sums = layout.sum_per_channel(&x, &y, term);
            let bits = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&sums), bits(&expected), "{channels} channels, runs of {run}");
        }
    }

    #[test]
    fn mean_and_variance_in_one_task_are_the_two_passes_bits() {
        // The batch's statistics as two passes over the whole activation compute them, for runs
        // that take the grouped path (16 and more) and those that do not.
        for (batch, channels, run) in [(5, 7, 1), (4, 6, 3), (3, 5, 16), (2, 13, 37), (3, 32, 676)] {
            let layout = Channels { batch, channels, run };
            let x: Vec<f32> = (0..batch * channels * run)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * [1e-3, 1.0, 1e3][i % 3] + 40.0)
                .collect();
            let count = layout.count();
            let mean: Vec<f64> = layout.sum_per_channel(&x, &x, |_, v, _| v as f64).iter().map(|s| s / count).collect();
            let variance: Vec<f64> = layout
                .sum_per_channel(&x, &x, |c, v, _| (v as f64 - mean[c]).powi(2))
                .iter()
                .map(|s| s / count)
                .collect();
            let bits = |v: &[f64]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let (one_mean, one_variance) = layout.mean_and_variance(&x);
            let case = format!("{batch} × {channels} × {run}");
            assert_eq!(bits(&one_mean), bits(&mean), "mean, {case}");
            assert_eq!(bits(&one_variance), bits(&variance), "variance, {case}");
        }
    }

    #[test]
    fn sums_taken_together_keep_each_ones_bits() {
        // BatchNorm's backward pass sums Σ dy and Σ (x − shift) · dy in one pass: each must be
        // what it is alone. Runs of 1 (dense) and 3 take the row-by-row path, the rest the lanes.
        for (batch, channels, run) in [(5, 7, 1), (4, 6, 3), (3, 5, 16), (2, 13, 37), (3, 32, 676)] {
            let layout = Channels { batch, channels, run };
            let len = batch * channels * run;
            let x: Vec<f32> = (0..len)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * [1e-3, 1.0, 1e3][i % 3])
                .collect();
            let y: Vec<f32> = x.iter().rev().map(|v| v * 0.37 - 2.0).collect();
            let shift: Vec<f64> = (0..channels).map(|c| c as f64 * 0.1 - 0.3).collect();
            let first = |_: usize, _: f32, y: f32| y as f64;
            let second = |c: usize, x: f32, y: f32| (x as f64 - shift[c]) * y as f64;
            let together = layout.sums_per_channel(&x, &y, |c, x, y| [first(c, x, y), second(c, x, y)]);
            let bits = |v: &mut dyn Iterator<Item = f64>| v.map(f64::to_bits).collect::<Vec<_>>();
            let case = format!("{batch} × {channels} × {run}");
            let alone = layout.sum_per_channel(&x, &y, first);
            assert_eq!(bits(&mut together.iter().map(|s| s[0])), bits(&mut alone.into_iter()), "Σ y, {case}");
            let alone = layout.sum_per_channel(&x, &y, second);
            assert_eq!(bits(&mut together.iter().map(|s| s[1])), bits(&mut alone.into_iter()), "Σ (x − shift) · y, {case}");
            if run >= LONG_RUN {
                let definition = one_channel_at_a_time(&layout, &x, &y, second);
                assert_eq!(bits(&mut together.iter().map(|s| s[1])), bits(&mut definition.into_iter()), "{case}");
            }
        }
    }

    #[test]
    fn avx512_passes_give_the_generic_passes_bits() {
        // Both passes of `batch_norm_avx512.rs` against the generic sums and affine maps, for
        // groups of one to four channels, runs with and without a tail and a last vector under
        // a mask, and values of mixed magnitude around a mean far from zero.
        let bits32 = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let bits64 = |v: &mut dyn Iterator<Item = f64>| v.map(f64::to_bits).collect::<Vec<_>>();
        for (batch, channels, run) in [(3, 1, 16), (2, 3, 17), (4, 4, 25), (3, 5, 169), (2, 13, 37), (3, 32, 676)] {
            let layout = Channels { batch, channels, run };
            let axes = layout.long_runs().expect("long runs");
            let len = batch * channels * run;
            let x: Vec<f32> = (0..len)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * [1e-3, 1.0, 1e2][i % 3] + 40.0)
                .collect();
            let dy: Vec<f32> = x.iter().rev().map(|v| v * 0.37 - 2.0).collect();
            let gamma: Vec<f64> = (0..channels).map(|c| 0.5 + c as f64 * 0.25).collect();
            let beta: Vec<f64> = (0..channels).map(|c| c as f64 * 0.1 - 0.3).collect();
            let case = format!("{batch} × {channels} × {run}");

            let forward = |c: usize, mean: f64, variance: f64| normalize_coefficients(gamma[c], beta[c], mean, variance, 1e-3);
            let Some((output, statistics)) = batch_norm_avx512::train(&x, axes, forward) else {
                eprintln!("no AVX-512 on this CPU: nothing to compare");
                return;
            };
            let (mean, variance) = layout.mean_and_variance(&x);
            let map = Affine::of(channels, |c| forward(c, mean[c], variance[c]));
            assert_eq!(bits32(&output), bits32(&layout.affine(&x, None, &map)), "output, {case}");
            assert_eq!(bits64(&mut statistics.iter().map(|s| s[0])), bits64(&mut mean.iter().copied()), "mean, {case}");
            assert_eq!(bits64(&mut statistics.iter().map(|s| s[1])), bits64(&mut variance.iter().copied()), "variance, {case}");

            let inv: Vec<f64> = variance.iter().map(|&v| inv_std(v, 1e-3)).collect();
            let backward = |c: usize, sums: [f64; 2]| gradient_coefficients(gamma[c], mean[c], inv[c], sums, layout.count());
            let (x_grad, sums) =
                batch_norm_avx512::train_backward(&x, &dy, axes, &mean, &inv, |c, b, g| backward(c, [b, g])).expect("AVX-512");
            let generic = layout.sums_per_channel(&x, &dy, |c, x, dy| {
                let dy = dy as f64;
                [dy, (x as f64 - mean[c]) * inv[c] * dy]
            });
            let map = Affine::of(channels, |c| backward(c, generic[c]));
            assert_eq!(bits32(&x_grad), bits32(&layout.affine(&x, Some(&dy), &map)), "input gradient, {case}");
            for m in 0..2 {
                assert_eq!(bits64(&mut sums.iter().map(|s| s[m])), bits64(&mut generic.iter().map(|s| s[m])), "sum {m}, {case}");
            }
        }
    }
}
