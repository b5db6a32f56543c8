//! BatchNorm's training passes over a convolution's f32 activation on CPUs with AVX-512: each
//! task takes four channels, sums what their statistics (forward) or their gradients (backward)
//! need, then writes those channels' output (or input gradient) while their values are still in
//! the core's caches.
//!
//! `batch_norm.rs`'s generic passes compute the same sums through a closure per element. Compiled
//! for AVX-512 they kept accumulators on the stack and reloaded the per-channel shift for every
//! vector, and their output pass ran four lanes wide: the guide's first BatchNorm at batch 128
//! (11 MB) took 0.66 ms forward and 1.2 ms backward, far from what reading and writing it costs.
//! Here every channel's eight f64 lanes are one register, the terms are computed in vectors, and
//! the output is written sixteen values at a time.
//!
//! Every value is what the generic passes give, bit for bit: each sum adds the same terms in the
//! same order (element `i` of a run into lane `i % 8`, a run's last `run % 8` elements into a
//! scalar tail, the lanes then added in order and the tail last), each term is the same f64
//! operations (Rust never fuses a multiply and an add), and each output element the same f32
//! `scale · (x − shift) + offset (+ y_scale · y)`, with the coefficients the caller computes.

use alloc::vec;
use alloc::vec::Vec;

use super::kernel_support::{for_each_chunk, has_avx512};

/// Channels one task sums side by side: independent chains of additions, none waiting on another.
/// Fewer, so that a group of the guide's first BatchNorm at batch 128 fits the core's L2 cache
/// (one channel, 346 KB), made its step slower: a channel's eight lanes are then one chain of
/// additions, each waiting on the one before.
const GROUP: usize = 4;

/// An output element's map from `x` (and `y`): `[shift, scale, offset, y_scale]` of
/// `scale · (x − shift) + offset + y_scale · y`.
pub(super) type Coefficients = [f32; 4];

/// The activation's axes: `[batch, channels, run]`, a channel's values being `batch` runs of
/// `run` contiguous elements.
pub(super) type Axes = [usize; 3];

/// The batch's statistics and the normalized output: `coefficients(channel, mean, variance)` maps
/// each channel's `x` to its output (`y_scale` unused). Returns the output and each channel's
/// `[mean, variance]` (biased), or `None` where the CPU has no AVX-512.
pub(super) fn train(
    x: &[f32],
    axes: Axes,
    coefficients: impl Fn(usize, f64, f64) -> Coefficients + Sync,
) -> Option<(Vec<f32>, Vec<[f64; 2]>)> {
    if !has_avx512() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        Some(in_groups(x, None, axes, |group, statistics: &mut [[f64; 2]]| {
            // SAFETY: the CPU has AVX-512F; `in_groups` checked the slices against the axes and
            // gives each task its own channels of the output.
            unsafe { avx512::forward_group(group, statistics, &coefficients) }
        }))
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("AVX-512 detected off x86-64")
}

/// The input gradient, from the forward pass's `mean` and `inv_std` (1 / √(variance + ε)) and the
/// output gradient `dy`: `coefficients(channel, Σ dy, Σ x̂ · dy)` maps each channel's `x` and `dy`
/// to its input gradient, with x̂ = (x − mean) · inv_std. Returns the input gradient and each
/// channel's `[Σ dy, Σ x̂ · dy]` (β's and γ's gradients), or `None` where the CPU has no AVX-512.
pub(super) fn train_backward(
    x: &[f32],
    dy: &[f32],
    axes: Axes,
    mean: &[f64],
    inv_std: &[f64],
    coefficients: impl Fn(usize, f64, f64) -> Coefficients + Sync,
) -> Option<(Vec<f32>, Vec<[f64; 2]>)> {
    if !has_avx512() {
        return None;
    }
    assert!(mean.len() == axes[1] && inv_std.len() == axes[1], "one mean and inv_std per channel");
    #[cfg(target_arch = "x86_64")]
    {
        Some(in_groups(x, Some(dy), axes, |group, sums: &mut [[f64; 2]]| {
            // SAFETY: as in `train`.
            unsafe { avx512::backward_group(group, mean, inv_std, sums, &coefficients) }
        }))
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("AVX-512 detected off x86-64")
}

/// A buffer's base pointer, shared by tasks that write disjoint elements of it.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Output(*mut f32);
// SAFETY: every task writes only the elements of its own channels.
#[cfg(target_arch = "x86_64")]
unsafe impl Send for Output {}
#[cfg(target_arch = "x86_64")]
unsafe impl Sync for Output {}

/// What one task reads and writes: channels `first..` of `x` (and `y`, which is `x` where the pass
/// reads one activation) and of the output `dst`, all `[batch, channels, run]`.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Group<'a> {
    x: &'a [f32],
    y: &'a [f32],
    axes: Axes,
    first: usize,
    dst: Output,
}

