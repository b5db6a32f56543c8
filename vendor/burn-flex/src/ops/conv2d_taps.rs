//! A convolution's kernel taps read straight from its input, for the products that can do without
//! an im2col copy.

use alloc::vec::Vec;

use super::conv2d_geometry::{Geometry, output_len};
use super::fma_chain_gemm;

/// The kernel taps of a convolution with unit stride and no padding, read straight from its
/// input instead of an im2col copy.
///
/// The im2col row of tap `(c, kh, kw)` is then input plane `c` shifted by `kh·dh` rows and `kw·dw`
/// columns: output `(oh, ow)` reads the flattened plane at `oh·in_w + ow` from the tap's offset.
///
/// - Forward: computing the product over every flattened position from the first output's to the
///   last's, `span = (out_h − 1)·in_w + out_w` columns (the `in_w − out_w` between two output rows
///   included), makes each tap's row one contiguous run of the input, which `fma_chain_gemm` reads
///   at the tap's offset. The extra columns are dropped when the result is copied into the output,
///   with the bias. That copy is `channels_out × positions` per sample where the im2col it replaces
///   is `rows × positions`, so the path is taken only for fewer output channels than rows: the
///   guide's second convolution (64 against 288; 4.4 → 3.6 ms at batch 128, medians of five
///   interleaved profiles), not its first (32 against 9).
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
    span: usize,
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
        let span = (g.out_h - 1) * g.in_w + g.out_w;
        Some(Self { geometry: *g, offsets, positions, span })
    }

    fn sample_len(&self) -> usize {
        let g = &self.geometry;
        g.channels_in * g.in_h * g.in_w
    }

    /// Whether `fma_chain_gemm` takes the forward product over the span.
    pub(super) fn forward_applies(&self) -> bool {
        let g = &self.geometry;
        fma_chain_gemm::applies(g.channels_out, self.span, g.rows())
    }

    /// Scratch per task for [`Self::forward_sample`]: one sample's result over the span.
    pub(super) fn forward_scratch_len(&self) -> usize {
        self.geometry.channels_out * self.span
    }

    /// `y` (one sample's output) from the sample's input, through `scratch`.
    pub(super) fn forward_sample(&self, [x, weight]: [&[f32]; 2], bias: Option<&[f32]>, sample: usize, y: &mut [f32], scratch: &mut [f32]) {
        let g = &self.geometry;
        let ran = fma_chain_gemm::run(fma_chain_gemm::Product {
            m: g.channels_out,
            n: self.span,
            k: g.rows(),
            dst: scratch,
            dst_row_stride: self.span,
            accumulate: false,
            lhs: weight,
            lhs_at: fma_chain_gemm::LhsAt::Strided([g.rows(), 1]),
            rhs: &x[sample * self.sample_len()..][..self.sample_len()],
            rhs_rows: fma_chain_gemm::RhsRows::At(&self.offsets),
        });
        assert!(ran, "fma_chain_gemm takes the products `forward_applies` accepted");
        for (channel, (y, result)) in y.chunks_exact_mut(g.positions()).zip(scratch.chunks(self.span)).enumerate() {
            let bias = bias.map(|bias| bias[channel]);
            for (y, result) in y.chunks_exact_mut(g.out_w).zip(result.chunks(g.in_w)) {
                match bias {
                    // The im2col path stores the product, then adds the bias: the same one rounding.
                    Some(bias) => y.iter_mut().zip(result).for_each(|(y, &r)| *y = r + bias),
                    None => y.copy_from_slice(&result[..g.out_w]),
                }
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
            rhs_rows: fma_chain_gemm::RhsRows::Strided(g.channels_out),
        });
        assert!(ran, "fma_chain_gemm takes the products the weight gradient's transposed path was chosen for");
    }
}
