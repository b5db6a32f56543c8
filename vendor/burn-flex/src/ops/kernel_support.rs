//! What the patch's kernels (convolutions, BatchNorm, pooling) share: the float types they run
//! natively, running a kernel at a tensor's precision, and output buffers that parallel tasks
//! fill piece by piece.

use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use burn_backend::DType;
use burn_std::{Bytes, Shape, bf16, f16};
use num_traits::Float;

use crate::{FlexTensor, Layout};

use super::module::{cast_from_f32, cast_to_f32};

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

/// Whether the CPU has the x86 feature named, detected at run time (never without `std`, which
/// detection needs, nor off x86-64): the kernels with vector paths check it before taking them.
macro_rules! x86_feature_detected {
    ($feature:tt) => {{
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        let detected = std::is_x86_feature_detected!($feature);
        #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
        let detected = false;
        detected
    }};
}

/// Whether the CPU has AVX-512F.
pub(crate) fn has_avx512() -> bool {
    x86_feature_detected!("avx512f")
}

/// Whether the CPU has AVX.
pub(crate) fn has_avx() -> bool {
    x86_feature_detected!("avx")
}

/// `values` as a slice of `U`, when `T` is `U`: a kernel's path for one element type.
pub(crate) fn as_slice_of<U: bytemuck::Pod, T: bytemuck::Pod>(values: &[T]) -> Option<&[U]> {
    (core::any::TypeId::of::<T>() == core::any::TypeId::of::<U>()).then(|| bytemuck::cast_slice(values))
}

pub(crate) fn as_mut_slice_of<U: bytemuck::Pod, T: bytemuck::Pod>(values: &mut [T]) -> Option<&mut [U]> {
    (core::any::TypeId::of::<T>() == core::any::TypeId::of::<U>()).then(|| bytemuck::cast_slice_mut(values))
}

/// `values` as f32, when `T` is f32 (the vector kernels' type).
pub(crate) fn as_f32<T: bytemuck::Pod>(values: &[T]) -> Option<&[f32]> {
    as_slice_of(values)
}

pub(crate) fn as_f32_mut<T: bytemuck::Pod>(values: &mut [T]) -> Option<&mut [f32]> {
    as_mut_slice_of(values)
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

/// A `len`-element buffer whose `chunk_len`-sized pieces `body(index, piece, scratch)` writes, on
/// rayon when enabled. Each piece is zeroed by the task that writes it, while it is in that core's
/// cache: a `vec![0; len]` before the tasks zeroed the whole buffer on one thread (at the guide's
/// batch 128, an 11 MB fill for the first convolution's output). Each task gets a scratch buffer
/// of `scratch_len` zeros, reused for the pieces it runs.
pub(crate) fn build_in_chunks<T: KernelFloat>(
    len: usize,
    chunk_len: usize,
    scratch_len: usize,
    body: impl Fn(usize, &mut [T], &mut [T]) + Send + Sync,
) -> Vec<T> {
    if chunk_len == 0 {
        return vec![T::zero(); len];
    }
    let zeroed = |index: usize, piece: &mut [MaybeUninit<T>], scratch: &mut [T]| {
        body(index, fill_uninit(piece, T::zero()), scratch)
    };
    // SAFETY: `zeroed` initialises every element of each piece before `body` sees it.
    unsafe { write_in_chunks(len, chunk_len, scratch_len, zeroed) }
}

/// [`build_in_chunks`] for kernels that set every element of their piece: nothing is zeroed
/// first, which would be one more pass of stores over the whole output (at the guide's batch 128,
/// 11 MB for the first BatchNorm's output and again for its input gradient).
///
/// # Safety
/// `body` must initialise every element of each piece it is given.
pub(crate) unsafe fn write_in_chunks<T: KernelFloat>(
    len: usize,
    chunk_len: usize,
    scratch_len: usize,
    body: impl Fn(usize, &mut [MaybeUninit<T>], &mut [T]) + Send + Sync,
) -> Vec<T> {
    assert!(chunk_len > 0 || len == 0, "write_in_chunks: pieces of no elements cannot cover {len}");
    let mut data = Vec::with_capacity(len);
    let pieces = &mut data.spare_capacity_mut()[..len];
    #[cfg(feature = "rayon")]
    if chunk_len > 0 {
        use rayon::prelude::*;
        pieces.par_chunks_mut(chunk_len).enumerate().for_each_init(
            || vec![T::zero(); scratch_len],
            |scratch, (index, piece)| body(index, piece, scratch),
        );
    }
    #[cfg(not(feature = "rayon"))]
    if chunk_len > 0 {
        let mut scratch = vec![T::zero(); scratch_len];
        for (index, piece) in pieces.chunks_mut(chunk_len).enumerate() {
            body(index, piece, &mut scratch);
        }
    }
    // SAFETY: the pieces cover the first `len` elements, and the caller's `body` wrote each.
    unsafe { data.set_len(len) };
    data
}

/// Sets every element of `piece` (part of a buffer's spare capacity) to `value` and returns it as
/// initialised. Parallel kernels call it on the piece each task writes, so that a large output is
/// initialised by all threads, each in its own cache, rather than by `vec![value; len]` on one.
pub(crate) fn fill_uninit<T: Copy>(piece: &mut [MaybeUninit<T>], value: T) -> &mut [T] {
    for element in piece.iter_mut() {
        element.write(value);
    }
    // SAFETY: every element was just written, and `MaybeUninit<T>` has `T`'s layout.
    unsafe { &mut *(piece as *mut [MaybeUninit<T>] as *mut [T]) }
}
