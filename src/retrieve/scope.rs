//! Path-triggered recall (`query --path FILE`): entries whose `scope` globs match FILE are
//! candidates even when the text matches nothing ("what must I know before changing this
//! file?"). Globs are gitignore-like: `*` stays within a folder, `**` crosses folders.

use globset::GlobBuilder;

use super::{Ctx, Pool, Tier};

/// Relevance of a scope match (above most BM25 hits, below an alias equal to the query).
pub const SCOPE_RELEVANCE: f64 = 0.8;

/// Normalises a user-given file path to the project-relative, `/`-separated form that scope
/// globs are written against.
pub fn normalize_path(path: &str, project: &std::path::Path) -> String {
    let p = std::path::Path::new(path);
    let rel = if p.is_absolute() {
        p.strip_prefix(project).unwrap_or(p).to_path_buf()
    } else {
        p.to_path_buf()
    };
    let s = rel.to_string_lossy().replace('\\', "/");
    s.trim_start_matches("./").to_string()
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
}
