//! Command-line arguments (clap derive). Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// memtree: a project memory for coding agents, kept as markdown in .memory/.
#[derive(Debug, Parser)]
#[command(name = "memtree", version, about, max_term_width = 100)]
#[command(after_help = "\
Environment:
  MEMTREE_ROOT   the project (or .memory) folder to use, like --root
  MEMTREE_NOW    the current time as RFC 3339 (for reproducible decay and stamps)
  NO_COLOR       memtree prints no colour in any case

Exit codes: 0 success (also a query with no hits), 1 error, 2 usage error.")]
pub struct Cli {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The project folder (or its .memory folder); default: search upward from here.
    #[arg(long, global = true, env = "MEMTREE_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Do not commit this write to git (default: memtree commits each write, see
    /// `git.auto_commit` in memtree.yaml).
    #[arg(long, global = true)]
    pub no_commit: bool,
    /// A layer: `project`, `user` or a shared layer's name (`memtree layers list`). Queries
    /// search only the layers named (repeatable; default: every layer); other commands act on
    /// the one named (default: the project). An id may name its layer itself:
    /// `platform:conventions/api`.
    #[arg(long = "layer", global = true, value_name = "NAME")]
    pub layers: Vec<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create .memory/ (memtree.yaml, .gitignore, README.md) in DIR or the current folder.
    Init {
        /// The project folder.
        dir: Option<PathBuf>,
        /// Create the user layer instead ($XDG_DATA_HOME/memtree/user/.memory, a git
        /// repository of its own).
        #[arg(long, conflicts_with = "dir")]
        user: bool,
    },
    /// The layers a query reads: the project, shared layers, the user's own.
    Layers {
        /// What to do.
        #[command(subcommand)]
        action: LayersAction,
    },
    /// Write a new entry; the body comes from --body or --body-file (`-` reads stdin), else the
    /// kind's template.
    Add(AddArgs),
    /// Show an entry.
    Get {
        /// Entry id (or a unique suffix of one).
        id: String,
        /// Show the entry as of a git revision: a hash, HEAD~3, a tag, a branch, or a date
        /// (2026-11-01: the last commit at or before it).
        #[arg(long, value_name = "REV")]
        at: Option<String>,
    },
    /// List entries as a tree outline.
    Ls {
        /// Only entries under this folder id.
        prefix: Option<String>,
    },
    /// Find the entries that answer a question (tiers: path, alias, scope, bm25, graph).
    Query(QueryArgs),
    /// Change front-matter fields: KEY=VALUE, KEY+=VALUE / KEY-=VALUE for lists, KEY= to remove.
    Set {
        /// Entry id.
        id: String,
        /// Assignments, e.g. importance=0.8 maturity=core aliases+="fts index".
        #[arg(required = true, value_name = "KEY=VALUE")]
        assignments: Vec<String>,
        /// Write a value that looks like a secret (refused by default).
        #[arg(long)]
        allow_secret: bool,
    },
    /// Change an entry's body: replace it (--body, --body-file) or add a paragraph
    /// (--append). One commit; `updated` is stamped.
    Edit {
        /// Entry id.
        id: String,
        /// The new body (markdown); `-` reads stdin.
        #[arg(long, group = "text", value_name = "B")]
        body: Option<String>,
        /// The new body from a file; `-` reads stdin.
        #[arg(long, group = "text", value_name = "F")]
        body_file: Option<std::path::PathBuf>,
        /// A paragraph to add at the end of the body; `-` reads stdin.
        #[arg(long, group = "text", value_name = "TEXT")]
        append: Option<String>,
        /// The `hash` that `get --json` returned: fail with `conflict` if the file changed
        /// since it was read.
        #[arg(long, value_name = "HASH")]
        base: Option<String>,
        /// Write text that looks like a secret anyway.
        #[arg(long)]
        allow_secret: bool,
    },
    /// Add a typed relation from one entry to another.
    Link {
        /// The entry that gets the relation.
        from: String,
        /// The entry it points to.
        to: String,
        /// depends-on, part-of, follows, refines, implements, contradicts or see-also.
        #[arg(long = "type", default_value = "see-also")]
        kind: String,
    },
    /// Remove relations from one entry to another.
    Unlink {
        /// The entry that has the relation.
        from: String,
        /// The entry it points to.
        to: String,
        /// Only relations of this type.
        #[arg(long = "type")]
        kind: Option<String>,
    },
    /// Move an entry to a new id, rewriting every link to it.
    Mv {
        /// Current id.
        from: String,
        /// New id.
        to: String,
    },
    /// Delete an entry (git keeps its history). Refuses a file with changes git does not have
    /// (never committed, or edited since), as `git rm` does.
    Rm {
        /// Entry id.
        id: String,
        /// Delete it even when it has changes git does not have (they are lost).
        #[arg(long)]
        force: bool,
    },
    /// Mark OLD as superseded by NEW: NEW exists, or is created from --title/--body as for add.
    /// One commit; queries then return NEW in OLD's place.
    Supersede(SupersedeArgs),
    /// Every version of an entry in git, newest first, following moves, with diffs.
    History {
        /// Entry id (it may have been deleted since).
        id: String,
        /// Leave the diffs out.
        #[arg(long)]
        no_diff: bool,
    },
    /// How an entry on disk differs from a git revision (default HEAD).
    Diff {
        /// Entry id.
        id: String,
        /// The revision (a hash, HEAD~3, a tag, a branch, or a date).
        rev: Option<String>,
    },
    /// Bring an entry back as it was at a revision, as a new change (and commit).
    Restore {
        /// Entry id (it may have been deleted since).
        id: String,
        /// The revision to restore.
        #[arg(long, value_name = "REV")]
        at: String,
        /// Replace the file even when it has changes git does not have (they are lost).
        #[arg(long)]
        force: bool,
    },
    /// The session-start bundle: core entries, open questions, what changed since a revision,
    /// and the outline, within a token budget (markdown for a prompt, or --json).
    Prime {
        /// Only this subtree (folder id).
        #[arg(long = "in", value_name = "PREFIX")]
        within: Option<String>,
        /// What changed since this git revision (default HEAD~1: the last commit).
        #[arg(long, value_name = "REV")]
        since: Option<String>,
        /// Token budget (default 1500).
        #[arg(long, value_name = "TOKENS")]
        budget: Option<usize>,
        /// Run as an agent's SessionStart hook: read the hook's JSON on stdin (session_id,
        /// cwd), send the bundle once per session and afterwards only what changed (Cursor
        /// gets it as JSON `additional_context`), always exit 0.
        #[arg(long, value_enum, value_name = "AGENT")]
        hook: Option<AgentArg>,
    },
    /// Record a person's confirmation: a draft becomes validated and its decay restarts.
    Confirm {
        /// Entry id.
        id: String,
    },
    /// Tidy the tree: decay, promotion and demotion from usage, archiving of decayed drafts,
    /// near-duplicates, links broken by moves. Shows the plan unless --apply.
    Consolidate {
        /// Apply the plan as one commit (merges only when the bodies are the same too).
        #[arg(long, conflicts_with_all = ["dry_run", "hook"])]
        apply: bool,
        /// Show the plan and change nothing (the default).
        #[arg(long)]
        dry_run: bool,
        /// For git hooks: refresh the index and apply only what loses nothing (link repair);
        /// never fails (errors go to .memory/.cache/hook.log).
        #[arg(long, conflicts_with = "dry_run")]
        hook: bool,
    },
    /// Git hooks that consolidate after commits, merges and checkouts, and the merge driver.
    Hooks {
        /// install, uninstall or status.
        #[arg(value_enum)]
        action: HooksAction,
    },
    /// The dense tier's model (all-MiniLM-L6-v2): `model pull` fetches it into your cache.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// The git merge driver for one entry (git calls it: BASE OURS THEIRS [PATH]).
    MergeDriver {
        /// The common ancestor's version (%O).
        base: PathBuf,
        /// Our version (%A); the result is written here.
        ours: PathBuf,
        /// Their version (%B).
        theirs: PathBuf,
        /// The file's path in the repository (%P), for messages.
        path: Option<String>,
    },
    /// Serve the memory to an agent over MCP (stdio): tools, entries as resources, the prime
    /// prompt.
    Mcp,
    /// Validate every entry; exit 1 when any is invalid.
    Check,
    /// Trust this project's memtree.yaml as it is now, so that its settings that run a program,
    /// reach the network or read outside the project (llm, semantic.model) are used; a changed
    /// file is untrusted again. Recorded in $XDG_CONFIG_HOME/memtree/trusted.
    Trust {
        /// Only say whether the file is trusted and what in it needs trust.
        #[arg(long, conflicts_with = "revoke")]
        show: bool,
        /// Forget the trust given to this project's file.
        #[arg(long)]
        revoke: bool,
    },
    /// Complete a write that a crash interrupted (every write does this first), or abandon it
    /// with --discard when a file it touches was changed after the crash.
    Recover {
        /// Leave the files as they are; memtree's versions are kept in .memory/.cache/discarded.
        #[arg(long)]
        discard: bool,
    },
    /// Bring the search index up to date (queries do this by themselves), and encode new entries
    /// for the dense tier when its model is there (queries never do)
    Index {
        /// Rebuild from scratch.
        #[arg(long)]
        full: bool,
    },
    /// Make entries of what agents already keep: AGENTS.md, CLAUDE.md (and its @imports),
    /// .cursor/rules/*.mdc, .cursorrules, Copilot instructions, a memory-bank/ folder, a
    /// ByteRover .brv/context-tree. One entry per section or rule, one commit; a second run
    /// changes only what changed in the sources.
    Import {
        /// Files or folders to read (default: every known source in the project; with `--layer
        /// user`, ~/.claude/CLAUDE.md, ~/.codex/AGENTS.md and ~/.cursor/rules/*.mdc).
        paths: Vec<std::path::PathBuf>,
        /// Print the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Turn a session or a text into a plan of add / update / supersede / noop against the
    /// entries that exist; --apply writes it as one commit (new entries are drafts). Text in
    /// <private>…</private> is never stored.
    Curate(CurateArgs),
    /// Connect an agent to memtree: its MCP server entry and session hooks (prime at
    /// session start, curate before compaction and at the end), in the project's files, to
    /// be committed (.mcp.json and .claude/settings.json; .cursor/mcp.json and
    /// .cursor/hooks.json; .codex/config.toml and .codex/hooks.json). Existing files are
    /// merged; a second run changes nothing.
    Setup {
        /// claude, cursor or codex (with --status: all three when absent).
        #[arg(value_enum, required_unless_present = "status")]
        agent: Option<AgentArg>,
        /// Say whether each agent is really connected (its files, whether the client approved
        /// or trusts the project, whether Codex's hooks were reviewed) and the one next step.
        /// Reads only.
        #[arg(long, conflicts_with_all = ["print", "remove", "global"])]
        status: bool,
        /// Print the files as they would be and write nothing.
        #[arg(long)]
        print: bool,
        /// Take out exactly what setup adds.
        #[arg(long)]
        remove: bool,
        /// The user's own files (~/.claude.json, ~/.claude/settings.json, ~/.cursor/,
        /// ~/.codex/) instead of the project's.
        #[arg(long)]
        global: bool,
    },
    /// Count entries by kind, status, maturity and domain.
    Stats,
    /// Draw the entries under a folder and their relations, links and supersessions, as
    /// Mermaid (renders in GitHub pull requests) or Graphviz dot.
    Graph {
        /// Folder id (all entries when absent).
        prefix: Option<String>,
        /// mermaid (default) or dot.
        #[arg(long, value_enum, default_value = "mermaid")]
        format: GraphFormatArg,
    },
    /// Print a shell completion script, e.g. `memtree completions bash >
    /// ~/.local/share/bash-completion/completions/memtree`, or `memtree completions fish >
    /// ~/.config/fish/completions/memtree.fish`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `memtree add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// New id: domain/topic/[subtopic/]entry, lower-case kebab-case.
    pub id: String,
    /// Title.
    #[arg(long)]
    pub title: String,
    /// fact, decision, convention, procedure, pitfall, preference, reference or question.
    #[arg(long, default_value = "fact")]
    pub kind: String,
    /// Importance, 0.0–1.0 (default 0.5).
    #[arg(long)]
    pub importance: Option<f64>,
    /// The other fields.
    #[command(flatten)]
    pub fields: EntryFields,
}

/// The fields of a new entry that `add` and `supersede` share.
#[derive(Debug, Args)]
pub struct EntryFields {
    /// One-sentence summary.
    #[arg(long)]
    pub summary: Option<String>,
    /// Another name the entry answers to (repeatable).
    #[arg(long = "alias", value_name = "ALIAS")]
    pub aliases: Vec<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// A code path glob the entry is about (repeatable), e.g. "src/index/**".
    #[arg(long = "scope", value_name = "GLOB")]
    pub scope: Vec<String>,
    /// Why it matters.
    #[arg(long)]
    pub why: Option<String>,
    /// The body text (`-` reads it from standard input).
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the body from FILE (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Write text that looks like a secret (refused by default).
    #[arg(long)]
    pub allow_secret: bool,
}

/// `memtree supersede`.
#[derive(Debug, Args)]
pub struct SupersedeArgs {
    /// The entry that is no longer current.
    pub old: String,
    /// The entry that replaces it (created when --title is given).
    pub new: String,
    /// Create NEW with this title.
    #[arg(long)]
    pub title: Option<String>,
    /// Kind of the new entry (default: OLD's kind).
    #[arg(long)]
    pub kind: Option<String>,
    /// The new entry's other fields.
    #[command(flatten)]
    pub fields: EntryFields,
}

/// What `hooks` does.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum HooksAction {
    /// Install the hooks (chaining with hooks already there) and register the merge driver.
    Install,
    /// Remove memtree's hooks and the merge driver; other hooks stay.
    Uninstall,
    /// Show what is installed.
    Status,
}

/// `memtree model` actions.
#[derive(Debug, Subcommand)]
pub enum ModelAction {
    /// Fetch all-MiniLM-L6-v2 (Apache-2.0) into $XDG_CACHE_HOME/memtree/models/ and check every
    /// file against the SHA-256 sum pinned in memtree; a folder that already holds the right
    /// files is left as it is.
    Pull {
        /// Where to fetch from: a base URL or a folder holding model.safetensors, vocab.txt and
        /// config.json (default: the model's hub).
        #[arg(long, value_name = "URL|FOLDER")]
        from: Option<String>,
        /// Where to put the model (default: $XDG_CACHE_HOME/memtree/models/all-minilm-l6-v2).
        #[arg(long, value_name = "FOLDER")]
        to: Option<PathBuf>,
    },
}

/// Output format of `query`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// The ranked list (recall first).
    List,
    /// A markdown context bundle for a prompt (precision first, within --budget).
    Context,
}

