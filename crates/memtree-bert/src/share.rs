//! Work shared with a second thread that may not be running.
//!
//! A product is cut into parts ([`parts`]). The caller posts it to the helper thread and then
//! claims parts itself, one at a time, from an atomic counter; the helper, when it runs, claims
//! parts from the same counter. The caller never waits for a part nobody has started: when the
//! machine is busy and the helper is not scheduled, the caller does every part itself, as one
//! thread would. It waits only for a part the helper has claimed and not finished.
//!
//! Why not a thread per product or a rayon pool (measured on 2 vCPUs, Linux 6.18, BENCHMARKS.md
//! "The query encode, round 3"): a thread just spawned started 0.1 to 2 ms later, often only
//! once its parent blocked, so a split onto a scoped thread ran after the caller's half; rayon's
//! pool ran the halves side by side when the machine was idle, but with two busy processes
//! beside it a query took about 1.6 times as long as on one thread (the caller hands the whole
//! encode to a pool thread, and its idle threads yield the processor while they look for
//! work). The helper here spins for [`SPIN`] after each part, so it is awake for the next
//! product of the same encode, and otherwise sleeps on a condition variable: it costs nothing
//! between queries. It is as fast as rayon's pool when idle, but with two busy processes beside
//! it a query still took 27–31 ms against about 18 on one thread, so the caller asks for it
//! only while a core is free (memtree's `semantic::dense::query_threads`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long the helper looks for the next product before it sleeps: longer than the attention
/// and layer norms between two products of one encode (tens of microseconds), far shorter than
/// the time between two queries.
const SPIN: Duration = Duration::from_micros(200);

/// Work the helper can take a share of.
trait Help: Send + Sync {
    /// Claims and runs parts until none is left.
    fn help(&self);
}

/// `count` parts of `run`, their results, and how many are done.
struct Task<T, F> {
    run: F,
    count: usize,
    next: AtomicUsize,
    /// Each part's result (a panic's payload when it panicked), and how many there are.
    done: Mutex<(Vec<Option<std::thread::Result<T>>>, usize)>,
    finished: Condvar,
}

impl<T: Send, F: Fn(usize) -> T + Send + Sync> Task<T, F> {
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::AcqRel);
            if i >= self.count {
                return;
            }
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.run)(i)));
            // Nothing panics while the lock is held, so it is never poisoned; take it anyway.
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            done.0[i] = Some(result);
            done.1 += 1;
            if done.1 == self.count {
                self.finished.notify_all();
            }
        }
    }
}

impl<T: Send, F: Fn(usize) -> T + Send + Sync> Help for Task<T, F> {
    fn help(&self) {
        self.work();
    }
}

/// The helper thread's mailbox: the work posted last (an earlier post that nobody took is
/// simply replaced: its caller does it itself).
struct Helper {
    posted: Mutex<Option<Arc<dyn Help>>>,
    /// Set with each post, so the spinning helper need not take the lock to look.
    ready: AtomicBool,
    wake: Condvar,
}

impl Helper {
    fn post(&self, work: Arc<dyn Help>) {
        if let Ok(mut slot) = self.posted.lock() {
            *slot = Some(work);
            self.ready.store(true, Ordering::Release);
            self.wake.notify_one();
        }
    }

    fn take(&self) -> Option<Arc<dyn Help>> {
        let mut slot = self.posted.lock().ok()?;
        self.ready.store(false, Ordering::Release);
        slot.take()
    }

    /// The next work: looked for during [`SPIN`], then waited for.
    fn next(&self) -> Option<Arc<dyn Help>> {
        let until = Instant::now() + SPIN;
        while Instant::now() < until {
            if self.ready.load(Ordering::Acquire)
                && let Some(work) = self.take()
            {
                return Some(work);
            }
            std::hint::spin_loop();
        }
        let mut slot = self.posted.lock().ok()?;
        loop {
            if let Some(work) = slot.take() {
                self.ready.store(false, Ordering::Release);
                return Some(work);
            }
            slot = self.wake.wait(slot).ok()?;
        }
    }
}

/// The helper thread, started on first use and kept for the process; `None` when no thread
/// can be started.
fn helper() -> Option<&'static Helper> {
    static HELPER: OnceLock<Option<&'static Helper>> = OnceLock::new();
    *HELPER.get_or_init(|| {
        let helper: &'static Helper = Box::leak(Box::new(Helper {
            posted: Mutex::new(None),
            ready: AtomicBool::new(false),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("memtree-bert".into())
            .spawn(move || {
                while let Some(work) = helper.next() {
                    work.help();
                }
            })
            .ok()
            .map(|_| helper)
    })
}

/// The results of `run(0)`, …, `run(count - 1)`, in that order, computed by the calling thread
/// and, for the parts it claims while it runs, the helper thread (started on the first call; the
/// caller runs every part when it cannot be).
///
/// # Panics
/// When a part panicked (on whichever thread ran it), with that panic's payload.
pub(crate) fn parts<T, F>(count: usize, run: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> T + Send + Sync + 'static,
{
    let task = Arc::new(Task {
        run,
        count,
        next: AtomicUsize::new(0),
        done: Mutex::new(((0..count).map(|_| None).collect(), 0)),
        finished: Condvar::new(),
    });
    if let Some(helper) = helper().filter(|_| count > 1) {
        helper.post(task.clone());
    }
    task.work();
    let results = {
        let mut done = task.done.lock().unwrap_or_else(|e| e.into_inner());
        while done.1 < count {
            done = task.finished.wait(done).unwrap_or_else(|e| e.into_inner());
        }
        std::mem::take(&mut done.0)
    };

    results
        .into_iter()
        .map(|r| match r {
            Some(Ok(v)) => v,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            // Each result is stored before it is counted.
            None => unreachable!("a shared part counted done without its result"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_is_run_once_in_order() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let out = parts(37, move |i| {
            counted.fetch_add(1, Ordering::Relaxed);
            i * i
        });
        assert_eq!(out, (0..37).map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(runs.load(Ordering::Relaxed), 37);
        // Again, with the helper awake from the last call.
        assert_eq!(parts(3, |i| i + 1), vec![1, 2, 3]);
    }

    #[test]
    fn a_panic_in_a_part_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| parts(4, |i| assert!(i != 2, "part two")));
        let payload = caught.expect_err("the part's panic");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"part two"));
        // The helper survives it.
        assert_eq!(parts(2, |i| i), vec![0, 1]);
    }
}
