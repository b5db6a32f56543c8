//! How many threads one training run computes on.
//!
//! flex splits every large operation over a rayon pool. For a small network the split costs more
//! than it gains: the guide's MLP at batch 128 trained faster on one thread than on two. And runs
//! trained side by side (`--jobs`) that share one pool wait on each other's tasks. So each run
//! gets a pool of its own: one thread when its steps are small, else its share of the cores
//! (`cores / jobs`). The threshold comes from `bnx bench` on this project's 2-core machine
//! (README, Speed). `RAYON_NUM_THREADS` overrides the policy: every run then uses the global pool
//! that rayon sizes from it.

use super::subnormals::set_flush_on_this_thread;

/// Multiply-adds per training-step forward pass (samples × per-sample work) below which a run
/// computes on one thread. Measured with `bnx bench` on 1 and 2 threads (README, Speed): the
/// guide's MLP at batch 128 (14 M) trains faster on one, the CNN already at batch 8 (20 M) on
/// two, and the MLP at batch 512 (57 M) ties.
pub const ONE_THREAD_BELOW: usize = 16_000_000;

/// The threads a run with `multiply_adds_per_step` gets when `jobs` runs share the machine.
pub fn threads_for_run(multiply_adds_per_step: usize, jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if multiply_adds_per_step < ONE_THREAD_BELOW {
        1
    } else {
        (cores / jobs.max(1)).max(1)
    }
}

/// Whether `RAYON_NUM_THREADS` sets the thread count (rayon reads it for its global pool).
pub fn overridden() -> bool {
    std::env::var("RAYON_NUM_THREADS").is_ok_and(|v| v.trim().parse::<usize>().is_ok_and(|n| n > 0))
}

/// The threads a run asked for `threads` computes on: rayon's global pool size when
/// `RAYON_NUM_THREADS` overrides the policy.
pub fn effective(threads: usize) -> usize {
    if overridden() {
        rayon::current_num_threads()
    } else {
        threads.max(1)
    }
}

/// Runs `work` with flex's kernels on a pool of `threads` threads, each flushing subnormals
/// (FTZ/DAZ) as `flush` says; on the global pool when `RAYON_NUM_THREADS` is set or a pool
/// cannot be started.
pub fn with_threads<R: Send>(threads: usize, flush: bool, work: impl FnOnce() -> R + Send) -> R {
    if overridden() {
        return work();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("bnx-compute-{i}"))
        .start_handler(move |_| {
            set_flush_on_this_thread(flush);
        })
        .build();
    match pool {
        Ok(pool) => pool.install(|| {
            set_flush_on_this_thread(flush);
            work()
        }),
        Err(_) => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_steps_get_one_thread_and_large_ones_their_share_of_the_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(threads_for_run(110_912 * 128, 1), 1);
        assert_eq!(threads_for_run(2_528_000 * 8, 1), cores);
        assert_eq!(threads_for_run(2_528_000 * 32, 1), cores);
        assert_eq!(threads_for_run(2_528_000 * 32, 2), (cores / 2).max(1));
        assert_eq!(threads_for_run(2_528_000 * 32, 4 * cores), 1);
    }

    #[test]
    fn work_runs_on_a_pool_of_the_asked_size_with_the_asked_subnormal_handling() {
        if overridden() {
            return;
        }
        let flushing = || {
            rayon::broadcast(|_| super::super::subnormals::flushing_on_this_thread())
                .into_iter()
                .all(|f| f)
        };
        #[cfg(target_arch = "x86_64")]
        assert!(with_threads(2, true, flushing));
        assert_eq!(with_threads(3, false, rayon::current_num_threads), 3);
        assert_eq!(with_threads(1, false, rayon::current_num_threads), 1);
    }
}
