//! `hooks install|uninstall|status`: git hooks that tidy the tree after a session, and the
//! registration of the merge driver (DESIGN.md §5).
//!
//! Hooks: post-commit, post-merge, post-checkout and post-rewrite each get a marked block that
//! runs `memtree consolidate --hook`, which refreshes the index and applies only changes that
//! lose nothing (see [`crate::memory::Memory::consolidate`]). The block:
//! - never replaces a hook: it is appended to a shell hook already there (before a final
//!   `exec` line, which would otherwise never return), and a hook in another language is kept
//!   as `NAME.pre-memtree` and called first by a small shell hook;
//! - respects `core.hooksPath` (so husky's and lefthook's setups keep working);
//! - does nothing when memtree is not on PATH, exits 0 whatever happens, and cannot recurse
//!   (`MEMTREE_HOOK` is set while it runs; memtree's own commits are made by libgit2, which
//!   runs no hooks).
//!
//! Merge driver: `.memory/.gitattributes` says `*.md merge=memtree`, and the repository's own
//! config names the driver, which falls back to git's text merge when memtree is not on PATH.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::git::Repo;
use crate::tree::Tree;

/// The hooks memtree installs.
pub const HOOKS: &[&str] = &["post-commit", "post-merge", "post-checkout", "post-rewrite"];

const BEGIN: &str =
    "# >>> memtree (managed by `memtree hooks install`; `memtree hooks uninstall` removes it) >>>";
const END: &str = "# <<< memtree <<<";
/// The suffix under which a hook in another language is kept and chained.
const CHAINED: &str = ".pre-memtree";
/// The merge driver's name in git config and `.gitattributes`.
pub const DRIVER: &str = "memtree";
const ATTRIBUTES: &str = "*.md merge=memtree\n";

/// One hook's state.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HookState {
    /// Hook name (`post-commit`, ...).
    pub name: String,
    /// The hook file.
    pub file: String,
    /// `installed`, `missing`, or `chained` (memtree's block runs after a hook that was there).
    pub state: &'static str,
}

/// What `hooks install`, `uninstall` or `status` found or did (`memtree.hooks/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct HooksReport {
    /// Always `memtree.hooks/v1`.
    pub schema: &'static str,
    /// The hooks folder (`core.hooksPath`, or `.git/hooks`).
    pub hooks_dir: String,
    /// Each hook.
    pub hooks: Vec<HookState>,
    /// Whether git config names the merge driver and `.memory/.gitattributes` routes entries
    /// to it.
    pub merge_driver: bool,
    /// What changed, in words.
    pub changed: Vec<String>,
}

fn io(action: &'static str, path: &Path, e: std::io::Error) -> Error {
    Error::io(action, path, e)
}

/// The folder git runs hooks from: `core.hooksPath` (relative to the work tree), else the
/// repository's `hooks` folder (shared by linked work trees).
fn hooks_dir(repo: &git2::Repository) -> PathBuf {
    let workdir = repo.workdir().map(Path::to_path_buf).unwrap_or_default();
    if let Ok(cfg) = repo.config()
        && let Ok(p) = cfg.get_path("core.hooksPath")
    {
        return if p.is_absolute() { p } else { workdir.join(p) };
    }
    repo.commondir().join("hooks")
}

