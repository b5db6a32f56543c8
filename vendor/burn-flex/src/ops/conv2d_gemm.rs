//! The 2D convolution and its backward passes as GEMMs over the whole batch.
//!
//! Burn's generic path computes the input gradient as a transposed convolution and the weight
//! gradient as a forward convolution with the batch and channel axes swapped, whose GEMM is only
//! `kernel_h · kernel_w` wide (9 for a 3×3 kernel) and runs far below the GEMM's peak. Here, with
//! `P = out_h · out_w` output positions per sample and `k = (c_in, kh, kw)` a kernel tap:
//!
//! - `cols[k, n·P + p]`: im2col of the input, every sample of the batch side by side;
//! - `dy[o, n·P + p]`: the output gradient with its batch and channel axes swapped;
//! - forward `y[o, j] = Σ_k W[o, k] · cols[k, j]`: one GEMM per group, scattered back to
//!   `[batch, channels_out, out_h, out_w]` (flex's tiled forward runs one GEMM per sample and
//!   tile, only `P` wide: 121 positions for the guide's second convolution);
//! - weight gradient `dW[o, k] = Σ_j dy[o, j] · cols[k, j]`: one GEMM per group whose inner
//!   dimension is the batch times the positions;
//! - input gradient `dcols = Wᵀ · dy`, then col2im adds every column back where im2col read it.
//!
//! Every stride, dilation, padding (asymmetric included) and group count is covered. Large
//! batches are processed in chunks, so that `cols` stays below [`COLS_BUDGET`] elements. f32 and
//! f64 run natively; f16 and bf16 go through f32.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_std::{Bytes, Shape, bf16, f16};
use num_traits::Float;

use crate::{FlexTensor, Layout};

use super::module::{cast_from_f32, cast_to_f32};

/// The most elements an im2col buffer may hold (4 MiB of f32): larger batches are processed in
/// chunks of samples, which keeps the buffers in cache (measured: at batch 128 the guide's CNN
/// trained slower per sample than at batch 32 with the whole batch in one buffer).
const COLS_BUDGET: usize = 1 << 20;

/// A GEMM smaller than this many multiply-adds runs on the calling thread.
const GEMM_PARALLEL_THRESHOLD: usize = 256 * 1024;

/// The element types the kernels run natively (those `gemm` dispatches on).
pub(crate) trait KernelFloat:
    Float + bytemuck::Pod + burn_backend::Element + Send + Sync + core::iter::Sum + 'static
{
}
impl KernelFloat for f32 {}
impl KernelFloat for f64 {}

/// Runs `kernel` on the tensors' own precision, or through f32 for half-precision types.
pub(crate) fn with_float_dtype(
    dtype: DType,
    tensors: Vec<FlexTensor>,
    kernel_f32: impl FnOnce(Vec<FlexTensor>) -> Vec<FlexTensor>,
    kernel_f64: impl FnOnce(Vec<FlexTensor>) -> Vec<FlexTensor>,
) -> Vec<FlexTensor> {
    match dtype {
        DType::F32 => kernel_f32(tensors),
        DType::F64 => kernel_f64(tensors),
        DType::F16 => kernel_f32(
            tensors
                .into_iter()
                .map(|t| cast_to_f32(t, f16::to_f32))
                .collect(),
        )
        .into_iter()
        .map(|t| cast_from_f32(t, f16::from_f32))
        .collect(),
        DType::BF16 => kernel_f32(
            tensors
                .into_iter()
                .map(|t| cast_to_f32(t, bf16::to_f32))
                .collect(),
        )
        .into_iter()
        .map(|t| cast_from_f32(t, bf16::from_f32))
        .collect(),
        dtype => panic!("unsupported float dtype {dtype:?}"),
    }
}

/// Calls `body(index, chunk)` for every `chunk_len`-sized piece of `data`, on rayon when enabled.
pub(crate) fn for_each_chunk<T: Send>(
    data: &mut [T],
    chunk_len: usize,
    body: impl Fn(usize, &mut [T]) + Send + Sync,
) {
    if chunk_len == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(index, chunk)| body(index, chunk));
    }
    #[cfg(not(feature = "rayon"))]
    data.chunks_mut(chunk_len)
        .enumerate()
        .for_each(|(index, chunk)| body(index, chunk));
}

