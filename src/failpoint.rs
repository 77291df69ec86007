//! Fault injection for crash tests (debug builds only; compiled out of release builds).
//!
//! `MEMTREE_FAILPOINT=NAME[#N][:sh:COMMAND]` makes the process stop at the `N`th time (default
//! the first) it reaches the point `NAME`, as a `kill -9` would: `std::process::abort`, so no
//! destructor runs and no temporary file is cleaned up. With `:sh:COMMAND` it runs
//! `sh -c COMMAND` there instead and carries on (a concurrent `git commit`, a hand edit).
//!
//! Points:
//! - `rename`: every rename memtree makes in the tree, the journal's included (counted over
//!   the whole process, so `rename#3` stops before the third);
//! - `commit`: after a changeset is installed, before its git commit;
//! - `head`: after the commit object is written, before HEAD is moved to it;
//! - `git`: each step boundary of a git commit (`src/git/commit.rs`): before the index is
//!   written, before it is installed, before the commit object, before HEAD moves, and before
//!   the index lock is released;
//! - `setup`: before `memtree setup` swaps each planned file in (an editor saving it then).
//!
//! This is what the `fail` crate's `fail_point!` does, in twenty lines and without a feature
//! flag that `cargo test` would have to enable.

#[cfg(debug_assertions)]
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(debug_assertions)]
static HITS: [AtomicUsize; 5] = [
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
];

/// Reaches the failpoint `name` (`rename`, `commit`, `head`, `git` or `setup`): see the module doc. A no-op in
/// release builds and when `MEMTREE_FAILPOINT` names another point.
#[cfg(debug_assertions)]
pub(crate) fn hit(name: &'static str) {
    let Ok(spec) = std::env::var("MEMTREE_FAILPOINT") else {
        return;
    };
    let (point, action) = match spec.split_once(":sh:") {
        Some((p, cmd)) => (p, Some(cmd)),
        None => (spec.as_str(), None),
    };
    let (point, nth) = match point.split_once('#') {
        Some((p, n)) => (p, n.parse::<usize>().unwrap_or(1)),
        None => (point, 1),
    };
    if point != name {
        return;
    }
    let slot = match name {
        "rename" => 0,
        "commit" => 1,
        "head" => 2,
        "git" => 3,
        _ => 4,
    };
    if HITS[slot].fetch_add(1, Ordering::SeqCst) + 1 != nth {
        return;
    }
    match action {
        Some(cmd) => {
            let _ = std::process::Command::new("/bin/sh")
                .args(["-c", cmd])
                .status();
        }
        None => std::process::abort(),
    }
}

/// Release builds: no failpoints.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub(crate) fn hit(_name: &'static str) {}
