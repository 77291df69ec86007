//! `memtree mcp`: a stdio MCP server (rmcp) over the same [`Memory`] facade as the CLI.
//!
//! Tools return the CLI's JSON documents as structured content (`memtree.query/v1`, ...);
//! a bad id or value is a tool error (`isError`, one clear sentence, and the
//! `memtree.error/v1` document with its stable `kind`), never a protocol error. Entries are
//! also resources (`memory://architecture/storage/search-index`), and `prime` is a prompt.
//!
//! One process serves many calls. Each call opens the tree afresh, which costs a freshness
//! check and a tantivy open (both well under a millisecond on a quiet tree), so files changed
//! by others (hand edits, other agents, `git checkout`) are seen on the next call, and each call
//! takes its own `now`. The synchronous core runs on tokio's blocking pool.
//!
//! stdout carries only protocol messages; nothing in the library prints, and the server logs
//! nothing.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse, GetPromptResult,
    Implementation, ListPromptsResult, ListResourcesResult, PaginatedRequestParams, Prompt,
    PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::memory::{InLayer, Memory, NewEntry};
use crate::retrieve::Query;
use crate::retrieve::llm::LlmMode;
use crate::tree::Tree;

const INSTRUCTIONS: &str = "memtree is this project's memory: decisions, conventions, pitfalls, \
facts and open questions, one markdown entry per file under .memory/, each with an id like \
`architecture/storage/search-index` (domain/topic/[subtopic/]entry, lower-case kebab-case). \
At the start of a task call memory_context with what you are about to do (or read the `prime` \
prompt); before changing a file call memory_context or memory_query with its path. Use \
memory_query for a ranked list with reasons, memory_get to read one entry. Record what you \
learn with memory_write (a new id creates an entry; an existing id updates the fields and the body \
you pass; give memory_get's `hash` as `base` to refuse a write over someone else's change), \
and when a belief changes, memory_supersede the old entry instead of deleting it. At the end of \
a task, memory_curate your notes (decisions, conventions, pitfalls you found): it plans only what \
the memory does not already hold; apply the plan with apply: true. Every write is committed to \
git when the project is a repository.";

/// Arguments of `memory_query`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct QueryArgs {
    /// The question, an entry id, or a name (alias). Plain language works.
    pub query: String,
    /// Number of hits (default 8).
    pub k: Option<usize>,
    /// A code file the question is about: entries scoped to it rank first.
    pub path: Option<String>,
    /// Only entries of this kind: fact, decision, convention, procedure, pitfall, preference,
    /// reference or question.
    pub kind: Option<String>,
    /// Only entries under this folder id (e.g. `architecture/storage`).
    pub within: Option<String>,
    /// Also return superseded and archived entries.
    pub all: Option<bool>,
    /// When to ask the configured LLM: auto (default, only when not confident), always, never.
    pub llm: Option<String>,
    /// Only these layers (`project`, `user`, or a shared layer's name); default: every layer.
    /// Hits outside the project have qualified ids (`platform:conventions/api/errors`).
    pub layer: Option<Vec<String>>,
}

/// Arguments of `memory_context`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ContextArgs {
    /// What you are about to do, or the question.
    pub query: String,
    /// Token budget of the bundle (default 1500).
    pub budget: Option<usize>,
    /// A code file you are about to change.
    pub path: Option<String>,
    /// Only this folder id.
    pub within: Option<String>,
    /// Only these layers (`project`, `user`, or a shared layer's name); default: every layer.
    pub layer: Option<Vec<String>>,
}

/// Arguments of `memory_get`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetArgs {
    /// The entry id (or a unique last part of it, such as `search-index`).
    pub id: String,
    /// A git revision to read it at: a hash, HEAD~3, a tag, or a date like 2026-11-01.
    pub at: Option<String>,
}

/// Arguments of `memory_list`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// Only entries under this folder id (e.g. `architecture`); all when absent.
    pub prefix: Option<String>,
    /// The layer to list (`project` by default, `user`, or a shared layer's name); its ids
    /// are qualified.
    pub layer: Option<String>,
}

