//! The im2col layout of one sample: its input copied into columns (`cols[k, p]`, one row per input
//! channel and kernel tap, one column per output position), and columns added back into an input
//! gradient.

use super::conv2d_geometry::{Geometry, valid_range};
use super::kernel_support::{KernelFloat, as_f32, as_f32_mut};

/// im2col of one sample into `cols[k, p]`. Positions no tap reaches (padding) are not written:
/// they are the same for every sample of one geometry, so a buffer zeroed once and reused for
/// the samples of one convolution keeps them zero.
pub(super) fn im2col_sample<T: KernelFloat>(x: &[T], geometry: &Geometry, sample: usize, cols: &mut [T]) {
    let g = geometry;
    let positions = g.positions();
    if positions == 0 {
        return;
    }
    let plane = g.in_h * g.in_w;
    for (row, dst) in cols.chunks_exact_mut(positions).enumerate().take(g.rows()) {
        let (channel, kh, kw) = g.tap(row);
        let offset_h = (kh * g.dilation[0]) as isize - g.padding[0] as isize;
        let offset_w = (kw * g.dilation[1]) as isize - g.padding[1] as isize;
        let (oh_first, oh_end) = valid_range(g.out_h, g.in_h, g.stride[0], offset_h);
        let (ow_first, ow_end) = valid_range(g.out_w, g.in_w, g.stride[1], offset_w);
        let source = &x[(sample * g.channels_in + channel) * plane..][..plane];
        for oh in oh_first..oh_end {
            let ih = (oh * g.stride[0]) as isize + offset_h;
            let source_row = &source[ih as usize * g.in_w..][..g.in_w];
            let dst_row = &mut dst[oh * g.out_w..][..g.out_w];
            if g.stride[1] == 1 {
                let iw = (ow_first as isize + offset_w) as usize;
                dst_row[ow_first..ow_end].copy_from_slice(&source_row[iw..iw + (ow_end - ow_first)]);
                continue;
            }
            for ow in ow_first..ow_end {
                let iw = (ow * g.stride[1]) as isize + offset_w;
                dst_row[ow] = source_row[iw as usize];
            }
        }
    }
}

/// col2im of one sample: adds every column of `dcols` back into `dst` (the sample's input gradient,
/// zeroed) where im2col read it, one input plane at a time, its taps in order. Each element of
/// `dst` gets its taps' values added in tap order; [`col2im_rows`] adds them in that order too.
///
/// Earlier attempts (same bits, the guide's second convolution at batch 128): each run of 11
/// columns added 16 lanes at a time with AVX-512 was slower (5.1–5.5 against 4.3–4.9 ms: the next
/// tap's run, one column over, reloads the vector just stored, which cannot be forwarded), and
/// one row kept in a register across a kernel row's three taps was no faster than this loop (one
/// chain of dependent additions). [`col2im_rows`] keeps a row across all nine taps, four channels
/// side by side: 11.8 → 4.5 µs a sample timed alone.
pub(super) fn col2im_sample<T: KernelFloat>(g: &Geometry, dcols: &[T], dst: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if let (Some(dcols), Some(dst)) = (as_f32(dcols), as_f32_mut(&mut *dst))
        && col2im_rows::applies(g)
    {
        // SAFETY: `applies` checked that the CPU has AVX-512F and that a row fits one vector.
        return unsafe { col2im_rows::col2im_sample(g, dcols, dst) };
    }
    col2im_scalar(g, dcols, dst);
}