/// The block a hook runs, for the project at `project` (relative to the work tree).
fn block(project: &str) -> String {
    let root = shell_quote(project);
    format!(
        "{BEGIN}\n\
         if [ -z \"$MEMTREE_HOOK\" ] && command -v memtree >/dev/null 2>&1; then\n\
         \x20 MEMTREE_HOOK=1 memtree --root {root} consolidate --hook >/dev/null 2>&1 || true\n\
         fi\n\
         {END}\n"
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `text` without memtree's block.
fn without_block(text: &str) -> String {
    let Some(start) = text.find(BEGIN) else {
        return text.to_string();
    };
    let end = text[start..]
        .find(END)
        .map_or(text.len(), |e| start + e + END.len());
    // The blank line `with_block` put before the block goes with it.
    let mut out = text[..start].trim_end_matches('\n').to_string();
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text[end..].trim_start_matches('\n'));
    out
}

fn is_shell(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("");
    !first.starts_with("#!")
        || [
            "/sh", "/bash", "/dash", "/zsh", "env sh", "env bash", "env zsh",
        ]
        .iter()
        .any(|s| first.contains(s))
}

/// Inserts `block` into a shell hook: before a final `exec` line, else at the end.
fn with_block(text: &str, block: &str) -> String {
    let base = without_block(text);
    let lines: Vec<&str> = base.lines().collect();
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    match last {
        Some(i) if lines[i].trim_start().starts_with("exec ") => {
            let mut out = lines[..i].join("\n");
            out.push('\n');
            out.push_str(block);
            out.push_str(&lines[i..].join("\n"));
            out.push('\n');
            out
        }
        _ => {
            let mut out = base.trim_end().to_string();
            if out == "#!/bin/sh" {
                out.push('\n');
            } else if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(block);
            out
        }
    }
}

fn write_exec(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(|e| io("cannot write", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| io("cannot make executable", path, e))
}

fn state_of(dir: &Path, name: &str) -> HookState {
    let file = dir.join(name);
    let text = fs::read_to_string(&file).unwrap_or_default();
    let others = without_block(&text);
    let state = if !text.contains(BEGIN) {
        "missing"
    } else if dir.join(format!("{name}{CHAINED}")).exists()
        || !matches!(others.trim(), "" | "#!/bin/sh")
    {
        "chained"
    } else {
        "installed"
    };
    HookState {
        name: name.to_string(),
        file: file.display().to_string(),
        state,
    }
}

/// The merge driver git runs: memtree when it is on PATH, git's own text merge only when it
/// is not. (Not `memtree ... || git merge-file ...`: memtree exits 1 for a conflict it marked,
/// and git merge-file would then merge memtree's output again, nesting markers.)
pub const DRIVER_COMMAND: &str = "if command -v memtree >/dev/null 2>&1; then memtree merge-driver %O %A %B %P; else git merge-file -L ours -L base -L theirs %A %O %B; fi";

fn driver_registered(repo: &git2::Repository, tree: &Tree) -> bool {
    // An older driver command counts as not registered: `hooks install` replaces it.
    let configured = repo
        .config()
        .and_then(|c| c.get_string(&format!("merge.{DRIVER}.driver")))
        .is_ok_and(|d| d == DRIVER_COMMAND);
    let attrs = attributes(tree).unwrap_or_default();
    configured && attrs.lines().any(|l| l.trim() == ATTRIBUTES.trim())
}

/// `.memory/.gitattributes`, read through the safe-path routine (empty when missing).
fn attributes(tree: &Tree) -> Result<String> {
    let p = tree.safe(".gitattributes")?;
    match tree.read(&p) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(String::new())
        }
        Err(e) => Err(e),
    }
}

/// Installs the hooks and registers the merge driver. Idempotent: a second run changes
/// nothing. `.memory/.gitattributes` is written through the safe-path routine.
///
/// # Errors
/// [`Error::NoGit`] outside a repository; I/O errors on the hooks folder.
pub fn install(tree: &Tree) -> Result<HooksReport> {
    let r = Repo::open(tree)?;
    let (repo, project) = (r.git(), r.project());
    let dir = hooks_dir(repo);
    fs::create_dir_all(&dir).map_err(|e| io("cannot create folder", &dir, e))?;
    let mut changed = Vec::new();
    let block = block(&project);
    for name in HOOKS {
        let file = dir.join(name);
        let existing = fs::read_to_string(&file).ok();
        let new = match &existing {
            None => with_block("#!/bin/sh\n", &block),
            Some(text) if is_shell(text) => with_block(text, &block),
            Some(_) => {
                // Another language: keep it under a new name and call it first.
                let kept = dir.join(format!("{name}{CHAINED}"));
                if !kept.exists() {
                    fs::rename(&file, &kept).map_err(|e| io("cannot rename", &file, e))?;
                    changed.push(format!("{name}: kept the existing hook as {name}{CHAINED}"));
                }
                format!("#!/bin/sh\n\"$(dirname \"$0\")/{name}{CHAINED}\" \"$@\"\n{block}")
            }
        };
        if existing.as_deref() != Some(new.as_str()) {
            write_exec(&file, &new)?;
            changed.push(format!("{name}: installed"));
        }
    }
    // The merge driver: repository config, and attributes inside the tree.
    let mut cfg = repo
        .config()
        .and_then(|c| c.open_level(git2::ConfigLevel::Local))
        .map_err(|e| Error::Git(e.message().to_string()))?;
    let driver = DRIVER_COMMAND;
    if cfg
        .get_string(&format!("merge.{DRIVER}.driver"))
        .ok()
        .as_deref()
        != Some(driver)
    {
        cfg.set_str(
            &format!("merge.{DRIVER}.name"),
            "memtree entry merge (field by field)",
        )
        .and_then(|()| cfg.set_str(&format!("merge.{DRIVER}.driver"), driver))
        .map_err(|e| Error::Git(e.message().to_string()))?;
        changed.push(format!("git config merge.{DRIVER}.driver"));
    }
    let attrs = tree.safe(".gitattributes")?;
    let current = attributes(tree)?;
    if !current.lines().any(|l| l.trim() == ATTRIBUTES.trim()) {
        let mut text = current.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(ATTRIBUTES);
        tree.write_atomic(&attrs, text.as_bytes())?;
        changed.push(".memory/.gitattributes: *.md merge=memtree".into());
    }
    status_with(tree, repo, changed)
}