/// Arguments of `memory_write`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteArgs {
    /// The entry id: domain/topic/[subtopic/]entry, lower-case kebab-case. A new id creates the
    /// entry (then `title` is required); an existing id updates the fields given.
    pub id: String,
    /// Title (required for a new entry).
    pub title: Option<String>,
    /// fact, decision, convention, procedure, pitfall, preference, reference or question.
    pub kind: Option<String>,
    /// One-sentence summary.
    pub summary: Option<String>,
    /// Other names the entry answers to (replaces the list when updating).
    pub aliases: Option<Vec<String>>,
    /// Tags (replaces the list when updating).
    pub tags: Option<Vec<String>>,
    /// Code path globs the entry is about, e.g. `src/index/**`.
    pub scope: Option<Vec<String>>,
    /// Importance, 0.0 to 1.0.
    pub importance: Option<f64>,
    /// Why it matters.
    pub why: Option<String>,
    /// The markdown body: a new entry's, or the new body of an existing one (it replaces the
    /// old body).
    pub body: Option<String>,
    /// For an existing entry: the `hash` memory_get returned. The write then fails with
    /// `conflict` if the file changed since it was read.
    pub base: Option<String>,
    /// maturity: draft, validated or core (updates only).
    pub maturity: Option<String>,
    /// The layer to write to: `project` (default), `user` (your own memory, for every project)
    /// or a shared read-write layer. An id may name its layer itself (`user:prefs/tools/pnpm`).
    pub layer: Option<String>,
}

/// Arguments of `memory_link`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LinkArgs {
    /// The entry that gets the relation.
    pub from: String,
    /// The entry it points to.
    pub to: String,
    /// depends-on, part-of, follows, refines, implements, contradicts or see-also (default).
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Arguments of `memory_supersede`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SupersedeArgs {
    /// The entry that is no longer true or current.
    pub old: String,
    /// The entry that replaces it. It must exist, unless `title` is given to create it.
    pub new: String,
    /// Create NEW with this title.
    pub title: Option<String>,
    /// The new entry's body.
    pub body: Option<String>,
    /// The new entry's summary.
    pub summary: Option<String>,
}

/// Arguments of `memory_curate`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CurateArgs {
    /// What to curate: notes or a summary of the session in markdown (or a session transcript
    /// as JSONL). Text inside <private>…</private> is never stored.
    pub text: String,
    /// The session id recorded in new entries.
    pub session: Option<String>,
    /// Write the plan (one commit; new entries are drafts). Default false: the plan only.
    pub apply: Option<bool>,
    /// auto (default: the configured, trusted LLM plans) or never (rules only).
    pub llm: Option<String>,
}

/// Arguments of `memory_history`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HistoryArgs {
    /// The entry id (it may have been deleted since).
    pub id: String,
    /// Include a diff per version (default true).
    pub diffs: Option<bool>,
}

/// The MCP server.
#[derive(Debug, Clone)]
pub struct MemtreeServer {
    tree: Tree,
    tool_router: ToolRouter<Self>,
}

fn error_result(e: &Error) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(e.to_string())]);
    r.structured_content = Some(serde_json::json!({
        "schema": "memtree.error/v1",
        "kind": e.kind(),
        "error": e.to_string(),
        "hint": e.hint(),
    }));
    r
}

fn ok<T: serde::Serialize>(value: &T) -> CallToolResult {
    CallToolResult::structured(serde_json::to_value(value).unwrap_or_default())
}

fn llm_mode(s: Option<&str>) -> Result<LlmMode> {
    match s.unwrap_or("auto") {
        "auto" => Ok(LlmMode::Auto),
        "always" => Ok(LlmMode::Always),
        "never" => Ok(LlmMode::Never),
        other => Err(Error::InvalidValue {
            key: "llm".into(),
            reason: format!("`{other}` is not auto, always or never"),
        }),
    }
}

