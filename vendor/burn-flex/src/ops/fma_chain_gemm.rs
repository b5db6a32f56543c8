//! A single-threaded f32 GEMM for the convolutions' per-sample products on CPUs with AVX-512,
//! giving the `gemm` crate's bits 16 lanes at a time.
//!
//! gemm 0.19 computes each element of `lhs · rhs` as one chain of fused multiply-adds over the
//! depth in order, starting from zero, then stores it (or adds it to the destination once) — as
//! long as the depth fits one of its blocks, and it never splits a depth of 512 or less
//! (gemm-common's `kernel_params` takes blocks of at least 512, its small-matrix path
//! `min(k, 512)`). On this project's CPUs it runs those chains in its AVX2 kernels. Its AVX-512
//! kernels sit behind its `x86-v4` feature, which also changes how deeper products (the dense
//! layers') are blocked, and with them every result; this kernel runs the same chains in AVX-512
//! registers instead, so using it changes no number. Products where gemm takes another route (a
//! depth of 1 or 2: its outer-product path; a result of at most 16 × 16: its horizontal kernels;
//! a single row or column: its matrix-vector path) or splits the depth stay on gemm, and so does
//! every CPU without AVX-512.
//!
//! The left-hand operand may also be read through offset tables instead of strides
//! (`LhsAt::Tabled`): a convolution then reads its kernel taps straight from its input, where an
//! im2col would have copied them (`conv2d_taps.rs`). The chains, and so the bits, are the same.

/// The deepest product gemm computes as a single chain per element, and for results of at most
/// 64 × 64 (its small-matrix path) the depth of each block it splits deeper products into: each
/// block is its own chain, added to the destination in order.
const MAX_DEPTH: usize = 512;
const SMALL_SIDE: usize = 64;

/// Register tiles of 24 accumulators (of the 32 registers, leaving room for the right-hand vectors
/// and a broadcast): 8 rows × 3 vectors of 16 columns, or 12 rows × 2 vectors; for results at most
/// 16 columns wide, 16 rows × 1 vector.
const WIDE: Shape = Shape { rows: 8, vectors: 3 };
const NARROW: Shape = Shape { rows: 12, vectors: 2 };
const SINGLE: Shape = Shape { rows: 16, vectors: 1 };
/// For a left-hand side read through tables ([`LhsAt::Tabled`]), 4 rows × 4 vectors: with 12 rows
/// the compiler loaded all twelve broadcasts ahead of the FMAs (each row's address is a table
/// lookup) and spilled accumulators to the stack in the depth loop (seen in `perf annotate`), which
/// made the convolution's weight gradient 24 % slower than through an im2col; 16 accumulators
/// leave room.
const TABLED: Shape = Shape { rows: 4, vectors: 4 };
const LANES: usize = 16;

use super::kernel_support::has_avx512;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Shape {
    rows: usize,
    vectors: usize,
}

impl Shape {
    /// Vectors of FMAs one row of the result issues, masked lanes included.
    fn slots(self, n: usize) -> usize {
        n.div_ceil(LANES * self.vectors) * self.vectors
    }

    /// The tile for an `n`-column result: the narrow one where it issues fewer FMAs by at least
    /// an eighth, or fewer at all when the left-hand column is contiguous (the broadcasts then
    /// come from one cache line). Measured on the guide's products (Xeon, AVX-512): 64 × 121 ×
    /// 288 with a row-major left side runs 126 GFLOP/s wide and 109 narrow, 288 × 121 × 64 with
    /// a column-major one 124 wide and 138 narrow, 288 × 64 × 121 103 wide and 151 narrow.
    fn for_product(n: usize, lhs_row_stride: usize) -> Shape {
        if n <= LANES {
            return SINGLE;
        }
        let (wide, narrow) = (WIDE.slots(n), NARROW.slots(n));
        if narrow * 8 <= wide * 7 || (lhs_row_stride == 1 && narrow < wide) {
            NARROW
        } else {
            WIDE
        }
    }
}