/// Runs `task(group, per_channel)` for every group of [`GROUP`] channels, in parallel where rayon
/// is enabled; each group writes its channels' elements of the output.
#[cfg(target_arch = "x86_64")]
fn in_groups(
    x: &[f32],
    y: Option<&[f32]>,
    axes: Axes,
    task: impl Fn(Group<'_>, &mut [[f64; 2]]) + Send + Sync,
) -> (Vec<f32>, Vec<[f64; 2]>) {
    let [batch, channels, run] = axes;
    let len = batch * channels * run;
    assert!(x.len() == len && y.is_none_or(|y| y.len() == len), "batch_norm: the activation is [{batch}, {channels}, {run}]");
    let mut per_channel = vec![[0.0f64; 2]; channels];
    let mut output: Vec<f32> = Vec::with_capacity(len);
    let (y, dst) = (y.unwrap_or(x), Output(output.as_mut_ptr()));
    for_each_chunk(&mut per_channel, GROUP, |index, per_channel| {
        task(Group { x, y, axes, first: index * GROUP, dst }, per_channel)
    });
    // SAFETY: the groups cover every channel, and each wrote every element of its channels.
    unsafe { output.set_len(len) };
    (output, per_channel)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    use super::{Coefficients, Group};

    /// What a sum adds: `x`; `(x − shift)²`; or `y` and `(x − shift) · scale · y` side by side.
    const VALUE: u8 = 0;
    const SQUARED_DEVIATION: u8 = 1;
    const GRADIENT: u8 = 2;

    /// Statistics and output of the group's `statistics.len()` channels (see `train`).
    ///
    /// # Safety
    /// The CPU must have AVX-512F; the group's slices and `dst` hold `[batch, channels, run]`
    /// elements, and no other task writes these channels of `dst`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn forward_group(
        group: Group<'_>,
        statistics: &mut [[f64; 2]],
        coefficients: &impl Fn(usize, f64, f64) -> Coefficients,
    ) {
        // SAFETY: as the caller promised.
        unsafe {
            match statistics.len() {
                4 => forward::<4>(group, statistics, coefficients),
                3 => forward::<3>(group, statistics, coefficients),
                2 => forward::<2>(group, statistics, coefficients),
                _ => forward::<1>(group, statistics, coefficients),
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn forward<const K: usize>(
        group: Group<'_>,
        statistics: &mut [[f64; 2]],
        coefficients: &impl Fn(usize, f64, f64) -> Coefficients,
    ) {
        let [batch, _, run] = group.axes;
        let count = (batch * run) as f64;
        let zero = [0.0; K];
        let totals = unsafe { sums::<VALUE, K, 1>(group, zero, zero) };
        let mean: [f64; K] = core::array::from_fn(|c| totals[c][0] / count);
        let deviations = unsafe { sums::<SQUARED_DEVIATION, K, 1>(group, mean, zero) };
        let mut maps = [[0.0f32; 4]; K];
        for (c, (statistics, map)) in statistics.iter_mut().zip(&mut maps).enumerate() {
            *statistics = [mean[c], deviations[c][0] / count];
            *map = coefficients(group.first + c, statistics[0], statistics[1]);
        }
        // SAFETY: as the caller promised.
        unsafe { write_group::<K, false>(group, &maps) }
    }

    /// Gradient sums and input gradient of the group's `sums.len()` channels, `y` being the
    /// output gradient (see `train_backward`).
    ///
    /// # Safety
    /// As [`forward_group`].
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn backward_group(
        group: Group<'_>,
        mean: &[f64],
        inv_std: &[f64],
        sums: &mut [[f64; 2]],
        coefficients: &impl Fn(usize, f64, f64) -> Coefficients,
    ) {
        // SAFETY: as the caller promised.
        unsafe {
            match sums.len() {
                4 => backward::<4>(group, [mean, inv_std], sums, coefficients),
                3 => backward::<3>(group, [mean, inv_std], sums, coefficients),
                2 => backward::<2>(group, [mean, inv_std], sums, coefficients),
                _ => backward::<1>(group, [mean, inv_std], sums, coefficients),
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn backward<const K: usize>(
        group: Group<'_>,
        [mean, inv_std]: [&[f64]; 2],
        out: &mut [[f64; 2]],
        coefficients: &impl Fn(usize, f64, f64) -> Coefficients,
    ) {
        let shift: [f64; K] = core::array::from_fn(|c| mean[group.first + c]);
        let scale: [f64; K] = core::array::from_fn(|c| inv_std[group.first + c]);
        let sums = unsafe { sums::<GRADIENT, K, 2>(group, shift, scale) };
        let mut maps = [[0.0f32; 4]; K];
        for (c, (out, map)) in out.iter_mut().zip(&mut maps).enumerate() {
            *out = sums[c];
            *map = coefficients(group.first + c, sums[c][0], sums[c][1]);
        }
        // SAFETY: as the caller promised.
        unsafe { write_group::<K, true>(group, &maps) }
    }

    /// The `M` sums `KIND` names of the group's channels `first..first + K`, each in eight f64
    /// lanes and a tail, in the order described at the top of the file.
    #[target_feature(enable = "avx512f")]
    unsafe fn sums<const KIND: u8, const K: usize, const M: usize>(
        Group { x, y, axes: [batch, channels, run], first, .. }: Group<'_>,
        shift: [f64; K],
        scale: [f64; K],
    ) -> [[f64; M]; K] {
        assert!(first + K <= channels && x.len() >= batch * channels * run && y.len() >= x.len());
        let blocks = run / 8;
        let mut lanes = [[_mm512_setzero_pd(); M]; K];
        let mut tails = [[0.0f64; M]; K];
        let shifts = shift.map(|s| _mm512_set1_pd(s));
        let scales = scale.map(|s| _mm512_set1_pd(s));
        for sample in 0..batch {
            let start = (sample * channels + first) * run;
            for c in 0..K {
                for i in start + c * run + blocks * 8..start + (c + 1) * run {
                    let (x, y) = (x[i] as f64, y[i] as f64);
                    let terms: [f64; 2] = match KIND {
                        VALUE => [x, 0.0],
                        SQUARED_DEVIATION => [(x - shift[c]) * (x - shift[c]), 0.0],
                        _ => [y, (x - shift[c]) * scale[c] * y],
                    };
                    for m in 0..M {
                        tails[c][m] += terms[m];
                    }
                }
            }
            // SAFETY: the assert above keeps every run of this sample's channels in bounds.
            let (xs, ys) = unsafe { (x.as_ptr().add(start), y.as_ptr().add(start)) };
            for block in 0..blocks {
                for c in 0..K {
                    let at = c * run + block * 8;
                    let xv = unsafe { _mm512_cvtps_pd(_mm256_loadu_ps(xs.add(at))) };
                    match KIND {
                        VALUE => lanes[c][0] = _mm512_add_pd(lanes[c][0], xv),
                        SQUARED_DEVIATION => {
                            let deviation = _mm512_sub_pd(xv, shifts[c]);
                            lanes[c][0] = _mm512_add_pd(lanes[c][0], _mm512_mul_pd(deviation, deviation));
                        }
                        _ => {
                            let yv = unsafe { _mm512_cvtps_pd(_mm256_loadu_ps(ys.add(at))) };
                            lanes[c][0] = _mm512_add_pd(lanes[c][0], yv);
                            let term = _mm512_mul_pd(_mm512_mul_pd(_mm512_sub_pd(xv, shifts[c]), scales[c]), yv);
                            lanes[c][M - 1] = _mm512_add_pd(lanes[c][M - 1], term);
                        }
                    }
                }
            }
        }
        core::array::from_fn(|c| {
            core::array::from_fn(|m| {
                let mut values = [0.0f64; 8];
                unsafe { _mm512_storeu_pd(values.as_mut_ptr(), lanes[c][m]) };
                values.iter().sum::<f64>() + tails[c][m]
            })
        })
    }

    /// Writes `scale · (x − shift) + offset (+ y_scale · y)` over the group's channels,
    /// sixteen elements at a time, a run's last ones under a mask. The samples go last to first:
    /// the sums just read them first to last, so the latest are the likeliest still in cache.
    #[target_feature(enable = "avx512f")]
    unsafe fn write_group<const K: usize, const WITH_Y: bool>(
        Group { x, y, axes: [batch, channels, run], first, dst }: Group<'_>,
        maps: &[Coefficients; K],
    ) {
        let maps = maps.map(|map| map.map(|v| _mm512_set1_ps(v)));
        for sample in (0..batch).rev() {
            for (c, &[shift, scale, offset, y_scale]) in maps.iter().enumerate() {
                let start = (sample * channels + first + c) * run;
                let (xs, ys, out) = unsafe { (x.as_ptr().add(start), y.as_ptr().add(start), dst.0.add(start)) };
                let mut i = 0;
                while i < run {
                    let mask: __mmask16 = if run - i >= 16 { !0 } else { (1 << (run - i)) - 1 };
                    unsafe {
                        let xv = _mm512_maskz_loadu_ps(mask, xs.add(i));
                        let mut value = _mm512_add_ps(_mm512_mul_ps(scale, _mm512_sub_ps(xv, shift)), offset);
                        if WITH_Y {
                            let yv = _mm512_maskz_loadu_ps(mask, ys.add(i));
                            value = _mm512_add_ps(value, _mm512_mul_ps(y_scale, yv));
                        }
                        _mm512_mask_storeu_ps(out.add(i), mask, value);
                    }
                    i += 16;
                }
            }
        }
    }
}