impl MemtreeServer {
    /// A server over `tree`.
    pub fn new(tree: Tree) -> MemtreeServer {
        MemtreeServer {
            tree,
            tool_router: Self::tool_router(),
        }
    }

    /// Runs `f` on a freshly opened [`Memory`] (with `now` taken for this call) on tokio's
    /// blocking pool, and turns its outcome into a tool result.
    async fn run<T: serde::Serialize + Send + 'static>(
        &self,
        f: impl FnOnce(Memory) -> Result<T> + Send + 'static,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        let tree = self.tree.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            Memory::open(tree, jiff::Timestamp::now()).and_then(f)
        })
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(match outcome {
            Ok(v) => ok(&v),
            Err(e) => error_result(&e),
        })
    }
}

#[tool_router]
impl MemtreeServer {
    /// Ranked search over the memory (tiers: exact id, alias, BM25, links; an LLM only when
    /// configured and not confident). Each hit says which tier found it and why.
    #[tool(
        description = "Find memory entries that answer a question. Returns a ranked list (memtree.query/v1): each hit has id, title, kind, tier (path, alias, scope, bm25, graph, llm), score, matched (why it was returned) and a snippet. Use it to look things up; use memory_context for a compact bundle to read before working.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn memory_query(
        &self,
        Parameters(a): Parameters<QueryArgs>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.run(move |m| {
            let query = Query {
                text: a.query,
                k: a.k,
                path: a.path,
                kind: a.kind,
                within: a.within.as_deref().map(crate::tree::normalize_id),
                all: a.all.unwrap_or(false),
                llm: llm_mode(a.llm.as_deref())?,
                layers: a.layer.unwrap_or_default(),
            };
            m.query(&query)
        })
        .await
    }

    /// The precision-first bundle for a task.
    #[tool(
        description = "The memory to read before a task, as one markdown bundle within a token budget (memtree.context/v1): pinned core entries, entries that answer the query, open questions, and related entries, with what the budget left out. Pass the file you are about to change as `path`.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn memory_context(
        &self,
        Parameters(a): Parameters<ContextArgs>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.run(move |m| {
            let query = Query {
                text: a.query,
                path: a.path,
                within: a.within.as_deref().map(crate::tree::normalize_id),
                layers: a.layer.unwrap_or_default(),
                ..Query::default()
            };
            m.context(
                &query,
                a.budget.unwrap_or(crate::retrieve::context::DEFAULT_BUDGET),
            )
        })
        .await
    }

    /// One entry.
    #[tool(
        description = "Read one entry by id (memtree.get/v1): its front matter as JSON and its markdown body; with `at`, as it was at a git revision.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn memory_get(
        &self,
        Parameters(a): Parameters<GetArgs>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        // An agent gets what a reviewer sees (no hidden comment, no invisible character).
        self.run(move |m| {
            let (m, id, layer) = m.entry_layer(&a.id, None, false)?;
            let mut view = match a.at {
                Some(rev) => m.get_at(&id, &rev),
                None => m.get(&id),
            }
            .map(crate::memory::EntryView::visible)?;
            view.in_layer(&layer, &m.tree().root);
            Ok(view)
        })
        .await
    }

    /// The outline.
    #[tool(
        description = "List entries (id, title, kind, status, maturity), all or under a folder id such as `architecture`.",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn memory_list(
        &self,
        Parameters(a): Parameters<ListArgs>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.run(move |m| {
            let layer = a.layer.unwrap_or_else(|| crate::layers::PROJECT.into());
            let mut entries = m.layer(&layer)?.ls(a.prefix.as_deref().unwrap_or(""))?;
            for e in &mut entries {
                e.id = crate::layers::qualify(&layer, &e.id);
            }
            Ok(serde_json::json!({"schema": "memtree.ls/v1", "entries": entries}))
        })
        .await
    }

    /// Create or update an entry.
    #[tool(
        description = "Record knowledge. A new id creates an entry (title required; body in markdown); an existing id updates only the fields you pass, and replaces the body when you pass one (values equal to the current ones change nothing). Pass memory_get's `hash` as `base` to fail with `conflict` if the entry changed since you read it. Refuses text that looks like a secret. Returns memtree.add/v1 or memtree.edit/v1 with the git commit.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn memory_write(
        &self,
        Parameters(a): Parameters<WriteArgs>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.run(move |m| {
            let (m, bare, layer) = m.entry_layer(&a.id, a.layer.as_deref(), true)?;
            let root = m.tree().root.clone();
            // Exactly this id: a write never lands on another entry through a suffix.
            if !m.exists(&bare) {
                let mut report = m.add(&NewEntry {
                    id: bare.clone(),
                    title: a.title.clone().unwrap_or_default(),
                    kind: a.kind.clone(),
                    summary: a.summary.clone(),
                    aliases: a.aliases.clone().unwrap_or_default(),
                    tags: a.tags.clone().unwrap_or_default(),
                    scope: a.scope.clone().unwrap_or_default(),
                    importance: a.importance,
                    why: a.why.clone(),
                    body: a.body.clone(),
                    supersedes: Vec::new(),
                })?;
                report.in_layer(&layer, &root);
                return serde_json::to_value(report).map_err(|e| Error::Refused(e.to_string()));
            }
            let list = |v: &[String]| serde_json::to_string(v).unwrap_or_default();
            let mut set = Vec::new();
            let mut push = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    set.push(format!("{k}={v}"));
                }
            };
            push("title", a.title);
            push("kind", a.kind);
            push("summary", a.summary);
            push("aliases", a.aliases.as_deref().map(list));
            push("tags", a.tags.as_deref().map(list));
            push("scope", a.scope.as_deref().map(list));
            push("importance", a.importance.map(|i| i.to_string()));
            push("why", a.why);
            push("maturity", a.maturity);
            if set.is_empty() && a.body.is_none() {
                return Err(Error::InvalidValue {
                    key: "id".into(),
                    reason: format!("{} exists; pass the fields or the body to change", a.id),
                });
            }
            let change = match a.body {
                Some(b) => crate::memory::BodyChange::Replace(b),
                None => crate::memory::BodyChange::Keep,
            };
            let id = crate::tree::normalize_id(&bare);
            let mut report = m.edit(&id, &change, &set, a.base.as_deref())?;
            report.in_layer(&layer, &root);
            serde_json::to_value(report).map_err(|e| Error::Refused(e.to_string()))
        })
        .await
    }

    /// A typed relation.
    #[tool(
        description = "Add a typed relation from one entry to another (depends-on, part-of, follows, refines, implements, contradicts, see-also). Adding one that exists changes nothing.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn memory_link(
        &self,
        Parameters(a): Parameters<LinkArgs>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.run(move |m| {
            let (m, from, layer) = m.entry_layer(&a.from, None, true)?;
            let mut r = m.link(&from, &a.to, a.kind.as_deref().unwrap_or("see-also"))?;
            r.in_layer(&layer, &m.tree().root);
            Ok(r)
        })
        .await
    }

    /// Supersession.
    #[tool(
        description = "When a belief changes: mark OLD as superseded by NEW (created from title/body when given). Nothing is deleted: OLD stays in the tree and in git, and queries return NEW in its place. Refuses cycles.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn memory_supersede(
        &self,
        Parameters(a): Parameters<SupersedeArgs>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.run(move |m| {
            // NEW decides the tree written to; OLD may be another layer's entry (an override).
            let (m, new, layer) = m.entry_layer(&a.new, None, true)?;
            let create = a.title.map(|title| NewEntry {
                id: new.clone(),
                title,
                summary: a.summary,
                body: a.body,
                ..NewEntry::default()
            });
            let mut r = m.supersede(&a.old, &new, create.as_ref())?;
            r.in_layer(&layer, &m.tree().root);
            Ok(r)
        })
        .await
    }

    /// Curation of a text into add / update / supersede / noop.
    #[tool(
        description = "Turn notes or a session summary into memory: returns a plan (memtree.curate/v1) of add, update (append to an entry), supersede (a statement replacing an entry) and noop (already known) against the entries that exist; with apply: true it is written as one commit, new entries as drafts. Statements are found from markers (remember:, decision:, gotcha:) and rule sentences (we use / we always / we never). <private>…</private> text is never stored.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn memory_curate(
        &self,
        Parameters(a): Parameters<CurateArgs>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.run(move |m| {
            let llm = match llm_mode(a.llm.as_deref())? {
                LlmMode::Never => LlmMode::Never,
                _ => LlmMode::Auto,
            };
            let input = crate::memory::CurateInput {
                transcript: crate::curate::transcript::parse(&a.text),
                source: "mcp".into(),
                session: a.session,
                llm,
                deadline: Some(std::time::Duration::from_secs(
                    crate::memory::SESSION_BOUND_S,
                )),
            };
            m.curate(&input, a.apply.unwrap_or(false))
        })
        .await
    }

    /// Versions from git.
    #[tool(
        description = "Every version of an entry from git, newest first, following moves: commit, author, date, message and a diff per version (memtree.history/v1).",
        annotations(read_only_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn memory_history(
        &self,
        Parameters(a): Parameters<HistoryArgs>,
    ) -> std::result::Result<CallToolResult, ErrorData> {
        self.run(move |m| {
            let (m, id, layer) = m.entry_layer(&a.id, None, false)?;
            let mut r = m.history(&id)?;
            r.in_layer(&layer, &m.tree().root);
            if !a.diffs.unwrap_or(true) {
                r.versions.iter_mut().for_each(|v| v.diff.clear());
            }
            Ok(r)
        })
        .await
    }
}

