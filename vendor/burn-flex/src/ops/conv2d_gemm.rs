//! The 2D convolution and its backward passes as GEMMs, one sample at a time.
//!
//! Burn's generic path computes the input gradient as a transposed convolution and the weight
//! gradient as a forward convolution with the batch and channel axes swapped, whose GEMM is only
//! `kernel_h · kernel_w` wide (9 for a 3×3 kernel) and runs far below the GEMM's peak. Here, with
//! `P = out_h · out_w` output positions per sample and `k = (c_in, kh, kw)` a kernel tap, for each
//! sample `n`:
//!
//! - `cols[k, p]`: im2col of the sample;
//! - forward `y[n][o, p] = Σ_k W[o, k] · cols[k, p]`: one GEMM per group, written straight into
//!   the output's `[channels_out, out_h, out_w]` block of the sample;
//! - weight gradient `dW[o, k] = Σ_n Σ_p dy[n][o, p] · cols[k, p]`: the output gradient is read
//!   in place (its `[channels_out, P]` block per sample is already the GEMM's left operand);
//! - input gradient `dcols = Wᵀ · dy[n]`, then col2im adds every column back where im2col read it.
//!
//! Samples run in parallel, each task with its own `cols` (for the guide's second convolution,
//! 288 × 121 floats: it stays in the core's L2 cache) and single-threaded GEMMs. An earlier
//! version laid the im2col of up to 2²⁰ elements of the batch side by side and ran one large
//! GEMM with the threads inside it, plus two copies swapping the batch and channel axes; at batch
//! 128 the buffers left the cache and each pass was 1.5–4× slower. The forward pass and the
//! input gradient compute every element with the same operations in the same order as that
//! version (checked bit for bit on the guide's shapes); the weight gradient's sum over the batch
//! is now grouped differently (see [`weight_grad_part_len`]).
//!
//! Every stride, dilation, padding (asymmetric included) and group count is covered. f32 and f64
//! run natively; f16 and bf16 go through f32.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::ops::ConvOptions;

use crate::FlexTensor;

use super::conv2d_columns::{col2im_sample, im2col_sample};
use super::conv2d_geometry::{Geometry, output_len};
use super::conv2d_taps::InputTaps;
use super::fma_chain_gemm;
use super::channel_sums::channel_sums;
use super::kernel_support::{KernelFloat, as_f32, as_f32_mut, build_in_chunks, into_tensor, with_float_dtype};
use super::transpose::transpose;

/// A GEMM smaller than this many multiply-adds runs on the calling thread.
#[cfg(feature = "rayon")]
const GEMM_PARALLEL_THRESHOLD: usize = 256 * 1024;

/// Samples whose weight-gradient contributions one task sums, at least.
const WEIGHT_GRAD_PART: usize = 8;

/// The most partial weight gradients kept at once (more samples per part above 8 · this batch).
const WEIGHT_GRAD_MAX_PARTS: usize = 64;

/// How many threads the per-sample loops run on.
fn threads() -> usize {
    #[cfg(feature = "rayon")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "rayon"))]
    1
}

/// Samples per partial weight gradient: a function of the batch alone, so that the order in which
/// the gradient is summed (parts in order, each its samples in order) and therefore its rounding do
/// not depend on how many threads run it.
fn weight_grad_part_len(batch: usize) -> usize {
    WEIGHT_GRAD_PART.max(batch.div_ceil(WEIGHT_GRAD_MAX_PARTS))
}

/// The GEMM's own threads: only when the samples alone do not occupy every thread (`parallel`)
/// and the product is large enough to pay for them.
fn gemm_parallelism(parallel: bool, m: usize, n: usize, k: usize) -> gemm::Parallelism {
    #[cfg(feature = "rayon")]
    if parallel && m.saturating_mul(n).saturating_mul(k) >= GEMM_PARALLEL_THRESHOLD {
        return gemm::Parallelism::Rayon(0);
    }
    let _ = (parallel, m, n, k);
    gemm::Parallelism::None
}

