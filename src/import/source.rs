//! Reading the project's own files for `import`: the one routine every source and every
//! `@import` goes through.
//!
//! What counts as the repository's own content (issue 20):
//! - the file resolves (every link on the way followed) to a regular file **inside the project**
//!   (the folder that holds `.memory/`). A symbolic link that leads inside the project is
//!   followed, as git's checkout of `CLAUDE.md -> AGENTS.md` means it to be; a link, or a folder
//!   on the way, that leads outside is refused and named. The check is on the canonical path,
//!   never on the text of the path (`x/../..` is caught);
//! - nothing under `.git/` (nor the repository's git folder wherever it is) and nothing under
//!   `.memory/` (the tree itself is not a source);
//! - nothing git ignores (`.env`, build output): a file the index tracks is content even when a
//!   pattern matches it; outside a git repository the project's `.gitignore` is honoured;
//! - at most `index.max_file_bytes` bytes, UTF-8, opened without following a final link and
//!   without blocking (a FIFO or a device is refused, never waited on).

use std::fs;
use std::path::{Component, Path, PathBuf};

/// The checker and reader of project files for one `import` run.
pub struct ProjectFiles {
    /// The project folder as the tree names it.
    project: PathBuf,
    /// The project folder, canonical.
    root: PathBuf,
    /// The git repository around the project, if any.
    repo: Option<git2::Repository>,
    /// The repository's work tree and git folder, canonical.
    workdir: Option<PathBuf>,
    git_dir: Option<PathBuf>,
    /// Outside a repository: the project's `.gitignore`.
    gitignore: Option<ignore::gitignore::Gitignore>,
    /// The largest file read, in bytes.
    limit: u64,
}

/// A file that passed every check, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceText {
    /// The canonical path.
    pub path: PathBuf,
    /// The path relative to the project, `/`-separated.
    pub rel: String,
    /// The file's text.
    pub text: String,
}

impl ProjectFiles {
    /// The checker for `project` (the folder that holds `.memory/`), reading at most `limit`
    /// bytes a file.
    pub fn open(project: &Path, limit: u64) -> ProjectFiles {
        let root = fs::canonicalize(project).unwrap_or_else(|_| project.to_path_buf());
        let repo = git2::Repository::discover(&root)
            .ok()
            .filter(|r| r.workdir().is_some());
        let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let workdir = repo.as_ref().and_then(|r| r.workdir()).map(canon);
        let git_dir = repo.as_ref().map(|r| canon(r.path()));
        let gitignore = repo.is_none().then(|| {
            let (matcher, _) = ignore::gitignore::Gitignore::new(root.join(".gitignore"));
            matcher
        });
        ProjectFiles {
            project: project.to_path_buf(),
            root,
            repo,
            workdir,
            git_dir,
            gitignore,
            limit,
        }
    }

    /// The canonical project folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The project folder as the tree names it.
    pub fn project(&self) -> &Path {
        &self.project
    }

    /// The largest file read, in bytes (`index.max_file_bytes`).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// `path` (absolute, or relative to the project) relative to the project, `/`-separated,
    /// without following links (`.` and `..` removed lexically); `None` when it is not below
    /// the project.
    pub fn relative(&self, path: &Path) -> Option<String> {
        let p = lexical_normal(&self.project.join(path));
        [&self.project, &self.root]
            .into_iter()
            .find_map(|root| p.strip_prefix(lexical_normal(root)).ok())
            .map(|r| r.to_string_lossy().replace('\\', "/"))
            .filter(|r| !r.is_empty())
    }

    /// `path` as reports show it: relative to the project when it is below it, else as given.
    pub fn shown(&self, path: &Path) -> String {
        self.relative(path).unwrap_or_else(|| {
            lexical_normal(&self.project.join(path))
                .display()
                .to_string()
        })
    }