pub(crate) fn into_tensor<T: KernelFloat>(data: Vec<T>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape)),
        T::dtype(),
    )
}

/// The sizes of one convolution, read from its input, weight and output gradient.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    channels_in: usize,
    in_h: usize,
    in_w: usize,
    channels_out: usize,
    kernel_h: usize,
    kernel_w: usize,
    out_h: usize,
    out_w: usize,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Geometry {
    /// The sizes, after checking that the three shapes describe one convolution: every kernel
    /// below indexes (and `gemm_strided` reads and writes raw memory) on the strength of them.
    fn new(x: &[usize], weight: &[usize], output_grad: &[usize], options: &ConvOptions<2>) -> Self {
        assert!(
            x.len() == 4 && weight.len() == 4 && output_grad.len() == 4,
            "conv2d: input {x:?}, weight {weight:?} and output gradient {output_grad:?} must each have 4 axes"
        );
        let groups = options.groups;
        assert!(
            groups >= 1 && x[1] == weight[1] * groups && weight[0] % groups == 0,
            "conv2d: {groups} groups do not fit input channels {} and weight {weight:?}",
            x[1]
        );
        assert!(
            options.stride.iter().chain(&options.dilation).all(|&s| s >= 1),
            "conv2d: stride {:?} and dilation {:?} must be at least 1",
            options.stride,
            options.dilation
        );
        assert!(
            weight[2] >= 1 && weight[3] >= 1,
            "conv2d: kernel {weight:?} has an empty spatial axis"
        );
        for axis in 0..2 {
            let padded = x[2 + axis] + options.padding[axis].0 + options.padding[axis].1;
            let reach = options.dilation[axis] * (weight[2 + axis] - 1) + 1;
            assert!(
                padded >= reach,
                "conv2d: kernel {weight:?} with dilation {:?} is larger than the padded input {x:?}",
                options.dilation
            );
            let out = (padded - reach) / options.stride[axis] + 1;
            assert_eq!(
                output_grad[2 + axis],
                out,
                "conv2d: output size {output_grad:?} does not follow from input {x:?}, weight {weight:?} and {options:?}"
            );
        }
        assert!(
            output_grad[0] == x[0] && output_grad[1] == weight[0],
            "conv2d: output {output_grad:?} does not match batch {} and {} output channels",
            x[0],
            weight[0]
        );
        Self {
            batch: x[0],
            channels_in: x[1],
            in_h: x[2],
            in_w: x[3],
            channels_out: weight[0],
            kernel_h: weight[2],
            kernel_w: weight[3],
            out_h: output_grad[2],
            out_w: output_grad[3],
            stride: options.stride,
            padding: options.padding_begin(),
            dilation: options.dilation,
            groups: options.groups,
        }
    }

    fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Rows of `cols`: one per input channel and kernel tap.
    fn rows(&self) -> usize {
        self.channels_in * self.kernel_h * self.kernel_w
    }

    /// Rows of `cols` that belong to one group (the weight's second axis, flattened).
    fn group_rows(&self) -> usize {
        self.rows() / self.groups
    }

    fn group_channels_out(&self) -> usize {
        self.channels_out / self.groups
    }

    /// Samples per chunk, so that `cols` stays within the budget.
    fn chunk(&self) -> usize {
        let per_sample = (self.rows() * self.positions()).max(1);
        (COLS_BUDGET / per_sample).clamp(1, self.batch.max(1))
    }
}

/// The output indices `o` whose input index `o·stride + offset` lies in `0..input_len`.
fn valid_range(output_len: usize, input_len: usize, stride: usize, offset: isize) -> (usize, usize) {
    let stride = stride as isize;
    let first = if offset >= 0 { 0 } else { (-offset + stride - 1) / stride };
    let end = (input_len as isize - offset + stride - 1).div_euclid(stride);
    let first = (first as usize).min(output_len);
    (first, (end.max(0) as usize).clamp(first, output_len))
}

