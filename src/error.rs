//! The library's one error type.
//!
//! Every variant reads as one lowercase sentence that names the file (and the line, for YAML)
//! or the entry id it is about, so the CLI can print it as is. `hint()` gives the fix where
//! there is an obvious one. The CLI maps every `Error` to exit code 1; usage errors (exit 2)
//! come from clap before the library is called.

use std::path::PathBuf;

/// `Result` with [`Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `.memory/` folder was found walking up from the starting directory.
    #[error("no memory tree found in {} or any parent (looked for .memory/)", start.display())]
    NoRoot {
        /// Where the search started.
        start: PathBuf,
    },
    /// An entry id does not exist; `suggestions` holds the closest existing ids.
    #[error("no entry `{id}`{}", did_you_mean(suggestions))]
    NotFound {
        /// The id that was asked for.
        id: String,
        /// Up to five existing ids close to it, best first.
        suggestions: Vec<String>,
    },
    /// An id that breaks the naming rules (DESIGN.md §1), or leaves the root.
    #[error("invalid id `{id}`: {reason}")]
    InvalidId {
        /// The offending id as given.
        id: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A field value that is out of range or not one of the allowed values.
    #[error("invalid value for `{key}`: {reason}")]
    InvalidValue {
        /// The front-matter key (or option) concerned.
        key: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// `add` (or `mv`) would overwrite an existing entry.
    #[error("entry `{id}` already exists ({})", file.display())]
    Exists {
        /// The existing id.
        id: String,
        /// Its file.
        file: PathBuf,
    },
    /// Front matter that is not valid YAML or has a field of the wrong shape.
    #[error("{}:{line}: {message}", file.display())]
    FrontMatter {
        /// The entry file, relative to the project where possible.
        file: PathBuf,
        /// 1-based line in the file.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file that is not UTF-8.
    #[error("{} is not valid UTF-8 text", file.display())]
    NotUtf8 {
        /// The file.
        file: PathBuf,
    },
    /// `memtree.yaml` could not be read or has an unknown or ill-typed key.
    #[error("invalid configuration in {}: {message}", file.display())]
    Config {
        /// The configuration file.
        file: PathBuf,
        /// What is wrong (serde_yaml's message, which names the key and line).
        message: String,
    },
    /// A filesystem operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot read", "cannot write", ...).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The derived search index failed in a way a rebuild did not fix.
    #[error("search index error: {0}")]
    Index(String),
    /// Another memtree process holds the write lock for longer than we wait.
    #[error("the memory tree is locked by another writer ({})", lock.display())]
    Busy {
        /// The lock file.
        lock: PathBuf,
    },
    /// A change a crash interrupted is installed, and committing it failed for a reason that
    /// passes (the git index locked by another git command): it is kept, and no other write
    /// starts until it is committed. Its kind is `busy`.
    #[error(
        "`{operation}` is written but not committed yet ({reason}); no other write starts before it is"
    )]
    CommitPending {
        /// The interrupted command.
        operation: String,
        /// Why the commit was skipped.
        reason: String,
    },
    /// A path that would leave the tree or pass through a symbolic link (see
    /// [`crate::tree::SafePath`]).
    #[error("refusing to touch {}: {reason}", path.display())]
    UnsafePath {
        /// The path as shown to users (`.memory/...`).
        path: PathBuf,
        /// Which component is a link and where it leads, or which rule is broken.
        reason: String,
    },
    /// A file changed on disk between the time a command planned its change and the time it
    /// applied it (a hand edit, another tool): nothing was written.
    #[error("{} changed while memtree was updating it: {reason}; nothing was written", file.display())]
    Conflict {
        /// The file.
        file: PathBuf,
        /// What happened to it.
        reason: String,
    },
    /// A name memtree would write is taken by something that is not memtree's (an MCP server
    /// entry named `memtree` that runs another program): nothing was written.
    #[error("{}: {reason}; nothing was written", file.display())]
    Taken {
        /// The file that holds it.
        file: PathBuf,
        /// What holds the name.
        reason: String,
    },
    /// A multi-file change stopped half-way (see [`crate::changeset`]); the next write or
    /// `memtree index` completes it.
    #[error("`{operation}` was interrupted half-way ({reason})")]
    Interrupted {
        /// The operation.
        operation: String,
        /// What stopped it.
        reason: String,
    },
    /// A change interrupted by a crash cannot be completed, because a file it touches was
    /// changed after the crash (see [`crate::changeset::recover`]). Its kind is `conflict`.
    #[error(
        "`{operation}` was interrupted and cannot be completed: {reason}; nothing more was written"
    )]
    Unfinished {
        /// The interrupted operation.
        operation: String,
        /// Which files changed, and where memtree's versions are.
        reason: String,
    },
    /// `rm` or `restore` would destroy work git does not have (a file never committed, or
    /// changed since its last commit), as `git rm` refuses to.
    #[error("refusing to replace or delete {}: {reason}", file.display())]
    LocalChanges {
        /// The file.
        file: PathBuf,
        /// What git does not have ("it was never committed").
        reason: String,
    },
    /// A write would put a secret into a tracked file (see [`crate::secrets`]).
    #[error("refusing to write {}: line {line} holds what looks like {what} ({redacted})", file.display())]
    Secret {
        /// The file that would hold it.
        file: PathBuf,
        /// 1-based line in the new file.
        line: usize,
        /// What it looks like ("a GitHub token").
        what: String,
        /// The value, redacted.
        redacted: String,
    },
    /// A write would put `<private>` text into a file (see [`crate::private`]).
    #[error("refusing to write {}: line {line} holds a <private> tag, and memtree never stores private text", file.display())]
    Private {
        /// The file that would hold it.
        file: PathBuf,
        /// 1-based line in the new file.
        line: usize,
    },
    /// A git operation failed.
    #[error("git: {0}")]
    Git(String),
    /// A history command ran where there is no usable git repository.
    #[error("no git history here: {0}")]
    NoGit(String),
    /// A request that is well-formed but cannot be carried out.
    #[error("{0}")]
    Refused(String),
    /// A write to a layer declared `read-only` (`layers.NAME.access`).
    #[error("layer `{layer}` is read-only: memtree does not write to it")]
    ReadOnly {
        /// The layer's name.
        layer: String,
    },
    /// A layer name that no configuration declares (or that is declared but cannot be used).
    #[error("no layer `{name}`{}", layer_note(reason, known))]
    UnknownLayer {
        /// The name that was asked for.
        name: String,
        /// Why a declared layer cannot be used (`None`: it is not declared at all).
        reason: Option<String>,
        /// The layers that can be used.
        known: Vec<String>,
    },
}

