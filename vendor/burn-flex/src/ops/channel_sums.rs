//! Each channel's sum over `[batch, channels, positions]` data, in the order of the sequential
//! loop: a convolution's bias gradient.

use alloc::vec;
use alloc::vec::Vec;

#[cfg(target_arch = "x86_64")]
use super::kernel_support::{as_f32, as_f32_mut, has_avx};
use super::kernel_support::{KernelFloat, for_each_chunk};

/// Channels one task sums side by side (one AVX register of f32 lanes).
const SUMMED_TOGETHER: usize = 8;

/// Each channel's sum over `[batch, channels, positions]` data, in the sequential loop's order: the
/// samples in order, each the `Iterator::sum` of its positions in order. Eight channels per task,
/// summed side by side: eight independent chains of additions, where one chain waited on each
/// addition's latency (the first convolution's bias gradient at batch 128 adds 2.8 M values).
/// f32 on CPUs with AVX runs the eight chains in the lanes of one register.
pub(crate) fn channel_sums<T: KernelFloat>(data: &[T], [batch, channels, positions]: [usize; 3]) -> Vec<T> {
    let shape = [batch, channels, positions];
    let mut sums = vec![T::zero(); channels];
    for_each_chunk(&mut sums, SUMMED_TOGETHER, |group, totals| {
        let first = group * SUMMED_TOGETHER;
        #[cfg(target_arch = "x86_64")]
        if totals.len() == SUMMED_TOGETHER && has_avx() {
            if let (Some(data), Some(totals)) = (as_f32(data), as_f32_mut(totals)) {
                // SAFETY: the CPU has AVX.
                return unsafe { group_sums_avx(data, shape, first, totals) };
            }
        }
        group_sums(data, shape, first, totals);
    });
    sums
}

/// Whatever `Iterator::sum` starts from (−0.0 in today's Rust), so that the bits match.
fn start<T: KernelFloat>() -> T {
    core::iter::empty::<T>().sum::<T>()
}

/// The sums of channels `first..first + totals.len()`, one chain per channel and sample.
fn group_sums<T: KernelFloat>(data: &[T], [batch, channels, positions]: [usize; 3], first: usize, totals: &mut [T]) {
    totals.fill(start());
    for sample in 0..batch {
        let rows = &data[(sample * channels + first) * positions..][..totals.len() * positions];
        let mut partial = [start(); SUMMED_TOGETHER];
        for p in 0..positions {
            for (c, sum) in partial[..totals.len()].iter_mut().enumerate() {
                *sum = *sum + rows[c * positions + p];
            }
        }
        for (total, &partial) in totals.iter_mut().zip(&partial) {
            *total = *total + partial;
        }
    }
}

/// [`group_sums`] for eight channels, each lane of a register one channel's chain: the channels'
/// rows are read eight positions at a time and turned into columns ([`transpose_block`]), whose
/// lanes are then added in position order. Two samples run side by side, so that one chain's
/// addition latency does not stall the other; each sample's sum joins the totals in order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn group_sums_avx(data: &[f32], [batch, channels, positions]: [usize; 3], first: usize, totals: &mut [f32]) {
    use core::arch::x86_64::*;
    const SIDE_BY_SIDE: usize = 2;
    let group_len = SUMMED_TOGETHER * positions;
    let mut total = _mm256_set1_ps(start());
    for pair in (0..batch).step_by(SIDE_BY_SIDE) {
        let count = (batch - pair).min(SIDE_BY_SIDE);
        // An odd batch's last sample fills both places; its second sum is dropped.
        let rows: [&[f32]; SIDE_BY_SIDE] = core::array::from_fn(|i| {
            let sample = (pair + i).min(batch - 1);
            &data[(sample * channels + first) * positions..][..group_len]
        });
        for sum in &sample_sums_avx(rows, positions)[..count] {
            total = _mm256_add_ps(total, *sum);
        }
    }
    // SAFETY: `totals` holds eight elements (checked by the caller).
    unsafe { _mm256_storeu_ps(totals[..SUMMED_TOGETHER].as_mut_ptr(), total) };
}