const URI: &str = "memory://";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for MemtreeServer {
    /// Tool calls go to the router; arguments that do not fit a tool's schema (a string where
    /// a number goes) become a tool error carrying `memtree.error/v1`, as every other bad value
    /// does, instead of a protocol error.
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::CallToolResponse, ErrorData> {
        let known = self.tool_router.has_route(&request.name);
        let tcc = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        let as_memtree = |message: &str| {
            let err = Error::InvalidValue {
                key: "arguments".into(),
                reason: message.to_string(),
            };
            Ok(rmcp::model::CallToolResponse::Complete(error_result(&err)))
        };
        match self.tool_router.call(tcc).await {
            Err(e) if known && e.code == rmcp::model::ErrorCode::INVALID_PARAMS => {
                as_memtree(&e.message)
            }
            // rmcp reports arguments that do not deserialize as a text-only tool error.
            Ok(rmcp::model::CallToolResponse::Complete(r))
                if r.is_error == Some(true) && r.structured_content.is_none() =>
            {
                let text: String = r
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                    .collect();
                as_memtree(&text)
            }
            other => other,
        }
    }

    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_instructions(INSTRUCTIONS);
        info.server_info = Implementation::new("memtree", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListResourcesResult, ErrorData> {
        let tree = self.tree.clone();
        // Every available layer's entries; ids outside the project qualified.
        let items = tokio::task::spawn_blocking(move || {
            let m = Memory::open(tree, jiff::Timestamp::now())?;
            let mut all = m.ls("")?;
            for layer in m
                .layers()
                .iter()
                .skip(1)
                .filter(|l| l.unavailable.is_none())
            {
                let Ok(other) = m.layer(&layer.name) else {
                    continue;
                };
                for mut item in other.ls("")? {
                    item.id = crate::layers::qualify(&layer.name, &item.id);
                    all.push(item);
                }
            }
            Ok::<_, Error>(all)
        })
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let resources = items
            .into_iter()
            .map(|i| {
                Resource::new(format!("{URI}{}", i.id), i.id.clone())
                    .with_title(i.title)
                    .with_mime_type("text/markdown")
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.clone();
        let Some(id) = uri.strip_prefix(URI).map(str::to_string) else {
            return Err(ErrorData::invalid_params(
                format!("a memtree resource is memory://ID, not {uri}"),
                None,
            ));
        };
        let tree = self.tree.clone();
        let view = tokio::task::spawn_blocking(move || {
            let (m, id, _) =
                Memory::open(tree, jiff::Timestamp::now())?.entry_layer(&id, None, false)?;
            m.get(&id)
        })
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
        .map_err(|e| ErrorData::resource_not_found(e.to_string(), None))?;
        let contents = ResourceContents::text(view.text, uri);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListPromptsResult, ErrorData> {
        let arg =
            |name: &str, description: &str| PromptArgument::new(name).with_description(description);
        let prime = Prompt::new(
            "prime",
            Some(
                "The session-start bundle: core entries, open questions, what changed in the memory since a revision, and the outline.",
            ),
            Some(vec![
                arg("within", "Only this folder id"),
                arg("since", "A git revision (default HEAD~1)"),
                arg("budget", "Token budget (default 1500)"),
            ]),
        );
        Ok(ListPromptsResult::with_all_items(vec![prime]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<GetPromptResponse, ErrorData> {
        if request.name != "prime" {
            return Err(ErrorData::invalid_params(
                format!("no prompt `{}`; the prompt is `prime`", request.name),
                None,
            ));
        }
        let args = request.arguments.unwrap_or_default();
        let get = |k: &str| args.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let (within, since) = (get("within"), get("since"));
        let budget = get("budget")
            .and_then(|b| b.parse().ok())
            .unwrap_or(crate::retrieve::context::DEFAULT_BUDGET);
        let tree = self.tree.clone();
        let report = tokio::task::spawn_blocking(move || {
            Memory::open(tree, jiff::Timestamp::now())?.prime(
                within.as_deref(),
                since.as_deref(),
                budget,
            )
        })
        .await
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
        .map_err(|e| ErrorData::invalid_params(e.to_string(), None))?;
        let mut result =
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, report.markdown)]);
        result.description = Some("memtree session-start bundle".into());
        Ok(result.into())
    }
}

/// The largest request line read (16 MiB, rmcp's own default); a longer one is answered with
/// an error instead of being dropped.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// One line read from the client, bounded by [`MAX_REQUEST_BYTES`].
enum Line {
    /// A whole line, without its line ending.
    Text(Vec<u8>),
    /// A line over the limit: its first bytes (for the request id).
    TooLong(Vec<u8>),
    /// The client closed its end.
    Eof,
}

/// Reads one `\n`-terminated line without holding more than [`MAX_REQUEST_BYTES`] of it.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Line {
    use tokio::io::AsyncBufReadExt as _;
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let (used, done) = {
            let Ok(buf) = r.fill_buf().await else {
                return Line::Eof;
            };
            if buf.is_empty() {
                return match (line.is_empty(), too_long) {
                    (true, false) => Line::Eof,
                    (_, true) => Line::TooLong(line),
                    (false, false) => Line::Text(line),
                };
            }
            let newline = buf.iter().position(|b| *b == b'\n');
            let take = newline.map_or(buf.len(), |i| i + 1);
            let keep = &buf[..newline.unwrap_or(take)];
            if too_long || line.len() + keep.len() > MAX_REQUEST_BYTES {
                if !too_long {
                    // Keep the start, where the id is.
                    let room = 4096usize.saturating_sub(line.len().min(4096));
                    line.truncate(4096);
                    line.extend_from_slice(&keep[..keep.len().min(room)]);
                }
                too_long = true;
            } else {
                line.extend_from_slice(keep);
            }
            (take, newline.is_some())
        };
        r.consume(used);
        if done {
            if line.last() == Some(&b'\r') && !too_long {
                line.pop();
            }
            return if too_long {
                Line::TooLong(line)
            } else {
                Line::Text(line)
            };
        }
    }
}

/// The request id found at the start of a line too long to parse, if any.
fn leading_id(start: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(start);
    let Some(at) = text.find("\"id\"") else {
        return serde_json::Value::Null;
    };
    let rest = text[at + 4..]
        .trim_start()
        .strip_prefix(':')
        .unwrap_or("")
        .trim_start();
    let mut de = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    match de.next() {
        Some(Ok(v @ (serde_json::Value::Number(_) | serde_json::Value::String(_)))) => v,
        _ => serde_json::Value::Null,
    }
}

fn rpc_error(id: serde_json::Value, code: i64, message: &str) -> Vec<u8> {
    let mut out = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    })
    .to_string()
    .into_bytes();
    out.push(b'\n');
    out
}