fn layer_note(reason: &Option<String>, known: &[String]) -> String {
    match reason {
        Some(r) => format!(": {r}"),
        None => format!("; the layers are {}", known.join(", ")),
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

impl Error {
    /// A short suggestion of how to fix the problem, where there is an obvious one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoRoot { .. } => {
                Some("run `memtree init` here, or pass --root DIR / set MEMTREE_ROOT".into())
            }
            Error::NotFound { .. } => Some("`memtree ls` lists every entry".into()),
            Error::FrontMatter { .. } => {
                Some("fix the file by hand; `memtree check` lists every problem".into())
            }
            Error::Exists { .. } => {
                Some("choose another id, or change the entry with `memtree set`".into())
            }
            Error::Busy { .. } => Some("retry in a moment".into()),
            Error::CommitPending { .. } => Some(
                "retry once the other git command has finished; `memtree recover` commits it \
                 then"
                    .into(),
            ),
            Error::NoGit(_) => Some("run `git init` in the project (memtree commits its own writes)".into()),
            Error::Secret { .. } => Some(format!(
                "remove it (keep secrets in the environment or a secret manager); if it is not a \
                 secret, pass --allow-secret, or put `{}` on that line",
                crate::secrets::ALLOW_MARKER
            )),
            Error::Private { .. } => Some(
                "remove the element and what it holds (to write about the tag itself, put it in \
                 `code`)"
                    .into(),
            ),
            Error::Conflict { .. } => Some("run the command again; it plans from the new content".into()),
            Error::Taken { .. } => Some(
                "review that entry: remove or rename it by hand if it is not yours, then run the \
                 command again"
                    .into(),
            ),
            Error::LocalChanges { .. } => Some(
                "commit the file first (git add, git commit), or pass --force to lose those \
                 changes"
                    .into(),
            ),
            Error::Unfinished { .. } => Some(
                "keep what you want in those files, then run `memtree recover --discard`: the \
                 files stay as they are and memtree's versions are kept in \
                 .memory/.cache/discarded"
                    .into(),
            ),
            Error::Interrupted { .. } => Some(
                "the next memtree write, or `memtree index`, completes it; `memtree check` shows what is left"
                    .into(),
            ),
            Error::ReadOnly { layer } => Some(format!(
                "write to the project (leave out --layer) or to a read-write layer; `memtree \
                 layers list` shows each layer's access (`{layer}` is declared read-only)"
            )),
            Error::UnknownLayer { .. } => {
                Some("`memtree layers list` shows the layers; `memtree layers add` declares one".into())
            }
            Error::UnsafePath { .. } => Some(
                "replace the link with a real folder or file inside .memory, or move the entry there"
                    .into(),
            ),
            _ => None,
        }
    }

    /// A stable, machine-readable name for the kind of error (`not_found`, `invalid_id`,
    /// `invalid_value`, `exists`, `front_matter`, `not_utf8`, `config`, `io`, `index`, `busy`,
    /// `unsafe_path`, `conflict`, `interrupted`, `secret`, `private`, `local_changes`, `refused`, `no_root`,
    /// `git`, `no_git`, `read_only`, `unknown_layer`): what an agent
    /// branches on. Listed in README; never renamed.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NoRoot { .. } => "no_root",
            Error::NotFound { .. } => "not_found",
            Error::InvalidId { .. } => "invalid_id",
            Error::InvalidValue { .. } => "invalid_value",
            Error::Exists { .. } => "exists",
            Error::FrontMatter { .. } => "front_matter",
            Error::NotUtf8 { .. } => "not_utf8",
            Error::Config { .. } => "config",
            Error::Io { .. } => "io",
            Error::Index(_) => "index",
            Error::Busy { .. } | Error::CommitPending { .. } => "busy",
            Error::UnsafePath { .. } => "unsafe_path",
            Error::Conflict { .. } | Error::Unfinished { .. } | Error::Taken { .. } => "conflict",
            Error::Interrupted { .. } => "interrupted",
            Error::Secret { .. } => "secret",
            Error::Private { .. } => "private",
            Error::LocalChanges { .. } => "local_changes",
            Error::Refused(_) => "refused",
            Error::Git(_) => "git",
            Error::NoGit(_) => "no_git",
            Error::ReadOnly { .. } => "read_only",
            Error::UnknownLayer { .. } => "unknown_layer",
        }
    }

    /// Builds an [`Error::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<tantivy::TantivyError> for Error {
    fn from(e: tantivy::TantivyError) -> Self {
        Error::Index(e.to_string())
    }
}
