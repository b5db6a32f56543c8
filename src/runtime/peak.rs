//! The machine's own limit: the fp32 multiply-add throughput of the CPU threads a run computes
//! on, measured by a kernel that does nothing else (no memory traffic, independent chains deep
//! enough to hide the FMA latency), so `bnx bench` can say what share of it a training step
//! reaches. Measured rather than read from a spec sheet: the clock under load, SMT siblings and
//! a virtual machine's CPU quota all move it.

use std::hint::black_box;
use std::time::Instant;

use serde::Serialize;

use super::threads;

/// The measured peak of one pool of threads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FmaPeak {
    /// Billions of fp32 floating-point operations a second (a multiply-add counts two).
    pub gflops: f64,
    /// The threads that ran the kernel at once.
    pub threads: usize,
    /// The widest vector instructions this CPU has, which the kernel used.
    pub instructions: &'static str,
}

/// Iterations per thread per timed round: about 0.15 s on an AVX-512 core (512 FLOPs each).
const ROUND_ITERATIONS: usize = 20_000_000;
/// Rounds timed; the fastest counts (the others lost time to something else on the machine).
const ROUNDS: usize = 5;

/// The fp32 FMA peak of a pool of `threads` threads, as `threads::with_threads` gives a run.
pub fn measure(threads: usize) -> FmaPeak {
    let kernel = Kernel::widest();
    threads::with_threads(threads, false, || {
        let pool = rayon::current_num_threads();
        // One untimed round wakes every thread and lets the clock ramp up.
        rayon::broadcast(|_| black_box(kernel.run(ROUND_ITERATIONS / 4)));
        let fastest = (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                rayon::broadcast(|_| black_box(kernel.run(ROUND_ITERATIONS)));
                started.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let flops = (pool * ROUND_ITERATIONS * kernel.flops_per_iteration()) as f64;
        FmaPeak {
            gflops: flops / fastest / 1e9,
            threads: pool,
            instructions: kernel.name(),
        }
    })
}

/// The kernel variants, widest first.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kernel {
    Avx512,
    Avx2,
    Scalar,
}

/// Independent accumulators per kernel: enough chains that every FMA unit has work each cycle
/// (latency 4 × 2 units = 8 in flight), few enough to stay in registers with the two constants.
const AVX512_CHAINS: usize = 16;
const AVX2_CHAINS: usize = 12;
const SCALAR_CHAINS: usize = 8;

impl Kernel {
    fn widest() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Self::Avx2;
            }
        }
        Self::Scalar
    }

    fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "AVX-512",
            Self::Avx2 => "AVX2+FMA",
            Self::Scalar => "scalar",
        }
    }

    fn flops_per_iteration(self) -> usize {
        2 * match self {
            Self::Avx512 => AVX512_CHAINS * 16,
            Self::Avx2 => AVX2_CHAINS * 8,
            Self::Scalar => SCALAR_CHAINS,
        }
    }

    /// `iterations` rounds of one multiply-add per chain; returns a sum so none is optimized out.
    fn run(self, iterations: usize) -> f32 {
        match self {
            // SAFETY: `widest` chose these only where the CPU reported the features.
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => unsafe { x86::avx512(iterations) },
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => unsafe { x86::avx2(iterations) },
            _ => scalar(iterations),
        }
    }
}

/// x ← x · a + b converges to b / (1 − a) = 0.1: no overflow, no subnormals, whatever `iterations`.
const A: f32 = 0.999_999;
const B: f32 = 1e-7;

fn scalar(iterations: usize) -> f32 {
    let mut chains = [0f32; SCALAR_CHAINS];
    for _ in 0..iterations {
        for x in &mut chains {
            *x = black_box(*x).mul_add(A, B);
        }
    }
    chains.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{A, AVX2_CHAINS, AVX512_CHAINS, B};

    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512(iterations: usize) -> f32 {
        let (a, b) = (_mm512_set1_ps(A), _mm512_set1_ps(B));
        let mut chains = [_mm512_setzero_ps(); AVX512_CHAINS];
        for _ in 0..iterations {
            for x in &mut chains {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        chains.iter().map(|&x| _mm512_reduce_add_ps(x)).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(iterations: usize) -> f32 {
        let (a, b) = (_mm256_set1_ps(A), _mm256_set1_ps(B));
        let mut chains = [_mm256_setzero_ps(); AVX2_CHAINS];
        for _ in 0..iterations {
            for x in &mut chains {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0f32; 8];
        let mut total = 0.0;
        for x in chains {
            // SAFETY: `lanes` holds the 8 floats an unaligned store writes.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), x) };
            total += lanes.iter().sum::<f32>();
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_computes_what_it_counts() {
        // x ← x · a + b from 0, n times, is b (1 − aⁿ) / (1 − a) in every lane of every chain.
        let n = 1000;
        let lane = B as f64 * (1.0 - (A as f64).powi(n as i32)) / (1.0 - A as f64);
        for kernel in [Kernel::widest(), Kernel::Scalar] {
            let lanes = kernel.flops_per_iteration() / 2;
            let expected = lane * lanes as f64;
            let got = kernel.run(n) as f64;
            assert!(
                (got - expected).abs() < 1e-3 * expected,
                "{}: {got} vs {expected}",
                kernel.name()
            );
        }
    }

    #[test]
    fn a_peak_is_measured_on_the_asked_threads() {
        let one = measure(1);
        assert_eq!(one.threads, 1);
        assert!(one.gflops.is_finite() && one.gflops > 0.0);
        assert_eq!(measure(2).threads, 2);
    }
}