/// `dst[m×n] = (accumulate ? dst : 0) + lhs[m×k] · rhs[k×n]`, each operand given by its row and
/// column strides; `parallel`: whether the GEMM may use threads of its own.
#[allow(clippy::too_many_arguments)]
fn gemm_strided<T: KernelFloat>(
    parallel: bool,
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
    // `run` takes the product only where `fma_chain_gemm::applies` says so.
    if !parallel && rhs_cs == 1 {
        if let (Some(dst), Some(lhs), Some(rhs)) = (as_f32_mut(dst), as_f32(lhs), as_f32(rhs)) {
            let product = fma_chain_gemm::Product {
                m,
                n,
                k,
                dst,
                dst_row_stride,
                accumulate,
                lhs,
                lhs_at: fma_chain_gemm::LhsAt::Strided([lhs_rs, lhs_cs]),
                rhs,
                rhs_row_stride: rhs_rs,
            };
            if fma_chain_gemm::run(product) {
                return;
            }
        }
    }
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
            gemm_parallelism(parallel, m, n, k),
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
    let (group_rows, group_out, positions) = (g.group_rows(), g.group_channels_out(), g.positions());
    let len = g.channels_out * group_rows;
    let part_len = weight_grad_part_len(g.batch);
    let parts = g.batch.div_ceil(part_len);
    let gemm_threads = parts < threads();
    // `fma_chain_gemm` needs a contiguous right-hand operand: the output gradient transposed
    // (each part is then dWᵀ), or the im2col, whichever is smaller. The same chains either way.
    // (Transposing the output gradient where that fills the vectors better, as for the guide's
    // first convolution, 32 channels against 9 rows, was slower: 0.77 against 0.67 ms at batch
    // 128, the 9 rows run as tiles of 4, 4 and 1.)
    let transposed = (g.groups == 1
        && !gemm_threads
        && as_f32(output_grad).is_some()
        && fma_chain_gemm::applies(group_rows, group_out, positions))
    .then_some(if g.channels_out <= group_rows {
        Transposed::OutputGrad
    } else {
        Transposed::Cols
    });
    let t_len = transposed.map_or(0, |_| g.channels_out.min(group_rows) * positions);
    // With the output gradient transposed, the taps can be read from the input (no im2col).
    let taps = match (transposed, as_f32(x)) {
        (Some(Transposed::OutputGrad), Some(x)) => InputTaps::new(&g).map(|taps| (taps, x)),
        _ => None,
    };
    let cols_len = if taps.is_some() { 0 } else { g.cols_len() };
    // parts[i] = Σ over samples i·part_len.. of dy[n] · cols(n)ᵀ, each sample in order.
    let partial = build_in_chunks(parts * len, len, cols_len + t_len, |part, weight_grad, scratch| {
        let (cols, t) = scratch.split_at_mut(cols_len);
        let samples = part * part_len..((part + 1) * part_len).min(g.batch);
        let first = samples.start;
        for sample in samples {
            let dy = &output_grad[sample * g.channels_out * positions..][..g.channels_out * positions];
            if taps.is_none() {
                im2col_sample(x, &g, sample, cols);
            }
            match transposed {
                Some(Transposed::OutputGrad) => {
                    transpose(dy, g.channels_out, positions, t);
                    if let Some((taps, x)) = &taps {
                        let (t, weight_grad) = (as_f32(t).expect("f32"), as_f32_mut(weight_grad).expect("f32"));
                        taps.weight_gradient_sample(x, sample, t, sample > first, weight_grad);
                        continue;
                    }
                    // dWᵀ[k, o] (+)= Σ_p cols[k, p] · dy[n][o, p]
                    let operands = (&*cols, [positions, 1], &*t, [group_out, 1]);
                    let (lhs, lhs_strides, rhs, rhs_strides) = operands;
                    let shape = [group_rows, group_out, positions];
                    gemm_strided(false, shape, weight_grad, group_out, sample > first, lhs, lhs_strides, rhs, rhs_strides);
                    continue;
                }
                Some(Transposed::Cols) => {
                    transpose(cols, group_rows, positions, t);
                    // dW[o, k] (+)= Σ_p dy[n][o, p] · colsᵀ[p, k]
                    let shape = [group_out, group_rows, positions];
                    gemm_strided(false, shape, weight_grad, group_rows, sample > first, dy, [positions, 1], t, [group_rows, 1]);
                    continue;
                }
                None => {}
            }
            for group in 0..g.groups {
                // dW[o, k] (+)= Σ_p dy[n][o, p] · cols[k, p]
                gemm_strided(
                    gemm_threads,
                    [group_out, group_rows, positions],
                    &mut weight_grad[group * group_out * group_rows..],
                    group_rows,
                    sample > first,
                    &dy[group * group_out * positions..],
                    [positions, 1],
                    &cols[group * group_rows * positions..],
                    [1, positions],
                );
            }
        }
    });
    // The parts added in order.
    let mut chunks = partial.chunks_exact(len.max(1));
    let mut weight_grad = chunks.next().map_or_else(|| vec![T::zero(); len], <[T]>::to_vec);
    for part in chunks {
        for (total, &value) in weight_grad.iter_mut().zip(part) {
            *total = *total + value;
        }
    }
    if transposed == Some(Transposed::OutputGrad) {
        let mut untransposed = vec![T::zero(); len];
        transpose(&weight_grad, group_rows, g.channels_out, &mut untransposed);
        weight_grad = untransposed;
    }
    into_tensor(weight_grad, weight_shape.to_vec())
}

