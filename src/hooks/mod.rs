//! `hooks install|uninstall|status`: git hooks that tidy the tree after a session, and the
//! registration of the merge driver (DESIGN.md §5).
//!
//! Hooks: post-commit, post-merge, post-checkout and post-rewrite each become a script of
//! memtree's own (`script.rs`) that runs `memtree consolidate --hook`, which refreshes the index
//! and applies only changes that lose nothing (see [`crate::memory::Memory::consolidate`]), and
//! never writes during a rebase, merge, cherry-pick, revert or bisect or on a detached HEAD.
//! - A hook already there is never edited: it is renamed to `NAME.pre-memtree` (a link as a
//!   link) and runs first, when it is executable, so a hook that ends in `exit 0` or `exec`,
//!   a symbolic link to a tracked script, a disabled hook (mode 644), a hook in any language
//!   or encoding, all keep working, and `uninstall` renames it back byte for byte.
//! - A hook with memtree's start marker but no end marker, or an existing `NAME.pre-memtree`
//!   beside someone's hook, is an error: memtree deletes nothing it did not write.
//! - `core.hooksPath` is respected (so husky's and lefthook's setups keep working).
//! - The script does nothing when memtree is not on PATH, cannot recurse (`MEMTREE_HOOK`), and
//!   memtree's own commits are made by libgit2, which runs no hooks.
//!
//! Merge driver: `.memory/.gitattributes` says `*.md merge=memtree`, and the repository's own
//! config names the driver ([`DRIVER_COMMAND`]), which falls back to git's text merge only
//! when memtree is not on PATH.

mod script;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::git::Repo;
use crate::tree::Tree;
pub use script::DRIVER_COMMAND;
use script::{CHAINED, Kind};

/// The hooks memtree installs.
pub const HOOKS: &[&str] = &["post-commit", "post-merge", "post-checkout", "post-rewrite"];

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
    /// `installed`; `chained` (memtree's hook runs the hook that was there, kept as
    /// `NAME.pre-memtree`, first); `missing`; `outdated` (an older memtree's block inside
    /// someone's hook: `hooks install` converts it); `damaged` (memtree's start marker without
    /// its end marker: fix by hand).
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

/// Refuses a hooks folder that is part of the repository's content: `core.hooksPath` naming a
/// folder in the work tree whose files git tracks or would show (`.githooks/`, a team's shared
/// hooks). Installing there would rewrite the team's tracked hooks and add untracked files to
/// everyone's next commit. A folder git ignores (husky's `.husky/_`) is the user's own.
///
/// # Errors
/// [`Error::Refused`] naming the folder and what to do instead.
fn refuse_shared_hooks_dir(repo: &git2::Repository, dir: &Path) -> Result<()> {
    let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let Some(workdir) = repo.workdir().map(canon) else {
        return Ok(());
    };
    let dir = canon(dir);
    let git_dir = canon(repo.path());
    let Ok(rel) = dir.strip_prefix(&workdir) else {
        return Ok(());
    };
    if dir.starts_with(&git_dir) {
        return Ok(());
    }
    let tracked = repo.index().ok().is_some_and(|index| {
        index
            .iter()
            .any(|e| Path::new(std::str::from_utf8(&e.path).unwrap_or_default()).starts_with(rel))
    });
    let probe = rel.join("post-commit");
    let ignored = repo.is_path_ignored(&probe).unwrap_or(false);
    if tracked || !ignored {
        return Err(Error::Refused(format!(
            "core.hooksPath is {}, a folder of the repository's own files ({}): installing \
             memtree's hooks there would change the team's hooks in everyone's next commit. Run \
             `memtree consolidate --hook` from your hook manager's post-commit, post-merge, \
             post-checkout and post-rewrite hooks instead, or point core.hooksPath at a folder \
             outside the work tree",
            rel.display(),
            if tracked {
                "git tracks hooks in it"
            } else {
                "git would show new files in it"
            }
        )));
    }
    Ok(())
}

/// Writes memtree's hook script to `path` (a temporary file renamed over it: never through
/// a link, never half-written), executable.
fn write_exec(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".memtree-hook-")
        .permissions(fs::Permissions::from_mode(0o755))
        .tempfile_in(dir)
        .map_err(|e| io("cannot write in", dir, e))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .map_err(|e| io("cannot write", path, e))?;
    tmp.persist(path)
        .map_err(|e| io("cannot write", path, e.error))?;
    Ok(())
}

/// The bytes of the hook file `path`, `None` when there is none. A symbolic link is read as
/// what it is (someone's hook), never followed for writing.
fn hook_bytes(path: &Path) -> Option<Vec<u8>> {
    let meta = fs::symlink_metadata(path).ok()?;
    if meta.file_type().is_symlink() {
        return Some(Vec::new());
    }
    fs::read(path).ok()
}