/// im2col of samples `first..first + count`: `cols[k, n·P + p]`, `count · P` columns.
fn im2col<T: KernelFloat>(x: &[T], geometry: &Geometry, first: usize, count: usize) -> Vec<T> {
    let g = geometry;
    let positions = g.positions();
    let width = count * positions;
    let plane = g.in_h * g.in_w;
    let mut cols = vec![T::zero(); g.rows() * width];
    for_each_chunk(&mut cols, width, |row, dst| {
        let channel = row / (g.kernel_h * g.kernel_w);
        let kh = (row / g.kernel_w) % g.kernel_h;
        let kw = row % g.kernel_w;
        let offset_h = (kh * g.dilation[0]) as isize - g.padding[0] as isize;
        let offset_w = (kw * g.dilation[1]) as isize - g.padding[1] as isize;
        let (oh_first, oh_end) = valid_range(g.out_h, g.in_h, g.stride[0], offset_h);
        let (ow_first, ow_end) = valid_range(g.out_w, g.in_w, g.stride[1], offset_w);
        for sample in 0..count {
            let source = &x[((first + sample) * g.channels_in + channel) * plane..][..plane];
            let dst = &mut dst[sample * positions..][..positions];
            for oh in oh_first..oh_end {
                let ih = (oh * g.stride[0]) as isize + offset_h;
                let source_row = &source[ih as usize * g.in_w..][..g.in_w];
                let dst_row = &mut dst[oh * g.out_w..][..g.out_w];
                if g.stride[1] == 1 {
                    let iw = (ow_first as isize + offset_w) as usize;
                    dst_row[ow_first..ow_end]
                        .copy_from_slice(&source_row[iw..iw + (ow_end - ow_first)]);
                    continue;
                }
                for ow in ow_first..ow_end {
                    let iw = (ow * g.stride[1]) as isize + offset_w;
                    dst_row[ow] = source_row[iw as usize];
                }
            }
        }
    });
    cols
}

/// The output gradient of samples `first..first + count` as `[channels_out, count · P]`.
fn channels_first<T: KernelFloat>(
    output_grad: &[T],
    geometry: &Geometry,
    first: usize,
    count: usize,
) -> Vec<T> {
    let positions = geometry.positions();
    let width = count * positions;
    let mut swapped = vec![T::zero(); geometry.channels_out * width];
    for_each_chunk(&mut swapped, width, |channel, dst| {
        for sample in 0..count {
            let source = ((first + sample) * geometry.channels_out + channel) * positions;
            dst[sample * positions..][..positions]
                .copy_from_slice(&output_grad[source..][..positions]);
        }
    });
    swapped
}

fn gemm_parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    #[cfg(feature = "rayon")]
    if m.saturating_mul(n).saturating_mul(k) >= GEMM_PARALLEL_THRESHOLD {
        return gemm::Parallelism::Rayon(0);
    }
    let _ = (m, n, k);
    gemm::Parallelism::None
}

/// `dst[m×n] = (accumulate ? dst : 0) + lhs[m×k] · rhs[k×n]`, each operand given by its row and
/// column strides.
#[allow(clippy::too_many_arguments)]
fn gemm_strided<T: KernelFloat>(
    [m, n, k]: [usize; 3],
    dst: &mut [T],
    dst_row_stride: usize,
    accumulate: bool,
    lhs: &[T],
    [lhs_rs, lhs_cs]: [usize; 2],
    rhs: &[T],
    [rhs_rs, rhs_cs]: [usize; 2],
) {
    if m == 0 || n == 0 {
        return;
    }
    // Checked in release builds too: `gemm::gemm` takes raw pointers and trusts these extents,
    // so a wrong caller would read or write outside the slices. The cost is a few
    // multiplications per GEMM call (one per sample chunk and group).
    let last = |rows: usize, rs: usize, cols: usize, cs: usize| {
        (rows - 1)
            .checked_mul(rs)
            .and_then(|a| (cols - 1).checked_mul(cs).and_then(|b| a.checked_add(b)))
            .expect("gemm_strided: operand extent overflows usize")
    };
    assert!(
        dst_row_stride >= n && dst.len() > last(m, dst_row_stride, n, 1),
        "gemm_strided: dst of {} elements cannot hold {m}×{n} with row stride {dst_row_stride}",
        dst.len()
    );
    assert!(
        k == 0 || lhs.len() > last(m, lhs_rs, k, lhs_cs),
        "gemm_strided: lhs of {} elements cannot hold {m}×{k} with strides ({lhs_rs}, {lhs_cs})",
        lhs.len()
    );
    assert!(
        k == 0 || rhs.len() > last(k, rhs_rs, n, rhs_cs),
        "gemm_strided: rhs of {} elements cannot hold {k}×{n} with strides ({rhs_rs}, {rhs_cs})",
        rhs.len()
    );
    // SAFETY: the assertions above bound every element gemm reads from lhs and rhs and writes
    // in dst (rows of dst do not overlap: stride ≥ n); the three slices do not overlap (dst is
    // borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row_stride as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm_parallelism(m, n, k),
        );
    }
}

