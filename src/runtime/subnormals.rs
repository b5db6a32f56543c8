//! Flush-to-zero for subnormal floats on the CPU compute threads.
//!
//! As a network without BatchNorm trains, many of its small gradients and Adam moments decay
//! into the subnormal range, where x86 arithmetic takes a slow microcode path: the guide's MLP
//! slows from 1.7 s to 2.7 s an epoch (`cargo run --release --example subnormals`). TensorFlow,
//! and so Keras, runs its CPU kernels with FTZ and DAZ set for the same reason; bnx does too by
//! default (`runtime.flush_subnormals` in the config), on the calling thread and on every thread
//! of the rayon pool that flex's kernels run on, when the backend is opened.

/// Sets (or clears) FTZ and DAZ on this thread and every thread of the current rayon pool. Returns whether the
/// platform supports it (x86-64 only; elsewhere this does nothing and returns false).
pub fn set_flush(on: bool) -> bool {
    if !set_flush_on_this_thread(on) {
        return false;
    }
    // Runs once on every thread of the current pool (the global one, started if need be).
    rayon::broadcast(|_| {
        set_flush_on_this_thread(on);
    });
    true
}

/// Whether FTZ and DAZ are both set on this thread.
pub fn flushing_on_this_thread() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        mxcsr() & (FTZ | DAZ) == FTZ | DAZ
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
const FTZ: u32 = 1 << 15;
#[cfg(target_arch = "x86_64")]
const DAZ: u32 = 1 << 6;

#[cfg(target_arch = "x86_64")]
#[allow(deprecated)] // _mm_getcsr: deprecated in favour of inline assembly, still correct
fn mxcsr() -> u32 {
    // SAFETY: reads this thread's SSE control register; SSE is part of x86-64.
    unsafe { std::arch::x86_64::_mm_getcsr() }
}

/// Sets (or clears) FTZ and DAZ on the calling thread only; false where unsupported.
#[allow(deprecated)] // _mm_setcsr: deprecated in favour of inline assembly, still correct
pub fn set_flush_on_this_thread(on: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let csr = if on {
            mxcsr() | FTZ | DAZ
        } else {
            mxcsr() & !(FTZ | DAZ)
        };
        // SAFETY: only changes how this thread treats subnormal floats.
        unsafe { std::arch::x86_64::_mm_setcsr(csr) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = on;
        false
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The smallest normal f32 halved is subnormal; with FTZ the product flushes to zero.
    fn halve_smallest_normal() -> f32 {
        std::hint::black_box(f32::MIN_POSITIVE) * std::hint::black_box(0.5f32)
    }

    #[test]
    fn flushing_reaches_this_thread_and_every_pool_worker() {
        // A pool of its own: the global one is shared with tests that train.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(|| {
            assert!(set_flush(true));
            assert!(flushing_on_this_thread());
            assert_eq!(halve_smallest_normal(), 0.0);
        });
        let workers: Vec<bool> = pool.broadcast(|_| flushing_on_this_thread());
        assert_eq!(workers, vec![true; 3]);
    }

    #[test]
    fn clearing_restores_ieee_subnormals() {
        // On a thread of its own: the rayon pool is shared with tests that train.
        std::thread::spawn(|| {
            assert!(set_flush_on_this_thread(true));
            assert_eq!(halve_smallest_normal(), 0.0);
            assert!(set_flush_on_this_thread(false));
            assert!(!flushing_on_this_thread());
            assert!(halve_smallest_normal() > 0.0);
        })
        .join()
        .unwrap();
    }
}