/// Which operand of the weight gradient's products is transposed for `fma_chain_gemm`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transposed {
    OutputGrad,
    Cols,
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
    let gemm_threads = g.batch < threads();
    let x_grad = build_in_chunks(g.batch * g.channels_in * plane, g.channels_in * plane, g.cols_len(), |sample, dst, dcols| {
        let dy = &output_grad[sample * g.channels_out * positions..][..g.channels_out * positions];
        for group in 0..g.groups {
            // dcols[k, p] = Σ_o W[o, k] · dy[n][o, p]
            gemm_strided(
                gemm_threads,
                [group_rows, positions, group_out],
                &mut dcols[group * group_rows * positions..],
                positions,
                false,
                &weight[group * group_out * group_rows..],
                [1, group_rows],
                &dy[group * group_out * positions..],
                [positions, 1],
            );
        }
        col2im_sample(&g, dcols, dst);
    });
    into_tensor(x_grad, x_shape.to_vec())
}

fn bias_backward_typed<T: KernelFloat>(output_grad: &FlexTensor, bias_shape: &[usize]) -> FlexTensor {
    let shape = output_grad.layout().shape();
    let (batch, channels) = (shape[0], shape[1]);
    let positions: usize = shape[2..].iter().product();
    let grad = channel_sums(output_grad.storage::<T>(), [batch, channels, positions]);
    into_tensor(grad, bias_shape.to_vec())
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
    let gemm_threads = g.batch < threads();
    let direct = match (as_f32(x), as_f32(weight)) {
        (Some(x), Some(w)) if !gemm_threads => {
            let taps = InputTaps::new(&g).filter(InputTaps::forward_applies);
            taps.map(|taps| {
                let weight_t = taps.forward_weight(w);
                (taps, x, weight_t, bias.and_then(as_f32))
            })
        }
        _ => None,
    };
    let scratch_len = direct.as_ref().map_or(g.cols_len(), |(taps, ..)| taps.forward_scratch_len());
    let output = build_in_chunks(g.batch * g.channels_out * positions, g.channels_out * positions, scratch_len, |sample, y, cols| {
        if let Some((taps, x, weight_t, bias)) = &direct {
            let (y, scratch) = (as_f32_mut(y).expect("f32"), as_f32_mut(cols).expect("f32"));
            taps.forward_sample([x, weight_t], *bias, sample, y, scratch);
            return;
        }
        im2col_sample(x, &g, sample, cols);
        for group in 0..g.groups {
            // y[n][o, p] = Σ_k W[o, k] · cols[k, p]
            gemm_strided(
                gemm_threads,
                [group_out, positions, group_rows],
                &mut y[group * group_out * positions..],
                positions,
                false,
                &weight[group * group_out * group_rows..],
                [group_rows, 1],
                &cols[group * group_rows * positions..],
                [positions, 1],
            );
        }
        if let Some(bias) = bias {
            for (channel, y) in y.chunks_exact_mut(positions).enumerate() {
                for value in y {
                    *value = *value + bias[channel];
                }
            }
        }
    });
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
    use super::{Geometry, InputTaps, forward_typed, im2col_sample, into_tensor, weight_backward_typed, weight_grad_part_len};
    use crate::ops::fma_chain_gemm;
    use crate::ops::kernel_support::has_avx512;
    use burn_backend::ops::ConvOptions;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len).map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0).collect()
    }

    /// The forward convolution with its taps read from the input gives the im2col GEMM's bits
    /// (im2col, gemm's product, then the bias), on the guide's second convolution and on a dilated
    /// rectangular kernel, with and without a bias.
    #[test]
    fn direct_taps_give_the_im2col_products_bits() {
        if !has_avx512() {
            return;
        }
        let cases = [([4, 32, 13, 13], [64, 32, 3, 3], [1, 1], true), ([3, 6, 12, 17], [5, 6, 2, 4], [2, 3], false)];
        for (x_shape, w_shape, dilation, with_bias) in cases {
            let options = ConvOptions::new([1, 1], [0, 0], dilation, 1);
            let out_hw = [0, 1].map(|a| x_shape[2 + a] - dilation[a] * (w_shape[2 + a] - 1));
            let out_shape = [x_shape[0], w_shape[0], out_hw[0], out_hw[1]];
            let g = Geometry::new(&x_shape, &w_shape, &out_shape, &options);
            let x = values(x_shape.iter().product(), 1);
            let w = values(w_shape.iter().product(), 2);
            let b = values(w_shape[0], 3);
            assert!(InputTaps::new(&g).is_some_and(|taps| taps.forward_applies()), "{x_shape:?} {w_shape:?}");
            let tensor = |data: &[f32], shape: &[usize]| into_tensor(data.to_vec(), shape.to_vec());
            let b_tensor = tensor(&b, &[w_shape[0]]);
            let ours = forward_typed::<f32>(&tensor(&x, &x_shape), &tensor(&w, &w_shape), with_bias.then_some(&b_tensor), &options);
            let ours = ours.storage::<f32>();
            let (rows, positions) = (g.rows(), g.positions());
            let mut cols = vec![0.0f32; g.cols_len()];
            for sample in 0..g.batch {
                im2col_sample(&x, &g, sample, &mut cols);
                let mut y = vec![0.0f32; g.channels_out * positions];
                // SAFETY: row-major operands of exactly these extents.
                unsafe {
                    gemm::gemm(
                        g.channels_out, positions, rows, y.as_mut_ptr(), 1, positions as isize, false,
                        w.as_ptr(), 1, rows as isize, cols.as_ptr(), 1, positions as isize,
                        1.0f32, 1.0f32, false, false, false, gemm::Parallelism::None,
                    );
                }
                if with_bias {
                    for (channel, y) in y.chunks_exact_mut(positions).enumerate() {
                        y.iter_mut().for_each(|v| *v = *v + b[channel]);
                    }
                }
                let expected: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
                let got: Vec<u32> = ours[sample * y.len()..][..y.len()].iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, expected, "{x_shape:?} {w_shape:?}, sample {sample}");
            }
        }
    }

    /// The weight gradient with its taps read from the input gives the im2col GEMM's bits: per
    /// part of `weight_grad_part_len` samples, each sample's product (gemm's chains over the
    /// positions) added in order, then the parts in order.
    #[test]
    fn direct_taps_give_the_im2col_weight_gradients_bits() {
        if !has_avx512() {
            return;
        }
        for (x_shape, w_shape, dilation) in [([20, 32, 13, 13], [64, 32, 3, 3], [1, 1]), ([9, 6, 12, 17], [9, 6, 2, 4], [2, 3])] {
            let options = ConvOptions::new([1, 1], [0, 0], dilation, 1);
            let g = Geometry::new(&x_shape, &w_shape, &output_shape(x_shape, w_shape, dilation), &options);
            let direct = InputTaps::new(&g).is_some() && fma_chain_gemm::applies(g.rows(), g.channels_out, g.positions());
            assert!(direct, "{x_shape:?} {w_shape:?}");
            assert_weight_gradient_is_gemms(x_shape, w_shape, dilation);
        }
    }

    /// The first convolution's weight gradient (more output channels than im2col rows, so the
    /// im2col is transposed) gives gemm's bits too.
    #[test]
    fn the_first_convolutions_weight_gradient_gives_gemms_bits() {
        if has_avx512() {
            assert_weight_gradient_is_gemms([20, 1, 28, 28], [32, 1, 3, 3], [1, 1]);
        }
    }

    fn output_shape(x_shape: [usize; 4], w_shape: [usize; 4], dilation: [usize; 2]) -> [usize; 4] {
        let out_hw = [0, 1].map(|a| x_shape[2 + a] - dilation[a] * (w_shape[2 + a] - 1));
        [x_shape[0], w_shape[0], out_hw[0], out_hw[1]]
    }

    /// `weight_backward_typed` against gemm on each sample's im2col, summed in the same parts, bit
    /// for bit (unit stride, no padding).
    fn assert_weight_gradient_is_gemms(x_shape: [usize; 4], w_shape: [usize; 4], dilation: [usize; 2]) {
        let options = ConvOptions::new([1, 1], [0, 0], dilation, 1);
        let out_shape = output_shape(x_shape, w_shape, dilation);
        let g = Geometry::new(&x_shape, &w_shape, &out_shape, &options);
        let x = values(x_shape.iter().product(), 4);
        let dy = values(out_shape.iter().product(), 5);
        let tensor = |data: &[f32], shape: &[usize]| into_tensor(data.to_vec(), shape.to_vec());
        let ours = weight_backward_typed::<f32>(&tensor(&x, &x_shape), &tensor(&dy, &out_shape), &w_shape, &options);
        let (rows, positions, out) = (g.rows(), g.positions(), g.channels_out);
        let mut cols = vec![0.0f32; g.cols_len()];
        let mut total: Option<Vec<f32>> = None;
        for part in (0..g.batch).collect::<Vec<_>>().chunks(weight_grad_part_len(g.batch)) {
            let mut grad = vec![0.0f32; rows * out]; // dWᵀ[k, o]
            for (i, &sample) in part.iter().enumerate() {
                im2col_sample(&x, &g, sample, &mut cols);
                let dy = &dy[sample * out * positions..][..out * positions];
                // SAFETY: operands of exactly these extents; dy read transposed.
                unsafe {
                    gemm::gemm(
                        rows, out, positions, grad.as_mut_ptr(), 1, out as isize, i > 0,
                        cols.as_ptr(), 1, positions as isize, dy.as_ptr(), positions as isize, 1,
                        1.0f32, 1.0f32, false, false, false, gemm::Parallelism::None,
                    );
                }
            }
            match &mut total {
                None => total = Some(grad),
                Some(total) => total.iter_mut().zip(&grad).for_each(|(t, &v)| *t = *t + v),
            }
        }
        let total = total.expect("a batch");
        let expected: Vec<u32> = (0..out * rows).map(|i| total[(i % rows) * out + i / rows].to_bits()).collect();
        let got: Vec<u32> = ours.storage::<f32>().iter().map(|v| v.to_bits()).collect();
        assert_eq!(got, expected, "{x_shape:?} {w_shape:?}");
    }
}