fn weight_backward_typed<T: KernelFloat>(
    x: &FlexTensor,
    output_grad: &FlexTensor,
    weight_shape: &[usize],
    options: &ConvOptions<2>,
) -> FlexTensor {
    let g = Geometry::new(
        x.layout().shape(),
        weight_shape,
        output_grad.layout().shape(),
        options,
    );
    let (x, output_grad) = (x.storage::<T>(), output_grad.storage::<T>());
    let (group_rows, group_out) = (g.group_rows(), g.group_channels_out());
    let mut weight_grad = vec![T::zero(); g.channels_out * group_rows];
    let mut first = 0;
    while first < g.batch {
        let count = g.chunk().min(g.batch - first);
        let width = count * g.positions();
        let cols = im2col(x, &g, first, count);
        let dy = channels_first(output_grad, &g, first, count);
        for group in 0..g.groups {
            // dW[o, k] (+)= Σ_j dy[o, j] · cols[k, j]
            gemm_strided(
                [group_out, group_rows, width],
                &mut weight_grad[group * group_out * group_rows..],
                group_rows,
                first > 0,
                &dy[group * group_out * width..],
                [width, 1],
                &cols[group * group_rows * width..],
                [1, width],
            );
        }
        first += count;
    }
    into_tensor(weight_grad, weight_shape.to_vec())
}

fn x_backward_typed<T: KernelFloat>(
    x_shape: &[usize],
    weight: &FlexTensor,
    output_grad: &FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let g = Geometry::new(
        x_shape,
        weight.layout().shape(),
        output_grad.layout().shape(),
        options,
    );
    let (weight, output_grad) = (weight.storage::<T>(), output_grad.storage::<T>());
    let (group_rows, group_out) = (g.group_rows(), g.group_channels_out());
    let plane = g.in_h * g.in_w;
    let positions = g.positions();
    let taps = g.kernel_h * g.kernel_w;
    let mut x_grad = vec![T::zero(); g.batch * g.channels_in * plane];
    let mut first = 0;
    while first < g.batch {
        let count = g.chunk().min(g.batch - first);
        let width = count * positions;
        let dy = channels_first(output_grad, &g, first, count);
        let mut dcols = vec![T::zero(); g.rows() * width];
        for group in 0..g.groups {
            // dcols[k, j] = Σ_o W[o, k] · dy[o, j]
            gemm_strided(
                [group_rows, width, group_out],
                &mut dcols[group * group_rows * width..],
                width,
                false,
                &weight[group * group_out * group_rows..],
                [1, group_rows],
                &dy[group * group_out * width..],
                [width, 1],
            );
        }
        // col2im: every (sample, channel) plane is summed by one task, so no two tasks write
        // the same element.
        let chunk_grad = &mut x_grad[first * g.channels_in * plane..][..count * g.channels_in * plane];
        for_each_chunk(chunk_grad, plane, |index, dst| {
            let (sample, channel) = (index / g.channels_in, index % g.channels_in);
            for tap in 0..taps {
                let (kh, kw) = (tap / g.kernel_w, tap % g.kernel_w);
                let offset_h = (kh * g.dilation[0]) as isize - g.padding[0] as isize;
                let offset_w = (kw * g.dilation[1]) as isize - g.padding[1] as isize;
                let (oh_first, oh_end) = valid_range(g.out_h, g.in_h, g.stride[0], offset_h);
                let (ow_first, ow_end) = valid_range(g.out_w, g.in_w, g.stride[1], offset_w);
                let source = &dcols[(channel * taps + tap) * width + sample * positions..][..positions];
                for oh in oh_first..oh_end {
                    let ih = ((oh * g.stride[0]) as isize + offset_h) as usize;
                    let source_row = &source[oh * g.out_w..][..g.out_w];
                    let dst_row = &mut dst[ih * g.in_w..][..g.in_w];
                    if g.stride[1] == 1 {
                        let iw = (ow_first as isize + offset_w) as usize;
                        let dst = &mut dst_row[iw..iw + (ow_end - ow_first)];
                        for (d, &s) in dst.iter_mut().zip(&source_row[ow_first..ow_end]) {
                            *d = *d + s;
                        }
                        continue;
                    }
                    for ow in ow_first..ow_end {
                        let iw = ((ow * g.stride[1]) as isize + offset_w) as usize;
                        dst_row[iw] = dst_row[iw] + source_row[ow];
                    }
                }
            }
        });
        first += count;
    }
    into_tensor(x_grad, x_shape.to_vec())
}

