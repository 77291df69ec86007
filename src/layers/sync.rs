//! `layers sync`: git is the engine that shares a layer. A git layer not cloned yet is cloned
//! into the user's cache; every layer that is a git repository with an upstream is pulled
//! (`git pull --no-rebase`) with memtree's merge driver registered in that clone (its own
//! `.git/info/attributes`, so the clone's tracked files are not touched), and a read-write
//! layer with local commits is pushed. The user's own git runs, with the user's credentials:
//! memtree never sees or stores them. A conflict is left as git leaves it and reported.
//! Nothing syncs during a query.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use super::{Access, Layer, PROJECT};

/// What `layers sync` did for one layer (`memtree.layers-sync/v1`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SyncRow {
    /// The layer's name.
    pub name: String,
    /// `cloned`, `pulled`, `up-to-date`, `conflict`, `skipped` or `failed`.
    pub action: &'static str,
    /// Commits that came in.
    pub pulled: usize,
    /// Local commits pushed (0 for a read-only layer, which is never pushed).
    pub pushed: usize,
    /// What the user should know: the files in conflict, why it was skipped, git's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Wall time, in milliseconds.
    pub elapsed_ms: f64,
}

/// `git -C dir ARGS` with the user's environment; stdout trimmed, or stderr as the error.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_MERGE_AUTOEDIT", "no")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Err(if err.is_empty() { msg } else { err })
    }
}

/// Registers memtree's merge driver in the repository at `top`: its config and its
/// `.git/info/attributes` (never a tracked file). Idempotent.
fn register_driver(top: &Path) -> Result<(), String> {
    let key = format!("merge.{}.driver", crate::hooks::DRIVER);
    if git(top, &["config", "--local", "--get", &key])
        .ok()
        .as_deref()
        != Some(crate::hooks::DRIVER_COMMAND)
    {
        git(
            top,
            &["config", "--local", &key, crate::hooks::DRIVER_COMMAND],
        )?;
        git(
            top,
            &[
                "config",
                "--local",
                &format!("merge.{}.name", crate::hooks::DRIVER),
                "memtree entry merge (field by field)",
            ],
        )?;
    }
    let dir = git(top, &["rev-parse", "--git-path", "info/attributes"])?;
    let file = top.join(dir);
    let line = format!("*.md merge={}", crate::hooks::DRIVER);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    if !text.lines().any(|l| l.trim() == line) {
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut new = text;
        if !new.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str(&line);
        new.push('\n');
        std::fs::write(&file, new).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(())
}

/// Syncs one layer (see the module doc). Never fails: what went wrong is in the row.
pub fn sync(layer: &Layer) -> SyncRow {
    let start = Instant::now();
    let mut row = SyncRow {
        name: layer.name.clone(),
        action: "skipped",
        pulled: 0,
        pushed: 0,
        detail: None,
        elapsed_ms: 0.0,
    };
    let outcome = sync_inner(layer, &mut row);
    if let Err(e) = outcome {
        row.action = "failed";
        row.detail = Some(e);
    }
    row.elapsed_ms = crate::memory::ms(start);
    row
}

fn sync_inner(layer: &Layer, row: &mut SyncRow) -> Result<(), String> {
    if layer.name == PROJECT {
        row.detail = Some("the project is shared through its own repository".into());
        return Ok(());
    }
    let Some(root) = &layer.root else {
        row.detail = layer.unavailable.clone();
        return Ok(());
    };
    // A git layer's clone: the folder that holds `.memory`.
    if let Some(url) = &layer.git {
        let dir = root.parent().map(Path::to_path_buf).unwrap_or_default();
        if !dir.join(".git").exists() {
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            let parent = dir
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            git(
                &parent,
                &["clone", "--quiet", "--", url, &dir.display().to_string()],
            )?;
            let top = PathBuf::from(git(&dir, &["rev-parse", "--show-toplevel"])?);
            register_driver(&top)?;
            row.action = "cloned";
            if !root.is_dir() {
                row.detail = Some(format!(
                    "the repository holds no .memory folder at its top ({})",
                    dir.display()
                ));
            }
            return Ok(());
        }
    }
    if let Some(why) = &layer.unavailable {
        row.detail = Some(why.clone());
        return Ok(());
    }
    let Ok(top) = git(root, &["rev-parse", "--show-toplevel"]) else {
        row.detail = Some(format!("{} is not in a git repository", root.display()));
        return Ok(());
    };
    let top = PathBuf::from(top);
    if git(
        &top,
        &[
            "rev-parse",
            "--abbrev-ref",
            "--symbolic-full-name",
            "@{upstream}",
        ],
    )
    .is_err()
    {
        row.detail = Some("the current branch has no upstream to pull from".into());
        return Ok(());
    }
    register_driver(&top)?;
    let before = git(&top, &["rev-parse", "HEAD"]).unwrap_or_default();
    if let Err(e) = git(&top, &["pull", "--quiet", "--no-rebase", "--no-edit"]) {
        let conflicted = git(&top, &["diff", "--name-only", "--diff-filter=U"]).unwrap_or_default();
        if conflicted.is_empty() {
            return Err(e);
        }
        row.action = "conflict";
        row.detail = Some(format!(
            "git left a conflict in {} ({}): resolve it there (`memtree check` finds the \
             markers), then git commit",
            top.display(),
            conflicted.lines().collect::<Vec<_>>().join(", ")
        ));
        return Ok(());
    }
    let after = git(&top, &["rev-parse", "HEAD"]).unwrap_or_default();
    row.pulled = if before == after || before.is_empty() {
        0
    } else {
        git(
            &top,
            &["rev-list", "--count", &format!("{before}..{after}")],
        )
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
    };
    row.action = if row.pulled > 0 {
        "pulled"
    } else {
        "up-to-date"
    };
    let ahead: usize = git(&top, &["rev-list", "--count", "@{upstream}..HEAD"])
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if ahead > 0 {
        if layer.access == Access::ReadOnly {
            row.detail = Some(format!(
                "{ahead} local commit(s) not pushed: the layer is read-only"
            ));
        } else {
            git(&top, &["push", "--quiet"])?;
            row.pushed = ahead;
        }
    }
    Ok(())
}
