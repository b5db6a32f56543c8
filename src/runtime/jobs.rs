//! Independent work items run `jobs` at a time on scoped threads, results in input order.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Calls `work` on every item, `jobs` at a time, and returns the results in the items' order.
/// After the first error no further item is started; that error is returned.
pub fn run_in_parallel<T: Sync, R: Send, E: Send>(
    jobs: usize,
    items: &[T],
    work: impl Fn(&T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let failure: Mutex<Option<E>> = Mutex::new(None);
    let worker = || {
        while failure
            .lock()
            .expect("no worker panics holding it")
            .is_none()
        {
            let index = next.fetch_add(1, Ordering::SeqCst);
            let Some(item) = items.get(index) else { break };
            match work(item) {
                Ok(result) => {
                    results.lock().expect("no worker panics holding it")[index] = Some(result)
                }
                Err(error) => {
                    failure
                        .lock()
                        .expect("no worker panics holding it")
                        .get_or_insert(error);
                }
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(worker);
        }
    });
    if let Some(error) = failure.into_inner().expect("workers are done") {
        return Err(error);
    }
    Ok(results
        .into_inner()
        .expect("workers are done")
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order_whatever_the_jobs() {
        let items: Vec<u64> = (0..20).collect();
        for jobs in [1, 3, 64] {
            let squares: Result<Vec<u64>, ()> = run_in_parallel(jobs, &items, |&i| {
                std::thread::sleep(std::time::Duration::from_millis(20 - i));
                Ok(i * i)
            });
            assert_eq!(
                squares.unwrap(),
                items.iter().map(|i| i * i).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn the_first_error_stops_new_work() {
        let started = AtomicUsize::new(0);
        let items: Vec<u32> = (0..100).collect();
        let result = run_in_parallel(1, &items, |&i| {
            started.fetch_add(1, Ordering::SeqCst);
            if i == 3 {
                Err(format!("item {i}"))
            } else {
                Ok(i)
            }
        });
        assert_eq!(result.unwrap_err(), "item 3");
        assert_eq!(started.load(Ordering::SeqCst), 4);
    }
}
