//! A convolution's kernel taps read straight from its input, for the products that can do without
//! an im2col copy.

use alloc::vec;
use alloc::vec::Vec;

use super::conv2d_geometry::{Geometry, output_len};
use super::fma_chain_gemm;
use super::transpose::transpose;

/// The kernel taps of a convolution with unit stride and no padding, read straight from its
/// input instead of an im2col copy.
///
/// The im2col row of tap `(c, kh, kw)` is then input plane `c` shifted by `kh·dh` rows and `kw·dw`
/// columns: output `(oh, ow)` reads the flattened plane at `oh·in_w + ow` from the tap's offset.
///
/// - Forward (`yᵀ = colsᵀ · Wᵀ` per sample): the left-hand operand `cols[k, p]` is read at
///   `position offset + tap offset` (`LhsAt::Tabled`), the output positions as the product's rows
///   and the output channels as its columns, then the result is transposed into the output, with
///   the bias. That copy is `channels_out × positions` per sample where the im2col it replaces is
///   `rows × positions`, so the path is taken only for fewer output channels than rows: the
///   guide's second convolution (64 against 288), not its first (32 against 9). A first version
///   computed `W · cols` over every flattened position from the first output's to the last's (the
///   `in_w − out_w` columns between two output rows included, each tap's row one contiguous run
///   of the input): 4.4 → 3.6 ms against the im2col at batch 128, but 141 columns, run as 144, for
///   121 outputs. With the positions as rows, the 64 channels fill four vectors and every row is
///   an output: 3.80 → 3.48 ms at batch 128 (medians of four interleaved profiles).
/// - Weight gradient (`dWᵀ = cols · dyᵀ` per sample): the left-hand operand `cols[k, p]` is read
///   at `tap offset + position offset` (`LhsAt::Tabled`), the output positions only, so nothing is
///   copied: 4.7 → 3.6 ms at batch 128 (medians of ten interleaved profiles).
///
/// Each result is the same chain of the same products in the same order as with the im2col, so
/// no bit changes.
pub(super) struct InputTaps {
    geometry: Geometry,
    /// Where each im2col row (tap) starts in a sample's input.
    offsets: Vec<usize>,
    /// Where each output position reads a tap's row, from the tap's offset.
    positions: Vec<usize>,
}

impl InputTaps {
    pub(super) fn new(g: &Geometry) -> Option<Self> {
        // No padding at either end: the output is what the unpadded input gives.
        let unpadded = g.padding == [0, 0]
            && g.out_h == output_len(g.in_h, g.kernel_h, 1, (0, 0), g.dilation[0])
            && g.out_w == output_len(g.in_w, g.kernel_w, 1, (0, 0), g.dilation[1]);
        if g.groups != 1 || g.stride != [1, 1] || !unpadded || g.channels_out >= g.rows() || g.positions() == 0 {
            return None;
        }
        let offsets = (0..g.rows())
            .map(|row| {
                let (channel, kh, kw) = g.tap(row);
                channel * g.in_h * g.in_w + kh * g.dilation[0] * g.in_w + kw * g.dilation[1]
            })
            .collect();
        let positions = (0..g.positions()).map(|p| p / g.out_w * g.in_w + p % g.out_w).collect();
        Some(Self { geometry: *g, offsets, positions })
    }

    fn sample_len(&self) -> usize {
        let g = &self.geometry;
        g.channels_in * g.in_h * g.in_w
    }

    /// Whether `fma_chain_gemm` takes the forward product (positions × output channels).
    pub(super) fn forward_applies(&self) -> bool {
        let g = &self.geometry;
        fma_chain_gemm::applies(g.positions(), g.channels_out, g.rows())
    }

    /// The forward product's right-hand operand, the weight transposed: `Wᵀ[k, o]`.
    pub(super) fn forward_weight(&self, weight: &[f32]) -> Vec<f32> {
        let g = &self.geometry;
        let mut weight_t = vec![0.0; g.rows() * g.channels_out];
        transpose(weight, g.channels_out, g.rows(), &mut weight_t);
        weight_t
    }

    /// Scratch per task for [`Self::forward_sample`]: one sample's result, transposed.
    pub(super) fn forward_scratch_len(&self) -> usize {
        self.geometry.positions() * self.geometry.channels_out
    }

    /// `y` (one sample's output) from the sample's input and [`Self::forward_weight`], through
    /// `scratch`.
    pub(super) fn forward_sample(&self, [x, weight_t]: [&[f32]; 2], bias: Option<&[f32]>, sample: usize, y: &mut [f32], scratch: &mut [f32]) {
        let g = &self.geometry;
        // yᵀ[p, o] = Σ_k x[n][position p + tap k] · Wᵀ[k, o]: each element the chain of `W · cols`
        // (the same products in the same order, each started from zero), so the same bits.
        let ran = fma_chain_gemm::run(fma_chain_gemm::Product {
            m: g.positions(),
            n: g.channels_out,
            k: g.rows(),
            dst: scratch,
            dst_row_stride: g.channels_out,
            accumulate: false,
            lhs: &x[sample * self.sample_len()..][..self.sample_len()],
            lhs_at: fma_chain_gemm::LhsAt::Tabled { rows: &self.positions, depths: &self.offsets },
            rhs: weight_t,
            rhs_row_stride: g.channels_out,
        });
        assert!(ran, "fma_chain_gemm takes the products `forward_applies` accepted");
        transpose(scratch, g.positions(), g.channels_out, y);
        if let Some(bias) = bias {
            // The im2col path stores the product, then adds the bias: the same one rounding.
            for (y, &bias) in y.chunks_exact_mut(g.positions()).zip(bias) {
                y.iter_mut().for_each(|y| *y = *y + bias);
            }
        }
    }

    /// Adds one sample's weight gradient, `dWᵀ[k, o] (+)= Σ_p x[n][tap k + position p] · dy[n][o, p]`,
    /// into `weight_grad` (`accumulate`: add to what it holds), from the output gradient transposed
    /// (`dy_t[p, o]`).
    pub(super) fn weight_gradient_sample(&self, x: &[f32], sample: usize, dy_t: &[f32], accumulate: bool, weight_grad: &mut [f32]) {
        let g = &self.geometry;
        let ran = fma_chain_gemm::run(fma_chain_gemm::Product {
            m: g.rows(),
            n: g.channels_out,
            k: g.positions(),
            dst: weight_grad,
            dst_row_stride: g.channels_out,
            accumulate,
            lhs: &x[sample * self.sample_len()..][..self.sample_len()],
            lhs_at: fma_chain_gemm::LhsAt::Tabled { rows: &self.offsets, depths: &self.positions },
            rhs: dy_t,
            rhs_row_stride: g.channels_out,
        });
        assert!(ran, "fma_chain_gemm takes the products the weight gradient's transposed path was chosen for");
    }
}