/// [`col2im_sample`] one element at a time, for every geometry: each tap's run added into `dst`.
fn col2im_scalar<T: KernelFloat>(g: &Geometry, dcols: &[T], dst: &mut [T]) {
    let (plane, positions, taps) = (g.in_h * g.in_w, g.positions(), g.kernel_h * g.kernel_w);
    for (channel, dst) in dst.chunks_exact_mut(plane).enumerate() {
        for tap in 0..taps {
            let (_, kh, kw) = g.tap(tap);
            let offset_h = (kh * g.dilation[0]) as isize - g.padding[0] as isize;
            let offset_w = (kw * g.dilation[1]) as isize - g.padding[1] as isize;
            let (oh_first, oh_end) = valid_range(g.out_h, g.in_h, g.stride[0], offset_h);
            let (ow_first, ow_end) = valid_range(g.out_w, g.in_w, g.stride[1], offset_w);
            let source = &dcols[(channel * taps + tap) * positions..][..positions];
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
    }
}

/// col2im for unit stride and dilation, no padding and input rows of at most 16 (the guide's
/// second convolution: 13), with AVX-512: each input row of four channels is held in four
/// registers while the nine taps' columns are added to it, in tap order, then stored once. The
/// scalar loop ([`col2im_scalar`]) adds each tap's run of 11 into memory and reloads it for the
/// next tap; here the four channels' additions are independent chains. Every element gets the
/// same values added in the same order, starting from what `dst` holds, so the bits are the
/// scalar loop's.
#[cfg(target_arch = "x86_64")]
mod col2im_rows {
    use core::arch::x86_64::*;

    use super::Geometry;
    use crate::ops::kernel_support::has_avx512;

    /// Input channels whose rows are summed side by side.
    const SIDE_BY_SIDE: usize = 4;

    pub(super) fn applies(g: &Geometry) -> bool {
        g.stride == [1, 1] && g.dilation == [1, 1] && g.padding == [0, 0] && g.in_w <= 16 && g.out_w >= 1 && g.out_h >= 1 && has_avx512()
    }

    /// # Safety
    /// The CPU has AVX-512F and [`applies`] holds for `g`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn col2im_sample(g: &Geometry, dcols: &[f32], dst: &mut [f32]) {
        let plane = g.in_h * g.in_w;
        let channels = dst.len() / plane;
        assert_eq!(dcols.len(), channels * g.kernel_h * g.kernel_w * g.positions(), "col2im_rows: dcols of one sample");
        let mut first = 0;
        while first + SIDE_BY_SIDE <= channels {
            // SAFETY: as this function's.
            unsafe { channel_rows::<SIDE_BY_SIDE>(g, first, dcols, dst) };
            first += SIDE_BY_SIDE;
        }
        for channel in first..channels {
            // SAFETY: as this function's.
            unsafe { channel_rows::<1>(g, channel, dcols, dst) };
        }
    }

    /// Rows of channels `first..first + C`, each accumulated in a register over the taps.
    #[target_feature(enable = "avx512f")]
    unsafe fn channel_rows<const C: usize>(g: &Geometry, first: usize, dcols: &[f32], dst: &mut [f32]) {
        let (plane, positions, taps) = (g.in_h * g.in_w, g.positions(), g.kernel_h * g.kernel_w);
        let (in_w, out_w) = (g.in_w, g.out_w);
        let row_mask = ((1u32 << in_w) - 1) as __mmask16;
        let run_mask = (1u32 << out_w) - 1;
        for ih in 0..g.in_h {
            let mut rows = [_mm512_setzero_ps(); C];
            for (c, row) in rows.iter_mut().enumerate() {
                let at = (first + c) * plane + ih * in_w;
                let dst_row = &dst[at..at + in_w];
                // SAFETY: the mask covers the row's `in_w` elements, all inside `dst_row`.
                *row = unsafe { _mm512_maskz_loadu_ps(row_mask, dst_row.as_ptr()) };
            }
            for tap in 0..taps {
                let (_, kh, kw) = g.tap(tap);
                let Some(oh) = ih.checked_sub(kh).filter(|&oh| oh < g.out_h) else {
                    continue;
                };
                // Lanes kw..kw + out_w (input columns) take the run's out_w output columns.
                let mask = (run_mask << kw) as __mmask16;
                for (c, row) in rows.iter_mut().enumerate() {
                    let run = &dcols[((first + c) * taps + tap) * positions + oh * out_w..][..out_w];
                    // SAFETY: lane kw + j reads run[j] for j < out_w, inside `run`; the lanes
                    // below kw (before the run's start) are masked off and not read.
                    let values = unsafe { _mm512_maskz_loadu_ps(mask, run.as_ptr().wrapping_sub(kw)) };
                    *row = _mm512_mask_add_ps(*row, mask, *row, values);
                }
            }
            for (c, row) in rows.iter().enumerate() {
                let at = (first + c) * plane + ih * in_w;
                let dst_row = &mut dst[at..at + in_w];
                // SAFETY: the mask covers the row's `in_w` elements, all inside `dst_row`.
                unsafe { _mm512_mask_storeu_ps(dst_row.as_mut_ptr(), row_mask, *row) };
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use alloc::vec::Vec;
        use burn_backend::ops::ConvOptions;

        use super::super::{Geometry, col2im_scalar};
        use super::*;

        /// The rows give the scalar loop's bits, the guide's shape among others.
        #[test]
        fn rows_in_registers_give_the_scalar_loops_bits() {
            if !has_avx512() {
                return;
            }
            let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
            // The guide's second convolution, channel counts with and without a remainder of
            // the four side by side, rows of 1 to 16, kernels of 1 to 5.
            for (channels, kernel, size) in [(32, 3, 13), (1, 3, 13), (3, 3, 5), (6, 2, 16), (5, 5, 9), (4, 1, 7), (2, 3, 3), (7, 4, 4)] {
                let g = Geometry::new(&[1, channels, size, size], &[2, channels, kernel, kernel], &[1, 2, size - kernel + 1, size - kernel + 1], &options);
                assert!(applies(&g));
                let len = channels * kernel * kernel * g.positions();
                // Mixed magnitudes (another order of the additions rounds differently) and −0.0.
                let dcols: Vec<f32> = (0..len)
                    .map(|i| if i % 11 == 0 { -0.0 } else { ((i * 7919 % 1000) as f32 - 500.0) * [1e-3, 1.0, 1e3][i % 3] })
                    .collect();
                // A destination that is not zero: the rows add to what it holds.
                let start: Vec<f32> = (0..channels * size * size).map(|i| if i % 5 == 0 { 0.0 } else { i as f32 * 0.25 - 7.0 }).collect();
                let mut expected = start.clone();
                col2im_scalar(&g, &dcols, &mut expected);
                let mut rows = start.clone();
                // SAFETY: the CPU has AVX-512F and `applies` held.
                unsafe { col2im_sample(&g, &dcols, &mut rows) };
                let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&rows), bits(&expected), "{channels} channels, {kernel}×{kernel} kernel, {size}×{size} input");
            }
        }
    }
}