/// `memtree query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The question, an id, or a name.
    #[arg(required = true, num_args = 1.., value_name = "TEXT")]
    pub text: Vec<String>,
    /// Number of hits (default: retrieval.k in memtree.yaml, else 8).
    #[arg(short = 'k', long = "limit")]
    pub k: Option<usize>,
    /// A code file (relative to the current folder, or absolute): entries whose scope matches
    /// it rank first.
    #[arg(long, value_name = "FILE")]
    pub path: Option<String>,
    /// Only entries of this kind.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only entries under this folder id.
    #[arg(long = "in", value_name = "PREFIX")]
    pub within: Option<String>,
    /// Also show superseded and archived entries.
    #[arg(long)]
    pub all: bool,
    /// Token budget of the context bundle (default 1500).
    #[arg(long, value_name = "TOKENS")]
    pub budget: Option<usize>,
    /// list (default) or context.
    #[arg(long, value_enum, default_value = "list")]
    pub format: Format,
    /// When to ask the configured LLM (tier 5): auto (only when tiers 1-4 are not confident),
    /// always, or never.
    #[arg(long, value_enum, default_value = "auto")]
    pub llm: LlmArg,
}

/// `layers` subcommands.
#[derive(Debug, Subcommand)]
pub enum LayersAction {
    /// Every layer: name, path, access, entries, last commit, trust.
    List,
    /// Declare a shared layer in your own configuration ($XDG_CONFIG_HOME/memtree/config.yaml).
    Add {
        /// The layer's name (a-z, 0-9, -).
        name: String,
        /// A folder (the project holding .memory/, or .memory itself), or a git URL that
        /// `layers sync` clones.
        source: String,
        /// memtree refuses to write to it.
        #[arg(long)]
        read_only: bool,
        /// Multiplies its scores in a merged answer (default 1).
        #[arg(long)]
        weight: Option<f64>,
    },
    /// Remove a layer from your own configuration (its files stay).
    Remove {
        /// The layer's name.
        name: String,
    },
    /// git pull each shared layer (clone a git layer the first time), with memtree's merge
    /// driver; git push a read-write layer with local commits.
    Sync {
        /// Only this layer.
        name: Option<String>,
    },
}

