//! How many threads one training run computes on.
//!
//! flex splits every large operation over a rayon pool. For a small network there is nothing to
//! split: below [`ONE_THREAD_BELOW`] a second thread would only wait. And runs
//! trained side by side (`--jobs`) that share one pool wait on each other's tasks. So each run
//! gets a pool of its own: one thread when its steps are small, else its share of the cores
//! (`cores / jobs`). The threshold comes from `bnx bench` on this project's 2-core machine
//! (README, Speed). `RAYON_NUM_THREADS` overrides the policy: every run then uses the global pool
//! that rayon sizes from it.

use super::subnormals::set_flush_on_this_thread;

/// Multiply-adds per training-step forward pass (samples × per-sample work) below which a run
/// computes on one thread. Below it no product of the guide's MLP is large enough for flex to
/// split over threads (192³ ≈ 7.1 M multiply-adds; the MLP at batch 64 has 7.1 M in all), so a
/// second thread would only wait. Measured with `bnx bench` (README, Speed): the MLP at batch 128
/// (14 M) trains about 16 % faster on two threads than on one now that the second stays
/// [`awake`] through a step (slower before), and the CNN already at batch 8 (20 M) on two.
pub const ONE_THREAD_BELOW: usize = 8_000_000;

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

/// Runs a training run's `work` as [`with_threads`] does, with the pool's other threads kept
/// [`awake`] until it returns.
pub fn with_training_threads<R: Send>(
    threads: usize,
    flush: bool,
    work: impl FnOnce() -> R + Send,
) -> R {
    with_threads(threads, flush, || awake(work))
}

/// Polls for a task (each well under a microsecond) an awake thread makes between two offers of
/// its core to the scheduler: rarely enough that a task is taken within about a microsecond of
/// being posted, often enough that the thread building the next batch is not kept waiting.
const IDLE_POLLS_BEFORE_YIELD: u32 = 256;

/// Runs `work` on the current rayon pool with the pool's other threads kept awake until it
/// returns: each waits for the pool's tasks in a loop instead of going to sleep between them.
///
/// A training step alternates short parallel kernels with serial work (autodiff's bookkeeping,
/// small operations). Between two kernels rayon's idle threads go to sleep, and on this project's
/// virtual machine waking one took long enough that the guide's MLP at batch 128 trained slower on
/// two threads than on one even though its two large products ran 1.35x and 1.6x faster on two
/// (README, Speed). PyTorch's OpenMP threads likewise spin between parallel regions. The cost is
/// that the other cores stay busy while `work` runs, which is why a run gets its own pool, sized
/// by [`threads_for_run`], never more threads than cores.
fn awake<R>(work: impl FnOnce() -> R) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    let others = rayon::current_num_threads().saturating_sub(1);
    let (Some(owner), true) = (rayon::current_thread_index(), others > 0) else {
        return work();
    };
    let done = AtomicBool::new(false);
    rayon::in_place_scope(|scope| {
        for _ in 0..others {
            scope.spawn(|_| {
                // Taken by `work`'s own thread while it waited on a task of its own: looping here
                // would keep that thread from ever returning to `work`, which sets `done`.
                if rayon::current_thread_index() == Some(owner) {
                    return;
                }
                let mut idle = 0u32;
                while !done.load(Ordering::Acquire) {
                    if rayon::yield_now() == Some(rayon::Yield::Executed) {
                        idle = 0;
                    } else if idle == IDLE_POLLS_BEFORE_YIELD {
                        // Lets a thread outside the pool (the one building the next batch) have
                        // this core now and then.
                        std::thread::yield_now();
                        idle = 0;
                    } else {
                        std::hint::spin_loop();
                        idle += 1;
                    }
                }
            });
        }
        let result = work();
        done.store(true, Ordering::Release);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_steps_get_one_thread_and_large_ones_their_share_of_the_cores() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(threads_for_run(110_912 * 32, 1), 1);
        assert_eq!(threads_for_run(110_912 * 128, 1), cores);
        assert_eq!(threads_for_run(2_528_000 * 8, 1), cores);
        assert_eq!(threads_for_run(2_528_000 * 32, 1), cores);
        assert_eq!(threads_for_run(2_528_000 * 32, 2), (cores / 2).max(1));
        assert_eq!(threads_for_run(2_528_000 * 32, 4 * cores), 1);
    }

    /// `awake` returns what its work returns, the work's parallel tasks still run and give the
    /// right result, and the other threads stop waiting once the work is done (without that, the
    /// scope would never end: the watchdog fails the test instead of hanging it).
    #[test]
    fn awake_runs_the_work_and_lets_the_other_threads_go_when_it_returns() {
        use rayon::prelude::*;
        for threads in [1, 2, 3] {
            let (sender, receiver) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let sums = pool.install(|| {
                    awake(|| {
                        (0..200)
                            .map(|round| {
                                (0..10_000u64)
                                    .into_par_iter()
                                    .map(|i| i * round)
                                    .sum::<u64>()
                            })
                            .collect::<Vec<_>>()
                    })
                });
                sender.send(sums).unwrap();
            });
            let sums = receiver
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("awake on {threads} threads did not return"));
            let expected: Vec<u64> = (0..200).map(|round| round * 9_999 * 10_000 / 2).collect();
            assert_eq!(sums, expected);
        }
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
