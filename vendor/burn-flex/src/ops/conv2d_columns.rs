//! The im2col layout of one sample: its input copied into columns (`cols[k, p]`, one row per input
//! channel and kernel tap, one column per output position), and columns added back into an input
//! gradient.

use super::conv2d_geometry::{Geometry, valid_range};
use super::kernel_support::KernelFloat;

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
/// zeroed) where im2col read it, one input plane at a time, its taps in order.
///
/// Tried and not kept (same bits, the guide's second convolution at batch 128): each run of 11
/// columns added 16 lanes at a time with AVX-512 was slower (5.1–5.5 against 4.3–4.9 ms: the next
/// tap's run, one column over, reloads the vector just stored, which cannot be forwarded), and
/// a row kept in registers across a kernel row's taps was no faster than this loop.
pub(super) fn col2im_sample<T: KernelFloat>(g: &Geometry, dcols: &[T], dst: &mut [T]) {
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