/// Removes memtree's blocks (and hooks that held nothing else), restores chained hooks, and
/// unregisters the merge driver. Hooks of other tools stay as they are.
///
/// # Errors
/// [`Error::NoGit`] outside a repository; I/O errors.
pub fn uninstall(tree: &Tree) -> Result<HooksReport> {
    let r = Repo::open(tree)?;
    let repo = r.git();
    let dir = hooks_dir(repo);
    let mut changed = Vec::new();
    for name in HOOKS {
        let file = dir.join(name);
        let kept = dir.join(format!("{name}{CHAINED}"));
        if kept.exists() {
            fs::rename(&kept, &file).map_err(|e| io("cannot rename", &kept, e))?;
            changed.push(format!("{name}: restored the hook that was there"));
            continue;
        }
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        if !text.contains(BEGIN) {
            continue;
        }
        let rest = without_block(&text);
        if rest.trim().is_empty() || rest.trim() == "#!/bin/sh" {
            fs::remove_file(&file).map_err(|e| io("cannot remove", &file, e))?;
        } else {
            write_exec(&file, &rest)?;
        }
        changed.push(format!("{name}: removed"));
    }
    if let Ok(mut cfg) = repo
        .config()
        .and_then(|c| c.open_level(git2::ConfigLevel::Local))
        && cfg.get_string(&format!("merge.{DRIVER}.driver")).is_ok()
    {
        let _ = cfg.remove(&format!("merge.{DRIVER}.driver"));
        let _ = cfg.remove(&format!("merge.{DRIVER}.name"));
        changed.push(format!("git config merge.{DRIVER}: removed"));
    }
    let attrs = tree.safe(".gitattributes")?;
    let text = attributes(tree)?;
    if text.lines().any(|l| l.trim() == ATTRIBUTES.trim()) {
        let rest: String = text
            .lines()
            .filter(|l| l.trim() != ATTRIBUTES.trim())
            .map(|l| format!("{l}\n"))
            .collect();
        if rest.trim().is_empty() {
            tree.remove(&attrs)?;
        } else {
            tree.write_atomic(&attrs, rest.as_bytes())?;
        }
        changed.push(".memory/.gitattributes: removed the merge driver line".into());
    }
    status_with(tree, repo, changed)
}

/// Which hooks are installed and whether the merge driver is registered.
///
/// # Errors
/// [`Error::NoGit`] outside a repository.
pub fn status(tree: &Tree) -> Result<HooksReport> {
    let r = Repo::open(tree)?;
    let repo = r.git();
    status_with(tree, repo, Vec::new())
}

fn status_with(tree: &Tree, repo: &git2::Repository, changed: Vec<String>) -> Result<HooksReport> {
    let dir = hooks_dir(repo);
    Ok(HooksReport {
        schema: "memtree.hooks/v1",
        hooks_dir: dir.display().to_string(),
        hooks: HOOKS.iter().map(|n| state_of(&dir, n)).collect(),
        merge_driver: driver_registered(repo, tree),
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_goes_before_a_final_exec_and_comes_out_whole() {
        let b = block(".");
        let hook = "#!/bin/sh\necho before\nexec lefthook run post-commit \"$@\"\n";
        let with = with_block(hook, &b);
        assert!(
            with.find(BEGIN).unwrap() < with.find("exec lefthook").unwrap(),
            "{with}"
        );
        assert_eq!(with_block(&with, &b), with, "idempotent");
        assert_eq!(without_block(&with), hook);
        let plain = "#!/bin/sh\necho mine\n";
        assert_eq!(
            without_block(&with_block(plain, &b)).trim_end(),
            plain.trim_end()
        );
    }

    #[test]
    fn shell_detection() {
        assert!(is_shell("#!/bin/sh\n"));
        assert!(is_shell("#!/usr/bin/env bash\n"));
        assert!(is_shell("echo no shebang\n"));
        assert!(!is_shell("#!/usr/bin/env python3\n"));
        assert!(!is_shell("#!/usr/bin/env node\n"));
    }
}
