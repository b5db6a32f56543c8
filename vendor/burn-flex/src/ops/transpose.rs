//! Transposing a row-major matrix: the weight gradient transposes one operand of every sample's
//! product (the output gradient or the im2col) so that `fma_chain_gemm` reads it contiguously.

#[cfg(target_arch = "x86_64")]
use super::kernel_support::{as_f32, as_f32_mut, has_avx};

/// Rows (and columns) of the blocks the vector path transposes at once.
pub(crate) const BLOCK: usize = 8;

/// `dst[c, r] = src[r, c]` for a row-major `rows × cols` source. On x86-64 CPUs with AVX, f32
/// goes through 8 × 8 blocks in registers, the edges that do not fill one element by element.
pub(crate) fn transpose<T: bytemuck::Pod + 'static>(src: &[T], rows: usize, cols: usize, dst: &mut [T]) {
    let (src, dst) = (&src[..rows * cols], &mut dst[..rows * cols]);
    #[cfg(target_arch = "x86_64")]
    if has_avx() {
        if let (Some(src), Some(dst)) = (as_f32(src), as_f32_mut(dst)) {
            // SAFETY: the CPU has AVX.
            return unsafe { transpose_avx(src, rows, cols, dst) };
        }
    }
    transpose_part(src, rows, cols, dst, 0..rows, 0..cols);
}

/// `dst[c, r] = src[r, c]` for the source rows and columns given, eight rows at a time so that
/// each destination row is written in runs of eight.
fn transpose_part<T: Copy>(
    src: &[T],
    rows: usize,
    cols: usize,
    dst: &mut [T],
    row_range: core::ops::Range<usize>,
    col_range: core::ops::Range<usize>,
) {
    for first in row_range.clone().step_by(BLOCK) {
        let band = BLOCK.min(row_range.end - first);
        for c in col_range.clone() {
            let dst = &mut dst[c * rows + first..][..band];
            for (r, value) in dst.iter_mut().enumerate() {
                *value = src[(first + r) * cols + c];
            }
        }
    }
}

/// The full 8 × 8 blocks in AVX registers ([`transpose_block`]), the last `rows % 8` rows and
/// `cols % 8` columns by [`transpose_part`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn transpose_avx(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    use core::arch::x86_64::*;
    let (block_rows, block_cols) = (rows / BLOCK * BLOCK, cols / BLOCK * BLOCK);
    for r0 in (0..block_rows).step_by(BLOCK) {
        for c0 in (0..block_cols).step_by(BLOCK) {
            // SAFETY: each load reads eight elements of a slice checked to hold them.
            let row = |i: usize| unsafe { _mm256_loadu_ps(src[(r0 + i) * cols + c0..][..BLOCK].as_ptr()) };
            let columns = transpose_block(core::array::from_fn(row));
            for (i, column) in columns.into_iter().enumerate() {
                let out = &mut dst[(c0 + i) * rows + r0..][..BLOCK];
                // SAFETY: the store writes eight elements of a slice checked to hold them.
                unsafe { _mm256_storeu_ps(out.as_mut_ptr(), column) };
            }
        }
    }
    transpose_part(src, rows, cols, dst, 0..block_rows, block_cols..cols);
    transpose_part(src, rows, cols, dst, block_rows..rows, 0..cols);
}

/// The columns of the 8 × 8 block whose rows are `rows`, in registers (the usual unpack, shuffle
/// and lane-permute network). It moves values and computes nothing.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
pub(crate) fn transpose_block(rows: [core::arch::x86_64::__m256; BLOCK]) -> [core::arch::x86_64::__m256; BLOCK] {
    use core::arch::x86_64::*;
    let [a0, a1, a2, a3, a4, a5, a6, a7] = rows;
    let (t0, t1) = (_mm256_unpacklo_ps(a0, a1), _mm256_unpackhi_ps(a0, a1));
    let (t2, t3) = (_mm256_unpacklo_ps(a2, a3), _mm256_unpackhi_ps(a2, a3));
    let (t4, t5) = (_mm256_unpacklo_ps(a4, a5), _mm256_unpackhi_ps(a4, a5));
    let (t6, t7) = (_mm256_unpacklo_ps(a6, a7), _mm256_unpackhi_ps(a6, a7));
    let (s0, s1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
    let (s2, s3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
    let (s4, s5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
    let (s6, s7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
    [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn blocks_and_edges_give_every_element_its_place() {
        // Sides below, at and past a block, with and without edges; the weight gradient's
        // operands (the guide's output gradient, 64 × 121, and first im2col, 9 × 676).
        let sides = [1, 3, 7, 8, 9, 15, 16, 17, 24];
        let shapes = sides
            .iter()
            .flat_map(|&r| sides.iter().map(move |&c| (r, c)))
            .chain([(64, 121), (9, 676)]);
        for (rows, cols) in shapes {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32 + 0.5).collect();
            let mut dst = vec![f32::NAN; rows * cols];
            transpose(&src, rows, cols, &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * rows + r], src[r * cols + c], "{rows} × {cols} at ({r}, {c})");
                }
            }
            // f64 takes the element-by-element path.
            let src64: Vec<f64> = src.iter().map(|&v| v as f64).collect();
            let mut dst64 = vec![f64::NAN; rows * cols];
            transpose(&src64, rows, cols, &mut dst64);
            assert!(dst64.iter().zip(&dst).all(|(&a, &b)| a == b as f64), "f64, {rows} × {cols}");
        }
    }
}
