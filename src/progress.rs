//! Progress of long work (a large index rebuild, import or curate), for a frontend to show.
//!
//! The library never prints. A frontend that wants progress installs one [`Progress`] for the
//! process with [`install`] (the CLI draws an indicatif bar on stderr when stderr is a
//! terminal); the library reports through [`begin`], [`advance`] and [`end`], which do nothing
//! when none is installed. This is the `log` crate's pattern: one process-wide sink, set once.

use std::sync::OnceLock;

/// Work smaller than this many steps is not reported (a bar that flashes is noise).
pub const MIN_STEPS: u64 = 500;

/// Something that shows progress.
pub trait Progress: Send + Sync {
    /// Work called `label` with `total` steps begins.
    fn begin(&self, label: &str, total: u64);
    /// `n` more steps are done.
    fn advance(&self, n: u64);
    /// The work is over (done or abandoned).
    fn end(&self);
}

static SINK: OnceLock<Box<dyn Progress>> = OnceLock::new();

/// Installs the process's progress sink; `false` when one was installed already.
pub fn install(sink: Box<dyn Progress>) -> bool {
    SINK.set(sink).is_ok()
}

/// Work with `total` steps begins (reported only from [`MIN_STEPS`] steps). Returns a guard
/// that ends it when dropped, so an early return or an error never leaves a bar behind.
pub fn begin(label: &str, total: u64) -> Guard {
    begin_at(label, total, MIN_STEPS)
}

/// As [`begin`], for work whose steps are slow: reported from `min_steps` steps.
pub fn begin_at(label: &str, total: u64, min_steps: u64) -> Guard {
    let shown = total >= min_steps;
    if shown && let Some(s) = SINK.get() {
        s.begin(label, total);
    }
    Guard { shown }
}

/// Ends the work [`begin`] reported, when dropped.
#[must_use = "the work ends when the guard is dropped"]
pub struct Guard {
    shown: bool,
}

impl Guard {
    /// `n` more steps are done.
    pub fn advance(&self, n: u64) {
        if self.shown
            && let Some(s) = SINK.get()
        {
            s.advance(n);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.shown
            && let Some(s) = SINK.get()
        {
            s.end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Record(Mutex<Vec<String>>);

    impl Progress for &'static Record {
        fn begin(&self, label: &str, total: u64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("begin {label} {total}"));
        }
        fn advance(&self, n: u64) {
            self.0.lock().unwrap().push(format!("advance {n}"));
        }
        fn end(&self) {
            self.0.lock().unwrap().push("end".into());
        }
    }

    #[test]
    fn small_work_is_not_shown_and_a_guard_always_ends_it() {
        static RECORD: Record = Record(Mutex::new(Vec::new()));
        assert!(install(Box::new(&RECORD)));
        assert!(!install(Box::new(&RECORD)), "set once");
        {
            let g = begin("small", 3);
            g.advance(3);
        }
        {
            let g = begin("indexing", 1000);
            g.advance(400);
            // dropped early, as by an error
        }
        assert_eq!(
            *RECORD.0.lock().unwrap(),
            ["begin indexing 1000", "advance 400", "end"]
        );
    }
}