fn bias_backward_typed<T: KernelFloat>(output_grad: &FlexTensor, bias_shape: &[usize]) -> FlexTensor {
    let shape = output_grad.layout().shape();
    let (batch, channels) = (shape[0], shape[1]);
    let positions: usize = shape[2..].iter().product();
    let data = output_grad.storage::<T>();
    let grad = (0..channels)
        .map(|channel| {
            (0..batch)
                .map(|sample| {
                    data[(sample * channels + channel) * positions..][..positions]
                        .iter()
                        .copied()
                        .sum::<T>()
                })
                .sum::<T>()
        })
        .collect();
    into_tensor(grad, bias_shape.to_vec())
}

/// The output size along one axis (begin and end padding may differ).
fn output_len(input: usize, kernel: usize, stride: usize, padding: (usize, usize), dilation: usize) -> usize {
    let padded = input + padding.0 + padding.1;
    let span = dilation * (kernel - 1) + 1;
    if padded < span { 0 } else { (padded - span) / stride + 1 }
}

fn forward_typed<T: KernelFloat>(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let (x_shape, w_shape) = (x.layout().shape(), weight.layout().shape());
    let out_shape = [
        x_shape[0],
        w_shape[0],
        output_len(x_shape[2], w_shape[2], options.stride[0], options.padding[0], options.dilation[0]),
        output_len(x_shape[3], w_shape[3], options.stride[1], options.padding[1], options.dilation[1]),
    ];
    let g = Geometry::new(x_shape, w_shape, &out_shape, options);
    let (x, weight) = (x.storage::<T>(), weight.storage::<T>());
    let bias = bias.map(|b| b.storage::<T>());
    let (group_rows, group_out, positions) = (g.group_rows(), g.group_channels_out(), g.positions());
    let mut output = vec![T::zero(); g.batch * g.channels_out * positions];
    let mut first = 0;
    while first < g.batch {
        let count = g.chunk().min(g.batch - first);
        let width = count * positions;
        let cols = im2col(x, &g, first, count);
        let mut y = vec![T::zero(); g.channels_out * width];
        for group in 0..g.groups {
            // y[o, j] = Σ_k W[o, k] · cols[k, j]
            gemm_strided(
                [group_out, width, group_rows],
                &mut y[group * group_out * width..],
                width,
                false,
                &weight[group * group_out * group_rows..],
                [group_rows, 1],
                &cols[group * group_rows * width..],
                [width, 1],
            );
        }
        let chunk_out = &mut output[first * g.channels_out * positions..][..width * g.channels_out];
        for_each_chunk(chunk_out, positions, |index, dst| {
            let (sample, channel) = (index / g.channels_out, index % g.channels_out);
            let source = &y[channel * width + sample * positions..][..positions];
            match bias {
                Some(bias) => {
                    for (d, &s) in dst.iter_mut().zip(source) {
                        *d = s + bias[channel];
                    }
                }
                None => dst.copy_from_slice(source),
            }
        });
        first += count;
    }
    into_tensor(output, out_shape.to_vec())
}