/// Serves the tree over stdio until the client disconnects.
///
/// Every line gets an answer, as JSON-RPC 2.0 asks: rmcp drops a line that is not JSON and
/// one over its 16 MiB limit without a word, so lines pass through a pump first, which answers
/// those itself (`-32700 Parse error`, and `-32600` naming the limit, with the request's id
/// when its start shows it) and hands the rest to rmcp. rmcp's replies and the pump's are
/// written to stdout whole lines at a time, never interleaved.
///
/// # Errors
/// [`Error::Refused`] when the server cannot start.
pub fn serve(tree: Tree) -> Result<()> {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Refused(format!("cannot start the MCP server: {e}")))?;
    runtime.block_on(async move {
        let (server_in, mut to_server) = tokio::io::duplex(1 << 16);
        let (from_server, server_out) = tokio::io::duplex(1 << 16);
        let transport =
            rmcp::transport::async_rw::AsyncRwTransport::new_server(server_in, server_out)
                .with_max_line_length(usize::MAX);
        let (replies, mut pending) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let pump = tokio::spawn(async move {
            let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
            loop {
                match read_line(&mut stdin).await {
                    Line::Eof => break,
                    Line::TooLong(start) => {
                        let message = format!(
                            "Invalid Request: the request is over {MAX_REQUEST_BYTES} bytes, \
                             the most memtree reads"
                        );
                        let _ = replies.send(rpc_error(leading_id(&start), -32600, &message));
                    }
                    Line::Text(line) if line.iter().all(u8::is_ascii_whitespace) => {}
                    Line::Text(line) => {
                        if serde_json::from_slice::<serde::de::IgnoredAny>(&line).is_err() {
                            let _ = replies.send(rpc_error(
                                serde_json::Value::Null,
                                -32700,
                                "Parse error: the line is not JSON",
                            ));
                            continue;
                        }
                        let mut framed = line;
                        framed.push(b'\n');
                        if to_server.write_all(&framed).await.is_err() {
                            break;
                        }
                    }
                }
            }
            // Closing rmcp's input ends the service once its replies are out.
            let _ = to_server.shutdown().await;
        });
        let writer = tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            let mut from_server = tokio::io::BufReader::new(from_server);
            let mut line = Vec::new();
            let (mut server_open, mut replies_open) = (true, true);
            loop {
                tokio::select! {
                    read = from_server.read_until(b'\n', &mut line), if server_open => {
                        match read {
                            Ok(0) | Err(_) => server_open = false,
                            Ok(_) => {
                                if line.ends_with(b"\n") {
                                    let _ = stdout.write_all(&line).await;
                                    let _ = stdout.flush().await;
                                    line.clear();
                                }
                            }
                        }
                    }
                    reply = pending.recv(), if replies_open => match reply {
                        Some(reply) => {
                            let _ = stdout.write_all(&reply).await;
                            let _ = stdout.flush().await;
                        }
                        None => replies_open = false,
                    },
                    else => break,
                }
            }
        });
        let service = MemtreeServer::new(tree)
            .serve(transport)
            .await
            .map_err(|e| Error::Refused(format!("cannot start the MCP server: {e}")))?;
        let done = service
            .waiting()
            .await
            .map_err(|e| Error::Refused(format!("the MCP server stopped: {e}")));
        let _ = pump.await;
        let _ = writer.await;
        done.map(|_| ())
    })
}
