//! Path-triggered recall (`query --path FILE`): entries whose `scope` globs match FILE are
//! candidates even when the text matches nothing ("what must I know before changing this
//! file?"). Globs are gitignore-like: `*` stays within a folder, `**` crosses folders.

use std::path::{Path, PathBuf};

use globset::GlobBuilder;

use super::{Ctx, Pool, Tier};

/// Relevance of a scope match (above most BM25 hits, below an alias equal to the query).
pub const SCOPE_RELEVANCE: f64 = 0.8;

/// Normalises a user-given file path to the project-relative, `/`-separated form that scope
/// globs are written against. An absolute path inside the project is made relative to it (also
/// when one of the two is reached through a symbolic link); any other path is taken as
/// project-relative already.
pub fn normalize_path(path: &str, project: &Path) -> String {
    let p = Path::new(path);
    let rel = if p.is_absolute() {
        inside(p, project).unwrap_or_else(|| p.to_path_buf())
    } else {
        p.to_path_buf()
    };
    let s = rel.to_string_lossy().replace('\\', "/");
    s.trim_start_matches("./").to_string()
}

/// `abs` relative to `project`, comparing the paths as given and then canonicalised (the file
/// itself may not exist yet: then its folder is canonicalised).
fn inside(abs: &Path, project: &Path) -> Option<PathBuf> {
    if let Ok(rel) = abs.strip_prefix(project) {
        return Some(rel.to_path_buf());
    }
    let project = std::fs::canonicalize(project).ok()?;
    let canon = std::fs::canonicalize(abs).ok().or_else(|| {
        let parent = std::fs::canonicalize(abs.parent()?).ok()?;
        Some(parent.join(abs.file_name()?))
    })?;
    canon.strip_prefix(&project).ok().map(Path::to_path_buf)
}

/// Resolves a `--path` as typed in the folder `cwd`: a relative path names a file below `cwd`
/// (so `--path mod.rs` works from `src/index/`), and is returned project-relative when that file
/// is inside `project`. A path that leads outside the project is returned as typed, to be read
/// as project-relative.
pub fn resolve_typed_path(typed: &str, cwd: &Path, project: &Path) -> String {
    let p = Path::new(typed);
    if p.is_absolute() {
        return normalize_path(typed, project);
    }
    let joined = lexical_join(cwd, p);
    match inside(&joined, project) {
        Some(rel) => rel.to_string_lossy().replace('\\', "/"),
        None => normalize_path(typed, project),
    }
}

/// `base/rel` with `.` and `..` resolved lexically.
fn lexical_join(base: &Path, rel: &Path) -> PathBuf {
    let mut out = base.to_path_buf();
    for c in rel.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Whether `glob` matches the project-relative `file`.
pub fn glob_matches(glob: &str, file: &str) -> bool {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher().is_match(file))
        .unwrap_or(false)
}

/// Offers every live entry whose scope matches `--path`.
pub fn run(ctx: &Ctx, pool: &mut Pool) {
    let Some(path) = &ctx.query.path else { return };
    let file = normalize_path(path, ctx.tree.project());
    let (index, s) = (ctx.index, &ctx.searcher);
    for addr in index.lookup(s, index.fields.scoped, "1") {
        let Some(m) = index.stored(s, addr) else {
            continue;
        };
        if let Some(glob) = m.scope.iter().find(|g| glob_matches(g, &file)).cloned() {
            pool.offer(m, SCOPE_RELEVANCE, Tier::Scope, format!("scope:{glob}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_behave_like_gitignore() {
        assert!(glob_matches("src/index/**", "src/index/mod.rs"));
        assert!(glob_matches("src/index/**", "src/index/a/b.rs"));
        assert!(glob_matches("src/*.rs", "src/lib.rs"));
        assert!(!glob_matches("src/*.rs", "src/index/mod.rs"));
        assert!(glob_matches("**/Cargo.toml", "Cargo.toml"));
    }

    #[test]
    fn typed_paths_resolve_against_the_current_folder() {
        let project = Path::new("/p");
        assert_eq!(
            resolve_typed_path("mod.rs", Path::new("/p/src/index"), project),
            "src/index/mod.rs"
        );
        assert_eq!(
            resolve_typed_path("../lib.rs", Path::new("/p/src/index"), project),
            "src/lib.rs"
        );
        assert_eq!(
            resolve_typed_path("src/lib.rs", project, project),
            "src/lib.rs"
        );
        assert_eq!(
            resolve_typed_path("/p/src/lib.rs", Path::new("/elsewhere"), project),
            "src/lib.rs"
        );
        // Typed outside the project: read as project-relative.
        assert_eq!(
            resolve_typed_path("src/lib.rs", Path::new("/elsewhere"), project),
            "src/lib.rs"
        );
    }
}