/// Whether [`conv2d`] should run this convolution: every ungrouped one but the pointwise (1×1,
/// unit stride, no padding), which flex's own fast path runs without any im2col.
pub fn handles_forward(weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    let w = weight.layout().shape();
    let pointwise = w[2] == 1
        && w[3] == 1
        && options.stride == [1, 1]
        && options.padding == [(0, 0), (0, 0)];
    options.groups == 1 && !pointwise
}

/// A 2D convolution.
pub fn conv2d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let dtype = x.dtype();
    let has_bias = bias.is_some();
    let mut tensors = vec![x.to_contiguous(), weight.to_contiguous()];
    tensors.extend(bias.map(|b| b.to_contiguous()));
    let run = |typed: fn(&FlexTensor, &FlexTensor, Option<&FlexTensor>, &ConvOptions<2>) -> FlexTensor| {
        move |t: Vec<FlexTensor>| vec![typed(&t[0], &t[1], has_bias.then(|| &t[2]), options)]
    };
    with_float_dtype(dtype, tensors, run(forward_typed::<f32>), run(forward_typed::<f64>)).remove(0)
}

/// The gradient of a 2D convolution with respect to its weight.
pub fn conv2d_weight_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let weight_shape = weight.layout().shape().to_vec();
    let dtype = x.dtype();
    let tensors = vec![x.to_contiguous(), output_grad.to_contiguous()];
    let run = |typed: fn(&FlexTensor, &FlexTensor, &[usize], &ConvOptions<2>) -> FlexTensor| {
        let weight_shape = weight_shape.clone();
        move |t: Vec<FlexTensor>| vec![typed(&t[0], &t[1], &weight_shape, options)]
    };
    with_float_dtype(
        dtype,
        tensors,
        run(weight_backward_typed::<f32>),
        run(weight_backward_typed::<f64>),
    )
    .remove(0)
}

/// The gradient of a 2D convolution with respect to its input.
pub fn conv2d_x_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let x_shape = x.layout().shape().to_vec();
    let dtype = x.dtype();
    let tensors = vec![weight.to_contiguous(), output_grad.to_contiguous()];
    let run = |typed: fn(&[usize], &FlexTensor, &FlexTensor, &ConvOptions<2>) -> FlexTensor| {
        let x_shape = x_shape.clone();
        move |t: Vec<FlexTensor>| vec![typed(&x_shape, &t[0], &t[1], options)]
    };
    with_float_dtype(
        dtype,
        tensors,
        run(x_backward_typed::<f32>),
        run(x_backward_typed::<f64>),
    )
    .remove(0)
}

/// The gradient of a convolution with respect to its bias: the output gradient summed over the
/// batch and every position.
pub fn conv_bias_backward(bias: FlexTensor, output_grad: FlexTensor) -> FlexTensor {
    let bias_shape = bias.layout().shape().to_vec();
    let dtype = output_grad.dtype();
    let run = |typed: fn(&FlexTensor, &[usize]) -> FlexTensor| {
        let bias_shape = bias_shape.clone();
        move |t: Vec<FlexTensor>| vec![typed(&t[0], &bias_shape)]
    };
    with_float_dtype(
        dtype,
        vec![output_grad.to_contiguous()],
        run(bias_backward_typed::<f32>),
        run(bias_backward_typed::<f64>),
    )
    .remove(0)
}

#[cfg(test)]
mod tests {
    use super::valid_range;

    #[test]
    fn valid_range_matches_a_scan() {
        for output_len in 0..7 {
            for input_len in 0..7 {
                for stride in 1..4 {
                    for offset in -5isize..5 {
                        let expected: Vec<usize> = (0..output_len)
                            .filter(|&o| {
                                let i = (o * stride) as isize + offset;
                                i >= 0 && i < input_len as isize
                            })
                            .collect();
                        let (first, end) = valid_range(output_len, input_len, stride, offset);
                        assert_eq!((first..end).collect::<Vec<_>>(), expected);
                    }
                }
            }
        }
    }
}