/// `query --llm`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LlmArg {
    /// Only when tiers 1-4 are not confident.
    Auto,
    /// On every query.
    Always,
    /// Never.
    Never,
}

/// `graph --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormatArg {
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
}

/// `memtree curate`.
#[derive(Debug, Args)]
pub struct CurateArgs {
    /// A file to curate, or `-` for stdin: a Claude Code or Codex session transcript (JSONL)
    /// or markdown / plain text (recognised by content).
    #[arg(conflicts_with_all = ["file", "transcript", "plan", "hook"])]
    pub source: Option<std::path::PathBuf>,
    /// A markdown or text file to curate.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["transcript", "plan", "hook"])]
    pub file: Option<std::path::PathBuf>,
    /// A session transcript: Claude Code (~/.claude/projects/*/*.jsonl) or Codex
    /// (~/.codex/sessions/**/rollout-*.jsonl).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["plan", "hook"])]
    pub transcript: Option<std::path::PathBuf>,
    /// A plan saved by an earlier curate (`--json` output, or a hook's plan in
    /// .memory/.cache/curate/): validate it, and with --apply write it.
    #[arg(long, value_name = "FILE", conflicts_with = "hook")]
    pub plan: Option<std::path::PathBuf>,
    /// The session id recorded in new entries (default: the transcript's).
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Write the plan: one changeset, one commit.
    #[arg(long, conflicts_with = "dry_run")]
    pub apply: bool,
    /// Print the plan and write nothing (the default).
    #[arg(long)]
    pub dry_run: bool,
    /// When to ask the LLM for the plan: auto (when one is configured and trusted) or never.
    #[arg(long, value_enum, default_value = "auto")]
    pub llm: CurateLlmArg,
    /// Run as an agent's session hook: read the hook's JSON on stdin (transcript_path,
    /// session_id, cwd), save the plan in .memory/.cache/curate/ (or apply it when
    /// `curate.auto_apply: true`), always exit 0, within a time bound.
    #[arg(long, value_enum, value_name = "AGENT")]
    pub hook: Option<AgentArg>,
}

/// `curate --llm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CurateLlmArg {
    /// Ask the configured, trusted LLM; the rules plan when there is none or it fails.
    Auto,
    /// Rules only.
    Never,
}

/// An agent memtree sets up and serves hooks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentArg {
    /// Claude Code.
    Claude,
    /// Cursor.
    Cursor,
    /// OpenAI Codex.
    Codex,
}