/// Where element `(i, d)` (row `i`, depth `d`) of the left-hand operand lies in its slice.
#[derive(Clone, Copy)]
pub(crate) enum LhsAt<'a> {
    /// At `i · strides[0] + d · strides[1]`.
    Strided([usize; 2]),
    /// At `rows[i] + depths[d]`: as when a convolution reads its kernel taps straight from the
    /// input, at its output positions (the weight gradient: taps as rows, positions as depths;
    /// the forward product: the other way round).
    Tabled { rows: &'a [usize], depths: &'a [usize] },
}

/// `dst[i, j] = (accumulate ? dst[i, j] : 0) + Σ_kk lhs[i, kk] · rhs[kk, j]` with the right-hand
/// operand's and the destination's rows contiguous (row `d` of the right-hand operand at
/// `d · rhs_row_stride`).
pub(crate) struct Product<'a> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub dst: &'a mut [f32],
    pub dst_row_stride: usize,
    pub accumulate: bool,
    pub lhs: &'a [f32],
    pub lhs_at: LhsAt<'a>,
    pub rhs: &'a [f32],
    pub rhs_row_stride: usize,
}

/// Whether [`run`] computes an `m × n × k` product here: the shape is one gemm computes as plain
/// chains (see the module comment), or in blocks of 512 it is known to take, and the CPU has
/// AVX-512.
pub(crate) fn applies(m: usize, n: usize, k: usize) -> bool {
    let depth_known = k <= MAX_DEPTH || (m <= SMALL_SIDE && n <= SMALL_SIDE);
    k >= 3 && depth_known && m >= 2 && n >= 2 && m * n > 256 && has_avx512()
}

/// Computes `product` where [`applies`] says so and returns whether it did.
pub(crate) fn run(product: Product<'_>) -> bool {
    if !applies(product.m, product.n, product.k) {
        return false;
    }
    check_extents(&product);
    // gemm's blocks of the depth, each added to what the previous ones left in the destination.
    let mut depth = 0;
    while depth < product.k {
        let block = (product.k - depth).min(MAX_DEPTH);
        let (lhs, lhs_at) = match product.lhs_at {
            LhsAt::Strided(strides) => (&product.lhs[depth * strides[1]..], LhsAt::Strided(strides)),
            LhsAt::Tabled { rows, depths } => (product.lhs, LhsAt::Tabled { rows, depths: &depths[depth..] }),
        };
        let rhs = &product.rhs[depth * product.rhs_row_stride..];
        let part = Product {
            k: block,
            dst: &mut *product.dst,
            accumulate: product.accumulate || depth > 0,
            lhs,
            lhs_at,
            rhs,
            ..product
        };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `applies` checked that the CPU has AVX-512F; `check_extents` that every element
        // the tiles read or write lies inside the slices (masked lanes are never touched), and a
        // block of the depth reads a part of the same extents.
        unsafe {
            avx512::product(part);
        }
        depth += block;
    }
    true
}