/// What the hook file `path` is: a link is always someone else's.
fn kind_of(path: &Path) -> Option<Kind> {
    let meta = fs::symlink_metadata(path).ok()?;
    if meta.file_type().is_symlink() {
        return Some(Kind::Foreign);
    }
    Some(script::kind(&hook_bytes(path)?))
}

fn state_of(dir: &Path, name: &str) -> HookState {
    let file = dir.join(name);
    let kept = dir.join(format!("{name}{CHAINED}"));
    let state = match kind_of(&file) {
        Some(Kind::Ours) if fs::symlink_metadata(&kept).is_ok() => "chained",
        Some(Kind::Ours) => "installed",
        // An older memtree's block inside someone's hook: `hooks install` converts it.
        Some(Kind::Embedded(_)) => "outdated",
        Some(Kind::Damaged) => "damaged",
        Some(Kind::Foreign) | None => "missing",
    };
    HookState {
        name: name.to_string(),
        file: file.display().to_string(),
        state,
    }
}

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
    refuse_shared_hooks_dir(repo, &dir)?;
    fs::create_dir_all(&dir).map_err(|e| io("cannot create folder", &dir, e))?;
    let mut changed = Vec::new();
    // Plan every hook before changing any: a damaged hook or a name already taken stops the
    // whole install with nothing changed.
    let mut plan = Vec::new();
    for name in HOOKS {
        let file = dir.join(name);
        let kept = dir.join(format!("{name}{CHAINED}"));
        let new = script::hook(name, &project);
        match kind_of(&file) {
            None => plan.push((file, None, new)),
            Some(Kind::Ours) => {
                if hook_bytes(&file).as_deref() != Some(new.as_bytes()) {
                    plan.push((file, None, new));
                }
            }
            Some(Kind::Damaged) => {
                return Err(Error::Refused(format!(
                    "{} has memtree's start marker but not its end marker (edited by hand?); \
                     memtree leaves it alone: restore or remove the marked part by hand, then \
                     run `memtree hooks install` again",
                    file.display()
                )));
            }
            Some(kind @ (Kind::Foreign | Kind::Embedded(_))) => {
                if fs::symlink_metadata(&kept).is_ok() {
                    return Err(Error::Refused(format!(
                        "{} exists and so does {}: memtree keeps a hook that was there under \
                         that second name, and will not replace either; move one of them away",
                        file.display(),
                        kept.display()
                    )));
                }
                let embedded = match kind {
                    Kind::Embedded(text) => Some(text),
                    _ => None,
                };
                plan.push((file, Some((kept, embedded)), new));
            }
        }
    }
    for (file, keep, new) in plan {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some((kept, embedded)) = keep {
            match embedded {
                // Written by an older memtree into someone's hook: their part is kept.
                Some(text) => {
                    let mode = fs::metadata(&file).map(|m| m.permissions()).ok();
                    fs::write(&kept, text).map_err(|e| io("cannot write", &kept, e))?;
                    if let Some(mode) = mode {
                        let _ = fs::set_permissions(&kept, mode);
                    }
                }
                None => fs::rename(&file, &kept).map_err(|e| io("cannot rename", &file, e))?,
            }
            changed.push(format!(
                "{name}: kept the hook that was there as {name}{CHAINED}; it runs first"
            ));
        }
        write_exec(&file, &new)?;
        changed.push(format!("{name}: installed"));
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
        match kind_of(&file) {
            Some(Kind::Ours) => {
                fs::remove_file(&file).map_err(|e| io("cannot remove", &file, e))?;
                changed.push(format!("{name}: removed"));
                if fs::symlink_metadata(&kept).is_ok() {
                    fs::rename(&kept, &file).map_err(|e| io("cannot rename", &kept, e))?;
                    changed.push(format!("{name}: restored the hook that was there"));
                }
            }
            Some(Kind::Embedded(text)) => {
                let mode = fs::metadata(&file).map(|m| m.permissions()).ok();
                fs::write(&file, text).map_err(|e| io("cannot write", &file, e))?;
                if let Some(mode) = mode {
                    let _ = fs::set_permissions(&file, mode);
                }
                changed.push(format!("{name}: removed memtree's block"));
            }
            Some(Kind::Damaged) => {
                return Err(Error::Refused(format!(
                    "{} has memtree's start marker but not its end marker; memtree leaves it \
                     alone: remove the marked part by hand",
                    file.display()
                )));
            }
            Some(Kind::Foreign) | None => {}
        }
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