    /// Checks `path` (absolute, or relative to the project) against every rule in the module
    /// doc and returns its canonical path and its path relative to the project.
    ///
    /// # Errors
    /// A sentence saying which rule it breaks (for the report's `skipped`).
    pub fn check(&self, path: &Path) -> Result<(PathBuf, String), String> {
        let p = self.project.join(path);
        let resolved = match fs::canonicalize(&p) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(if fs::symlink_metadata(&p).is_ok() {
                    "it is a symbolic link to nothing".to_string()
                } else {
                    "it does not exist".to_string()
                });
            }
            Err(e) => return Err(format!("it cannot be read: {e}")),
        };
        let Ok(rel) = resolved.strip_prefix(&self.root) else {
            let lexically_inside = self.relative(path).is_some();
            return Err(if lexically_inside {
                format!(
                    "it is (or sits in a folder that is) a symbolic link leading outside the \
                     project, to {}; memtree reads only the repository's own files",
                    resolved.display()
                )
            } else {
                "it is outside the project; memtree reads only the repository's own files"
                    .to_string()
            });
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let in_git_dir = self
            .git_dir
            .as_ref()
            .is_some_and(|g| resolved.starts_with(g));
        if in_git_dir || rel.split('/').any(|c| c == ".git") {
            return Err("it is inside .git/, which is not repository content".into());
        }
        if rel.split('/').next() == Some(".memory") {
            return Err("it is inside the memory tree itself".into());
        }
        if self.ignored(&resolved, &rel) {
            return Err("git ignores it, so it is not repository content".into());
        }
        Ok((resolved, rel))
    }

    /// Whether git (or, outside a repository, the project's `.gitignore`) ignores the file.
    fn ignored(&self, resolved: &Path, rel: &str) -> bool {
        if let (Some(repo), Some(workdir)) = (&self.repo, &self.workdir) {
            let Ok(in_repo) = resolved.strip_prefix(workdir) else {
                return false;
            };
            // The work tree itself (git2 panics on an empty path) is never ignored.
            if in_repo.as_os_str().is_empty() {
                return false;
            }
            let tracked = repo
                .index()
                .ok()
                .is_some_and(|index| index.get_path(in_repo, 0).is_some());
            return !tracked && repo.is_path_ignored(in_repo).unwrap_or(false);
        }
        self.gitignore
            .as_ref()
            .is_some_and(|g| g.matched_path_or_any_parents(rel, false).is_ignore())
    }

    /// Reads a checked file (see [`ProjectFiles::check`]).
    ///
    /// # Errors
    /// The rule it breaks, or that it is not a regular file, is over the size limit, cannot be
    /// read or is not UTF-8.
    pub fn read(&self, path: &Path) -> Result<SourceText, String> {
        let (resolved, rel) = self.check(path)?;
        let text = read_bounded(&resolved, self.limit)?;
        Ok(SourceText {
            path: resolved,
            rel,
            text,
        })
    }
}

/// `path` with `.` and `..` removed lexically (for messages and the "was it inside" question).
fn lexical_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Reads the regular file at `path` (already canonical) as UTF-8 text, at most `limit` bytes
/// ([`crate::tree::read_regular`]).
///
/// # Errors
/// A sentence: not a regular file, over `limit` bytes, unreadable, not UTF-8.
pub fn read_bounded(path: &Path, limit: u64) -> Result<String, String> {
    let bytes = crate::tree::read_regular(path, limit).map_err(|e| match e {
        crate::tree::ReadError::TooLarge { size, limit } => format!(
            "it is {size} bytes, over index.max_file_bytes ({limit} bytes); split it or raise \
             the limit"
        ),
        other => other.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_out_git_and_ignored_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(outside.path().join("secret.md"), "secret").unwrap();
        fs::write(root.join("AGENTS.md"), "# A\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.md"), root.join("CLAUDE.md"))
            .unwrap();
        std::os::unix::fs::symlink("AGENTS.md", root.join("inner.md")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("docs")).unwrap();
        fs::write(root.join(".gitignore"), ".env\n").unwrap();
        fs::write(root.join(".env"), "X=1").unwrap();
        let files = ProjectFiles::open(root, 1 << 20);
        assert_eq!(files.read(Path::new("AGENTS.md")).unwrap().text, "# A\n");
        // The project folder itself passes (`memtree import .`).
        assert!(files.check(Path::new(".")).is_ok());
        // An in-project link is followed and named by its target.
        assert_eq!(files.read(Path::new("inner.md")).unwrap().rel, "AGENTS.md");
        for (p, starts) in [
            (
                "CLAUDE.md",
                "it is (or sits in a folder that is) a symbolic link",
            ),
            (
                "docs/secret.md",
                "it is (or sits in a folder that is) a symbolic link",
            ),
            ("x/../../etc/passwd", "it "),
            (".env", "git ignores it"),
            ("missing.md", "it does not exist"),
        ] {
            let e = files.read(Path::new(p)).unwrap_err();
            assert!(e.starts_with(starts), "{p}: {e}");
        }
        assert!(
            files
                .read(&outside.path().join("secret.md"))
                .unwrap_err()
                .starts_with("it is outside the project")
        );
    }

    #[test]
    fn a_file_over_the_limit_names_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.md");
        fs::write(&big, "x".repeat(5000)).unwrap();
        let e = read_bounded(&big, 4096).unwrap_err();
        assert_eq!(
            e,
            "it is 5000 bytes, over index.max_file_bytes (4096 bytes); split it or raise the limit"
        );
    }
}