/// Every index the tiles touch, checked in release builds too: they use raw pointers.
fn check_extents(p: &Product<'_>) {
    let last = |rows: usize, rs: usize, cols: usize, cs: usize| {
        (rows - 1)
            .checked_mul(rs)
            .and_then(|a| (cols - 1).checked_mul(cs).and_then(|b| a.checked_add(b)))
            .expect("fma_chain_gemm: operand extent overflows usize")
    };
    let furthest = |offsets: &[usize], len: usize| *offsets[..len].iter().max().expect("m, k ≥ 2");
    assert!(p.dst_row_stride >= p.n && p.dst.len() > last(p.m, p.dst_row_stride, p.n, 1));
    match p.lhs_at {
        LhsAt::Strided([rs, cs]) => assert!(p.lhs.len() > last(p.m, rs, p.k, cs)),
        LhsAt::Tabled { rows, depths } => {
            let end = furthest(rows, p.m).checked_add(furthest(depths, p.k));
            assert!(end.is_some_and(|end| p.lhs.len() > end));
        }
    }
    let stride = p.rhs_row_stride;
    assert!(stride >= p.n && p.rhs.len() > last(p.k, stride, p.n, 1));
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    use super::{LANES, LhsAt, NARROW, Product, SINGLE, Shape, TABLED, WIDE};

    /// Where row `depth` of the right-hand operand starts, from a tile's first column.
    #[derive(Clone, Copy)]
    struct RhsRows {
        first: *const f32,
        stride: usize,
    }

    impl RhsRows {
        #[inline(always)]
        unsafe fn row(self, depth: usize) -> *const f32 {
            unsafe { self.first.add(depth * self.stride) }
        }
        #[inline(always)]
        unsafe fn from_column(self, col: usize) -> Self {
            Self { first: unsafe { self.first.add(col) }, ..self }
        }
    }

    /// Where the left-hand elements of a tile's rows lie at each depth: a trait, so that each kind
    /// of [`LhsAt`] gets its own compiled tiles.
    trait LhsElements: Copy {
        /// A handle on depth `depth` of the tile's rows.
        unsafe fn column(self, depth: usize) -> *const f32;
        /// Row `i` of the tile at the depth `column` is on.
        unsafe fn element(self, column: *const f32, i: usize) -> f32;
        unsafe fn from_row(self, row: usize) -> Self;
    }

    #[derive(Clone, Copy)]
    struct StridedLhs {
        first: *const f32,
        row_stride: usize,
        depth_stride: usize,
    }

    impl LhsElements for StridedLhs {
        #[inline(always)]
        unsafe fn column(self, depth: usize) -> *const f32 {
            unsafe { self.first.add(depth * self.depth_stride) }
        }
        #[inline(always)]
        unsafe fn element(self, column: *const f32, i: usize) -> f32 {
            unsafe { *column.add(i * self.row_stride) }
        }
        #[inline(always)]
        unsafe fn from_row(self, row: usize) -> Self {
            Self { first: unsafe { self.first.add(row * self.row_stride) }, ..self }
        }
    }

    #[derive(Clone, Copy)]
    struct TabledLhs {
        base: *const f32,
        rows: *const usize,
        depths: *const usize,
    }

    impl LhsElements for TabledLhs {
        #[inline(always)]
        unsafe fn column(self, depth: usize) -> *const f32 {
            unsafe { self.base.add(*self.depths.add(depth)) }
        }
        #[inline(always)]
        unsafe fn element(self, column: *const f32, i: usize) -> f32 {
            unsafe { *column.add(*self.rows.add(i)) }
        }
        #[inline(always)]
        unsafe fn from_row(self, row: usize) -> Self {
            Self { rows: unsafe { self.rows.add(row) }, ..self }
        }
    }

    /// Pointers and strides one tile needs.
    #[derive(Clone, Copy)]
    struct Tile<L> {
        k: usize,
        dst: *mut f32,
        dst_rs: usize,
        accumulate: bool,
        lhs: L,
        rhs: RhsRows,
    }

    /// Runs the product in the tile shape [`Shape::for_product`] picks.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn product(mut p: Product<'_>) {
        let lhs = p.lhs.as_ptr();
        let rhs = RhsRows { first: p.rhs.as_ptr(), stride: p.rhs_row_stride };
        unsafe {
            match p.lhs_at {
                LhsAt::Strided([row_stride, depth_stride]) => {
                    let l = StridedLhs { first: lhs, row_stride, depth_stride };
                    with_operands(&mut p, row_stride, l, rhs)
                }
                LhsAt::Tabled { rows, depths } => {
                    let l = TabledLhs { base: lhs, rows: rows.as_ptr(), depths: depths.as_ptr() };
                    blocks::<{ TABLED.rows }, { TABLED.vectors }, _>(&mut p, l, rhs)
                }
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn with_operands<L: LhsElements>(p: &mut Product<'_>, lhs_row_stride: usize, lhs: L, rhs: RhsRows) {
        unsafe {
            match Shape::for_product(p.n, lhs_row_stride) {
                WIDE => blocks::<{ WIDE.rows }, { WIDE.vectors }, L>(p, lhs, rhs),
                NARROW => blocks::<{ NARROW.rows }, { NARROW.vectors }, L>(p, lhs, rhs),
                SINGLE => blocks::<{ SINGLE.rows }, { SINGLE.vectors }, L>(p, lhs, rhs),
                shape => unreachable!("no kernel for {shape:?}"),
            }
        }
    }

    /// Walks the result in blocks of `VECTORS` · 16 columns, each in tiles of `ROWS` rows (then
    /// 4, 2, 1 for the last rows), so that one block of the right-hand operand serves every row.
    #[target_feature(enable = "avx512f")]
    unsafe fn blocks<const ROWS: usize, const VECTORS: usize, L: LhsElements>(p: &mut Product<'_>, lhs: L, rhs: RhsRows) {
        let block = LANES * VECTORS;
        let dst = p.dst.as_mut_ptr();
        let mut col = 0;
        while col < p.n {
            let width = (p.n - col).min(block);
            let masks: [__mmask16; VECTORS] = core::array::from_fn(|v| {
                let left = width.saturating_sub(LANES * v).min(LANES);
                ((1u32 << left) - 1) as __mmask16
            });
            let mut row = 0;
            while row < p.m {
                let rows = match p.m - row {
                    r if r >= ROWS => ROWS,
                    r if r >= 4 => 4,
                    r if r >= 2 => 2,
                    _ => 1,
                };
                // SAFETY (for the offsets): row < m, col < n, inside the checked extents.
                let tile = Tile {
                    k: p.k,
                    dst: unsafe { dst.add(row * p.dst_row_stride + col) },
                    dst_rs: p.dst_row_stride,
                    accumulate: p.accumulate,
                    lhs: unsafe { lhs.from_row(row) },
                    rhs: unsafe { rhs.from_column(col) },
                };
                unsafe {
                    match rows {
                        4 => tile_of::<4, VECTORS, L>(tile, masks),
                        2 => tile_of::<2, VECTORS, L>(tile, masks),
                        1 => tile_of::<1, VECTORS, L>(tile, masks),
                        _ => tile_of::<ROWS, VECTORS, L>(tile, masks),
                    }
                }
                row += rows;
            }
            col += width;
        }
    }

    /// `ROWS` rows × up to `VECTORS` · 16 columns: per depth step, `VECTORS` (masked) loads of the
    /// right-hand row and one broadcast per row, each accumulator one FMA chain in depth order, as
    /// gemm's micro-kernels run it.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile_of<const ROWS: usize, const VECTORS: usize, L: LhsElements>(
        t: Tile<L>,
        masks: [__mmask16; VECTORS],
    ) {
        let mut acc = [[_mm512_setzero_ps(); VECTORS]; ROWS];
        for depth in 0..t.k {
            unsafe {
                let rhs_row = t.rhs.row(depth);
                let rhs: [__m512; VECTORS] = core::array::from_fn(|v| {
                    _mm512_maskz_loadu_ps(masks[v], rhs_row.add(LANES * v))
                });
                let lhs_col = t.lhs.column(depth);
                for (i, acc) in acc.iter_mut().enumerate() {
                    let lhs = _mm512_set1_ps(t.lhs.element(lhs_col, i));
                    for (acc, &rhs) in acc.iter_mut().zip(&rhs) {
                        *acc = _mm512_fmadd_ps(lhs, rhs, *acc);
                    }
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            unsafe {
                let dst_row = t.dst.add(i * t.dst_rs);
                for (v, &acc) in acc.iter().enumerate() {
                    let dst = dst_row.add(LANES * v);
                    let value = if t.accumulate {
                        // gemm adds the chain to the destination with one rounding: `1 · acc + dst`.
                        _mm512_add_ps(_mm512_maskz_loadu_ps(masks[v], dst), acc)
                    } else {
                        acc
                    };
                    _mm512_mask_storeu_ps(dst, masks[v], value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u64) -> alloc::vec::Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// The same bits as gemm, for the guide's convolution shapes and odd ones, with either
    /// left-hand layout, with and without accumulating.
    #[test]
    fn gives_gemms_bits() {
        if !has_avx512() {
            return;
        }
        let shapes = [(64, 121, 288), (288, 121, 64), (32, 676, 9), (64, 288, 121), (288, 64, 121), (13, 37, 500), (17, 19, 3), (70, 70, 512), (32, 9, 676), (9, 32, 1100), (40, 16, 50)];
        for (m, n, k) in shapes {
            assert!(applies(m, n, k), "{m}×{n}×{k}");
            for lhs_row_major in [true, false] {
                let lhs_strides = if lhs_row_major { [k, 1] } else { [1, m] };
                let (lhs, rhs) = (values(m * k, 1), values(k * (n + 3), 2));
                for accumulate in [false, true] {
                    let start = values(m * (n + 5), 3);
                    let (mut ours, mut theirs) = (start.clone(), start);
                    assert!(run(Product {
                        m,
                        n,
                        k,
                        dst: &mut ours,
                        dst_row_stride: n + 5,
                        accumulate,
                        lhs: &lhs,
                        lhs_at: LhsAt::Strided(lhs_strides),
                        rhs: &rhs,
                        rhs_row_stride: n + 3,
                    }));
                    // SAFETY: extents as above.
                    unsafe {
                        gemm::gemm(
                            m,
                            n,
                            k,
                            theirs.as_mut_ptr(),
                            1,
                            (n + 5) as isize,
                            accumulate,
                            lhs.as_ptr(),
                            lhs_strides[1] as isize,
                            lhs_strides[0] as isize,
                            rhs.as_ptr(),
                            1,
                            (n + 3) as isize,
                            1.0f32,
                            1.0f32,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                    let same = ours.iter().zip(&theirs).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{m}×{n}×{k}, row-major lhs {lhs_row_major}, accumulate {accumulate}");
                }
            }
        }
    }

    /// A left-hand side read through offset tables gives the bits of the same operand copied out
    /// with strides: rows that overlap and lie out of order, on the guide's forward product and
    /// weight gradient (positions × channels × taps, taps × channels × positions) and odd shapes,
    /// with and without accumulating.
    #[test]
    fn tables_give_the_strided_operands_bits() {
        use alloc::vec::Vec;
        if !has_avx512() {
            return;
        }
        for (m, n, k) in [(121, 64, 288), (288, 64, 121), (9, 300, 40), (30, 12, 500)] {
            let source = values(4000 + n, 7);
            // Row i of the left side at 37·i mod 997, depth d at 3·d (mod 2000): overlapping.
            let lhs_rows: Vec<usize> = (0..m).map(|i| 37 * i % 997).collect();
            let lhs_depths: Vec<usize> = (0..k).map(|d| 3 * d % 2000).collect();
            let lhs_copy: Vec<f32> = (0..m * k).map(|e| source[lhs_rows[e / k] + lhs_depths[e % k]]).collect();
            let rhs = values(k * n, 8);
            let start = values(m * n, 9);
            for accumulate in [false, true] {
                let (mut ours, mut strided) = (start.clone(), start.clone());
                let (dst_row_stride, rhs_row_stride, rhs) = (n, n, &rhs);
                let lhs_at = LhsAt::Tabled { rows: &lhs_rows, depths: &lhs_depths };
                let lhs = &source;
                assert!(run(Product { m, n, k, dst: &mut ours, dst_row_stride, accumulate, lhs, lhs_at, rhs, rhs_row_stride }));
                let (lhs, lhs_at) = (&lhs_copy, LhsAt::Strided([k, 1]));
                assert!(run(Product { m, n, k, dst: &mut strided, dst_row_stride, accumulate, lhs, lhs_at, rhs, rhs_row_stride }));
                let same = ours.iter().zip(&strided).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{m}×{n}×{k}, accumulate {accumulate}");
            }
        }
    }

    /// The shapes above run both tiles, every row tail and partly masked blocks.
    #[test]
    fn picks_the_tile_that_issues_fewer_fmas() {
        assert_eq!(Shape::for_product(121, 288), WIDE);
        assert_eq!(Shape::for_product(121, 1), NARROW);
        assert_eq!(Shape::for_product(64, 121), NARROW);
        assert_eq!(Shape::for_product(288, 1), WIDE);
        assert_eq!(Shape::for_product(9, 676), SINGLE);
    }

    #[test]
    fn leaves_other_shapes_to_gemm() {
        for (m, n, k) in [(64, 121, 2), (64, 121, 513), (65, 64, 600), (16, 16, 64), (1, 500, 64), (500, 1, 64)] {
            assert!(!applies(m, n, k), "{m}×{n}×{k}");
        }
    }
}