/// For each of `N` samples' eight channel rows (`positions` long, one after the other), the eight
/// sums in one register, each lane's additions in position order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn sample_sums_avx<const N: usize>(rows: [&[f32]; N], positions: usize) -> [core::arch::x86_64::__m256; N] {
    use super::transpose::{BLOCK, transpose_block};
    use core::arch::x86_64::*;
    const { assert!(BLOCK == SUMMED_TOGETHER) };
    let block_end = positions / BLOCK * BLOCK;
    let mut sums = [_mm256_set1_ps(start()); N];
    for p0 in (0..block_end).step_by(BLOCK) {
        for (sum, rows) in sums.iter_mut().zip(rows) {
            let mut block = [_mm256_setzero_ps(); BLOCK];
            for (c, row) in block.iter_mut().enumerate() {
                // SAFETY: the load reads eight elements of a slice checked to hold them.
                *row = unsafe { _mm256_loadu_ps(rows[c * positions + p0..][..BLOCK].as_ptr()) };
            }
            for column in transpose_block(block) {
                *sum = _mm256_add_ps(*sum, column);
            }
        }
    }
    // The last `positions % 8` positions one lane at a time: the same additions.
    for (sum, rows) in sums.iter_mut().zip(rows) {
        let mut lanes = [0.0f32; SUMMED_TOGETHER];
        // SAFETY: the store and the load cover the eight elements of `lanes`.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *sum) };
        for p in block_end..positions {
            for (c, lane) in lanes.iter_mut().enumerate() {
                *lane = *lane + rows[c * positions + p];
            }
        }
        *sum = unsafe { _mm256_loadu_ps(lanes.as_ptr()) };
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `channel_sums` against the sequential loop it replaces, bit for bit.
    fn check_channel_sums(data: &[f32], [batch, channels, positions]: [usize; 3]) {
        let expected: Vec<u32> = (0..channels)
            .map(|c| {
                let sample_sum = |n: usize| data[(n * channels + c) * positions..][..positions].iter().copied().sum::<f32>();
                (0..batch).map(sample_sum).sum::<f32>().to_bits()
            })
            .collect();
        let sums = channel_sums(data, [batch, channels, positions]);
        let sums: Vec<u32> = sums.iter().map(|s| s.to_bits()).collect();
        assert_eq!(sums, expected, "{batch} × {channels} × {positions}");
        // f64 takes the scalar path: the same sums of the same values, exactly.
        let data64: Vec<f64> = data.iter().map(|&v| v as f64).collect();
        let sums64 = channel_sums(&data64, [batch, channels, positions]);
        let expected64: Vec<f64> = (0..channels)
            .map(|c| (0..batch).map(|n| data64[(n * channels + c) * positions..][..positions].iter().sum::<f64>()).sum())
            .collect();
        assert_eq!(sums64, expected64, "f64, {batch} × {channels} × {positions}");
    }

    #[test]
    fn channel_sums_give_the_sequential_sums_bits() {
        // Channel counts below, at and past one group (a last group of fewer than eight takes the
        // scalar path); positions below, at and past a block of eight, with and without a tail;
        // odd and even batches (samples run in pairs); the guide's two convolutions.
        let shapes = (1..=5)
            .flat_map(|batch| [1, 3, SUMMED_TOGETHER, 13, 16, 64].map(|channels| (batch, channels)))
            .flat_map(|(batch, channels)| [1, 7, 8, 9, 37].map(|positions| [batch, channels, positions]))
            .chain([[3, 32, 676], [3, 64, 121]]);
        for shape in shapes {
            // Values of mixed magnitude, so that any other order of the additions rounds differently.
            let data: Vec<f32> = (0..shape.iter().product::<usize>())
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * [1e-3, 1.0, 1e3][i % 3])
                .collect();
            check_channel_sums(&data, shape);
        }
        // All −0.0: the sum's sign depends on what the additions start from.
        check_channel_sums(&[-0.0; 12], [2, 2, 3]);
        check_channel_sums(&[-0.0; 3 * 8 * 9], [3, 8, 9]);
    }
}
