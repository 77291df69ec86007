//! [`Memory`]: the one facade the CLI (and later MCP) call. Every operation returns a
//! serialisable report; nothing here prints, exits or reads the clock (`now` is given).
//!
//! Writes follow one pattern: take the tree's write lock, read the file, change only the keys
//! concerned ([`crate::entry::set_key`]), re-parse the result, write it atomically, then bring the
//! index up to date under the same lock.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::entry::{self, Document, Meta, Relation};
use crate::error::{Error, Result};
use crate::index::{Freshness, SearchIndex, SyncReport};
use crate::markdown;
use crate::record::Record;
use crate::retrieve::{self, Ctx, Escalation, Query, QueryResult, context::ContextBundle};
use crate::tree::{self, Tree, WriteLock};

const LOCK_WAIT: Duration = Duration::from_secs(10);

/// A memory tree opened for use.
#[derive(Debug, Clone)]
pub struct Memory {
    tree: Tree,
    config: Config,
    now: jiff::Timestamp,
}

/// A new entry for [`Memory::add`].
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    /// The id (validated strictly).
    pub id: String,
    /// Title (required).
    pub title: String,
    /// Kind (default `fact`).
    pub kind: Option<String>,
    /// Summary.
    pub summary: Option<String>,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Scope globs.
    pub scope: Vec<String>,
    /// Importance in 0..1.
    pub importance: Option<f64>,
    /// Why it matters.
    pub why: Option<String>,
    /// The body; `None` uses the kind's template.
    pub body: Option<String>,
}

/// What `init` did.
#[derive(Debug, Serialize)]
pub struct InitReport {
    /// Always `memtree.init/v1`.
    pub schema: &'static str,
    /// The `.memory` folder.
    pub root: PathBuf,
    /// Files written.
    pub created: Vec<String>,
    /// `false` when the tree already existed (nothing is overwritten).
    pub new: bool,
}

/// An entry as `get` shows it.
#[derive(Debug, Serialize)]
pub struct EntryView {
    /// Always `memtree.get/v1`.
    pub schema: &'static str,
    /// Id.
    pub id: String,
    /// File, relative to the project.
    pub file: String,
    /// Title.
    pub title: String,
    /// The front matter as JSON.
    pub front_matter: serde_json::Value,
    /// The body, byte for byte.
    pub body: String,
    /// Problems with single keys.
    pub problems: Vec<entry::Problem>,
    /// The whole file text (not in JSON).
    #[serde(skip)]
    pub text: String,
}

/// One line of `ls`.
#[derive(Debug, Serialize)]
pub struct LsItem {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Kind.
    pub kind: Option<String>,
    /// Status.
    pub status: String,
    /// Maturity.
    pub maturity: Option<String>,
}

/// What a write did (`add`, `set`, `link`, `unlink`, `rm`).
#[derive(Debug, Serialize)]
pub struct WriteReport {
    /// `memtree.<command>/v1`.
    pub schema: &'static str,
    /// The entry written (or removed).
    pub id: String,
    /// Its file, relative to the project.
    pub file: String,
    /// Keys changed, or other details.
    pub changed: Vec<String>,
    /// Warnings for the user (near-duplicates, links left dangling).
    pub warnings: Vec<String>,
}

/// What `mv` did.
#[derive(Debug, Serialize)]
pub struct MoveReport {
    /// Always `memtree.mv/v1`.
    pub schema: &'static str,
    /// Old id.
    pub from: String,
    /// New id.
    pub to: String,
    /// New file.
    pub file: String,
    /// Other entries whose links were rewritten.
    pub rewritten: Vec<String>,
}

/// One finding of `check`.
#[derive(Debug, Serialize, Clone)]
pub struct Diagnostic {
    /// File, relative to the project.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// `error` or `warning`.
    pub severity: &'static str,
    /// What is wrong.
    pub message: String,
}

/// What `check` found.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// Always `memtree.check/v1`.
    pub schema: &'static str,
    /// Entry files checked.
    pub files: usize,
    /// Number of errors.
    pub errors: usize,
    /// Number of warnings.
    pub warnings: usize,
    /// Every finding, by file.
    pub diagnostics: Vec<Diagnostic>,
}

/// Tree statistics.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// Always `memtree.stats/v1`.
    pub schema: &'static str,
    /// Entry files on disk.
    pub files: usize,
    /// Entries in the index.
    pub entries: u64,
    /// Files that could not be indexed in this run's refresh.
    pub unreadable: usize,
    /// Count per kind (`-` for none).
    pub by_kind: BTreeMap<String, usize>,
    /// Count per status.
    pub by_status: BTreeMap<String, usize>,
    /// Count per maturity (`-` for none).
    pub by_maturity: BTreeMap<String, usize>,
    /// Count per domain (first id segment).
    pub by_domain: BTreeMap<String, usize>,
    /// Size of `.cache/` in bytes.
    pub cache_bytes: u64,
}

/// What `index` did.
#[derive(Debug, Serialize)]
pub struct IndexReport {
    /// Always `memtree.index/v1`.
    pub schema: &'static str,
    /// The refresh.
    #[serde(flatten)]
    pub sync: SyncReport,
    /// Milliseconds taken.
    pub elapsed_ms: f64,
}

fn timestamp(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

impl Memory {
    /// Opens the tree, reading its configuration. `now` is used for decay and for `created` /
    /// `updated` stamps.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `memtree.yaml`.
    pub fn open(tree: Tree, now: jiff::Timestamp) -> Result<Memory> {
        let config = Config::load(&tree.root)?;
        Ok(Memory { tree, config, now })
    }

    /// The freshness check read-only commands run (see [`Freshness`]): writes, `index` and
    /// `check` always scan every file.
    fn freshness(&self) -> Freshness {
        Freshness::from_config(&self.config)
    }

    /// Creates `.memory/` in `project` with `memtree.yaml`, `.gitignore` and a README; existing
    /// files are left as they are.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder cannot be written.
    pub fn init(project: &Path) -> Result<InitReport> {
        let root = project.join(tree::MEMORY_DIR);
        let new = !root.exists();
        fs::create_dir_all(&root).map_err(|e| Error::io("cannot create folder", &root, e))?;
        let mut created = Vec::new();
        for (name, text) in [
            (tree::CONFIG_FILE, crate::templates::CONFIG),
            (".gitignore", crate::templates::GITIGNORE),
            (tree::FOLDER_NOTE, crate::templates::README),
        ] {
            let path = root.join(name);
            if !path.exists() {
                tree::write_atomic(&path, text.as_bytes())?;
                created.push(format!("{}/{name}", tree::MEMORY_DIR));
            }
        }
        Ok(InitReport {
            schema: "memtree.init/v1",
            root,
            created,
            new,
        })
    }

    /// The tree.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn lock(&self) -> Result<WriteLock> {
        WriteLock::acquire(&self.tree.cache_dir(), LOCK_WAIT)
    }

    /// Brings the index up to date (or rebuilds it with `full`).
    ///
    /// # Errors
    /// When the cache cannot be written or the lock not had.
    pub fn index(&self, full: bool) -> Result<IndexReport> {
        let start = Instant::now();
        let (_, sync) = if full {
            SearchIndex::rebuild(&self.tree, None)?
        } else {
            SearchIndex::open_synced(&self.tree, None, self.freshness().full())?
        };
        Ok(IndexReport {
            schema: "memtree.index/v1",
            sync,
            elapsed_ms: ms(start),
        })
    }

    fn ctx<'a>(&'a self, index: &'a SearchIndex, query: &'a Query) -> Ctx<'a> {
        Ctx {
            index,
            searcher: index.searcher(),
            config: &self.config,
            query,
            now: self.now.as_second(),
            tree: &self.tree,
        }
    }

    /// Answers a query with the ranked list of tiers 1–4 (DESIGN.md §3). Never writes a tracked
    /// file; refreshes the derived index first if files changed.
    ///
    /// # Errors
    /// Invalid `--in` or `--kind` values; cache failures.
    pub fn query(&self, query: &Query) -> Result<QueryResult> {
        let start = Instant::now();
        self.validate_query(query)?;
        let (index, _) = SearchIndex::open_synced(&self.tree, None, self.freshness())?;
        let ctx = self.ctx(&index, query);
        let ranked = retrieve::run(&ctx);
        let k = query.k.unwrap_or(self.config.retrieval.k);
        let hits: Vec<_> = ranked
            .hits
            .iter()
            .take(k)
            .map(|(c, score)| retrieve::to_hit(&ctx, c, *score, &ranked.terms))
            .collect();
        let confident = ranked.hits.first().is_some_and(|(c, _)| {
            matches!(
                c.tier,
                retrieve::Tier::Path | retrieve::Tier::Alias | retrieve::Tier::Scope
            ) || c.coverage.is_some_and(|cov| cov >= 0.6)
        });
        let note = if hits.is_empty() {
            Some(if ranked.terms.is_empty() {
                "the query has no significant words to search for".to_string()
            } else if !ranked.any_term_known {
                "nothing in the memory tree matches the significant words of the query".to_string()
            } else {
                "no entry is relevant enough to the query".to_string()
            })
        } else if !confident {
            Some("low confidence: only weak text matches".to_string())
        } else {
            None
        };
        let escalation = Escalation {
            ran: false,
            reason: match &self.config.llm {
                None => "no llm configured".into(),
                Some(_) if confident => "confident".into(),
                Some(_) => "the llm tier is not built yet".into(),
            },
        };
        Ok(QueryResult {
            schema: "memtree.query/v1",
            query: query.text.clone(),
            confident,
            tiers_run: ranked.tiers_run,
            hits,
            escalation,
            note,
            elapsed_ms: ms(start),
        })
    }

    /// Builds the context bundle for a query (`--format context`), within `budget` tokens.
    ///
    /// # Errors
    /// As [`Memory::query`].
    pub fn context(&self, query: &Query, budget: usize) -> Result<ContextBundle> {
        self.validate_query(query)?;
        let (index, _) = SearchIndex::open_synced(&self.tree, None, self.freshness())?;
        let ctx = self.ctx(&index, query);
        let ranked = retrieve::run(&ctx);
        Ok(retrieve::context::build(&ctx, &ranked, budget))
    }

    fn validate_query(&self, query: &Query) -> Result<()> {
        if let Some(p) = &query.within {
            tree::validate_prefix(p)?;
        }
        if let Some(k) = &query.kind
            && !entry::KINDS.contains(&k.as_str())
        {
            return Err(Error::InvalidValue {
                key: "kind".into(),
                reason: format!(
                    "unknown kind `{k}`; expected one of {}",
                    entry::KINDS.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// Resolves what a user typed to an existing entry: `(id, rel)`.
    fn resolve(&self, input: &str) -> Result<(String, String)> {
        let id = tree::normalize_id(input);
        if id.split('/').any(|s| s == ".." || s == ".") || id.is_empty() {
            return Err(Error::InvalidId {
                id: input.to_string(),
                reason: "an id is a path below .memory/ without `.` or `..` segments".into(),
            });
        }
        let rel = format!("{id}.md");
        if self.tree.root.join(&rel).is_file() {
            return Ok((id, rel));
        }
        let note = format!("{id}/{}", tree::FOLDER_NOTE);
        if self.tree.root.join(&note).is_file() {
            return Ok((id, note));
        }
        let walk = self.tree.walk()?;
        let ids: Vec<String> = walk
            .files
            .iter()
            .filter_map(|f| tree::id_of_rel(&f.rel))
            .collect();
        // A unique suffix is accepted too (as in the path tier).
        let matches: Vec<&String> = ids
            .iter()
            .filter(|i| i.ends_with(&format!("/{id}")))
            .collect();
        if matches.len() == 1 {
            let found = matches[0].clone();
            return self.resolve(&found);
        }
        let suggestions = crate::text::closest(&id, ids.iter().map(String::as_str), 5);
        Err(Error::NotFound { id, suggestions })
    }

    fn read_record(&self, rel: &str) -> Result<Record> {
        let path = self.tree.root.join(rel);
        let bytes = fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        Record::parse(rel, &bytes, &self.tree.display_path(rel))
    }

    /// Shows one entry.
    ///
    /// # Errors
    /// [`Error::NotFound`] (with suggestions), or the file's parse error.
    pub fn get(&self, id: &str) -> Result<EntryView> {
        let (id, rel) = self.resolve(id)?;
        let r = self.read_record(&rel)?;
        let front_matter = match &r.doc.front {
            Some(y) if !y.trim().is_empty() => serde_yaml::from_str::<serde_yaml::Value>(y)
                .ok()
                .and_then(|v| serde_json::to_value(v).ok())
                .unwrap_or(serde_json::Value::Null),
            _ => serde_json::Value::Object(Default::default()),
        };
        Ok(EntryView {
            schema: "memtree.get/v1",
            id,
            file: self.tree.display_path(&rel),
            title: r.stored.title.clone(),
            front_matter,
            body: r.doc.body.clone(),
            problems: r.problems.clone(),
            text: r.doc.join(),
        })
    }

    /// Lists entries under `prefix` (all when empty), sorted by id.
    ///
    /// # Errors
    /// An invalid prefix; cache failures.
    pub fn ls(&self, prefix: &str) -> Result<Vec<LsItem>> {
        let prefix = tree::normalize_id(prefix);
        tree::validate_prefix(&prefix)?;
        let (index, _) = SearchIndex::open_synced(&self.tree, None, self.freshness())?;
        Ok(index
            .all()
            .into_iter()
            .filter(|m| {
                prefix.is_empty() || m.id == prefix || m.id.starts_with(&format!("{prefix}/"))
            })
            .map(|m| LsItem {
                id: m.id,
                title: m.title,
                kind: m.kind,
                status: m.status,
                maturity: m.maturity,
            })
            .collect())
    }

    /// Writes a new entry. Refuses an existing id; warns about near-duplicates (entries whose
    /// title or alias matches the new title, or that cover most of its words).
    ///
    /// # Errors
    /// [`Error::InvalidId`], [`Error::Exists`], [`Error::InvalidValue`] for a bad kind or
    /// importance; I/O errors.
    pub fn add(&self, new: &NewEntry) -> Result<WriteReport> {
        let id = tree::normalize_id(&new.id);
        tree::validate_id(&id)?;
        let kind = new.kind.clone().unwrap_or_else(|| "fact".into());
        let meta = Meta {
            title: Some(new.title.trim().to_string()),
            kind: Some(kind.clone()),
            summary: new.summary.clone(),
            aliases: new.aliases.clone(),
            tags: new.tags.clone(),
            scope: new.scope.clone(),
            importance: new.importance,
            why: new.why.clone(),
            created: Some(timestamp(self.now)),
            updated: Some(timestamp(self.now)),
            ..Meta::default()
        };
        if new.title.trim().is_empty() {
            return Err(Error::InvalidValue {
                key: "title".into(),
                reason: "a title is required".into(),
            });
        }
        check_value("kind", &kind)?;
        if let Some(i) = new.importance {
            check_value("importance", &i.to_string())?;
        }
        let body = match &new.body {
            Some(b) if !b.trim().is_empty() => {
                if b.ends_with('\n') {
                    b.clone()
                } else {
                    format!("{b}\n")
                }
            }
            _ => crate::templates::body_for(&kind).to_string(),
        };
        let doc = Document {
            front: Some(entry::render_meta(&meta)),
            body: format!("\n{body}"),
            newline: "\n",
        };
        let rel = format!("{id}.md");
        let path = self.tree.root.join(&rel);
        let lock = self.lock()?;
        if path.exists() || self.tree.root.join(&id).join(tree::FOLDER_NOTE).exists() {
            return Err(Error::Exists {
                id,
                file: PathBuf::from(self.tree.display_path(&rel)),
            });
        }
        // Near-duplicates, from the index as it is before the write.
        let (index, _) =
            SearchIndex::open_synced(&self.tree, Some(&lock), self.freshness().full())?;
        let probe = Query {
            text: new.title.clone(),
            k: Some(3),
            ..Query::default()
        };
        let ctx = self.ctx(&index, &probe);
        let ranked = retrieve::run(&ctx);
        let warnings: Vec<String> = ranked
            .hits
            .iter()
            .filter(|(c, _)| {
                c.tier == retrieve::Tier::Alias && c.relevance >= 0.9
                    || c.coverage.is_some_and(|cov| cov >= 0.8)
            })
            .take(3)
            .map(|(c, _)| format!("similar entry exists: {} ({})", c.meta.id, c.meta.title))
            .collect();
        drop(ctx);
        drop(index);
        tree::ensure_inside(&self.tree.root, &path)?;
        let text = doc.join();
        Record::parse(&rel, text.as_bytes(), &rel)?; // never write what we cannot read back
        tree::write_atomic(&path, text.as_bytes())?;
        SearchIndex::open_synced(&self.tree, Some(&lock), self.freshness().full())?;
        Ok(WriteReport {
            schema: "memtree.add/v1",
            id,
            file: self.tree.display_path(&rel),
            changed: vec!["created".into()],
            warnings,
        })
    }

    /// Rewrites the front matter of an existing entry with `f`, which changes `meta` and returns
    /// the keys it changed; only those keys' lines (and `updated`) change in the file.
    /// `_lock` is proof that the caller holds the tree's write lock.
    fn edit(
        &self,
        _lock: &WriteLock,
        rel: &str,
        stamp: bool,
        f: impl FnOnce(&mut Meta, &mut String) -> Result<Vec<String>>,
    ) -> Result<Vec<String>> {
        let r = self.read_record(rel)?;
        let mut meta = r.meta.clone();
        let mut body = r.doc.body.clone();
        let mut changed = f(&mut meta, &mut body)?;
        if changed.is_empty() && body == r.doc.body {
            return Ok(changed);
        }
        if stamp && !changed.is_empty() {
            meta.updated = Some(timestamp(self.now));
            changed.push("updated".into());
        }
        let mut yaml = r.doc.front.clone().unwrap_or_default();
        for key in &changed {
            let rendered = entry::render_key(&meta, key);
            yaml = entry::set_key(&yaml, key, rendered.as_deref());
        }
        let doc = Document {
            front: Some(yaml),
            body,
            newline: r.doc.newline,
        };
        let text = doc.join();
        let display = self.tree.display_path(rel);
        Record::parse(rel, text.as_bytes(), &display)?;
        let path = self.tree.root.join(rel);
        tree::ensure_inside(&self.tree.root, &path)?;
        tree::write_atomic(&path, text.as_bytes())?;
        changed.dedup();
        Ok(changed)
    }

    /// Sets front-matter fields: `key=value` (an empty value removes the key), `key+=value` and
    /// `key-=value` for list keys (aliases, tags, scope, supersedes).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] naming the key for unknown keys and bad values.
    pub fn set(&self, id: &str, assignments: &[String]) -> Result<WriteReport> {
        let (id, rel) = self.resolve(id)?;
        let mut ops = Vec::new();
        for a in assignments {
            ops.push(parse_assignment(a)?);
        }
        let lock = self.lock()?;
        let changed = self.edit(&lock, &rel, true, |meta, _| {
            let mut changed = Vec::new();
            for (key, op, value) in ops {
                apply(meta, &key, op, &value)?;
                changed.push(key);
            }
            Ok(changed)
        })?;
        SearchIndex::open_synced(&self.tree, Some(&lock), self.freshness().full())?;
        Ok(WriteReport {
            schema: "memtree.set/v1",
            id,
            file: self.tree.display_path(&rel),
            changed,
            warnings: Vec::new(),
        })
    }

    /// Adds a typed relation FROM → TO (both must exist).
    ///
    /// # Errors
    /// Unknown ids (with suggestions) or relation type.
    pub fn link(&self, from: &str, to: &str, kind: &str) -> Result<WriteReport> {
        check_relation_type(kind)?;
        let (from, rel) = self.resolve(from)?;
        let (to, _) = self.resolve(to)?;
        if from == to {
            return Err(Error::Refused("an entry cannot be linked to itself".into()));
        }
        let lock = self.lock()?;
        let changed = self.edit(&lock, &rel, true, |meta, _| {
            let r = Relation {
                kind: kind.to_string(),
                to: to.clone(),
            };
            if meta.relations.contains(&r) {
                return Ok(Vec::new());
            }
            meta.relations.push(r);
            Ok(vec!["relations".into()])
        })?;
        SearchIndex::open_synced(&self.tree, Some(&lock), self.freshness().full())?;
        let changed: Vec<String> = changed
            .into_iter()
            .map(|c| {
                if c == "relations" {
                    format!("relations: {kind} -> {to}")
                } else {
                    c
                }
            })
            .collect();
        let warnings = if changed.is_empty() {
            vec![format!("{from} already has a {kind} relation to {to}")]
        } else {
            Vec::new()
        };
        Ok(WriteReport {
            schema: "memtree.link/v1",
            id: from,
            file: self.tree.display_path(&rel),
            changed,
            warnings,
        })
    }

    /// Removes relations FROM → TO (of `kind` only, when given). TO need not exist any more.
    ///
    /// # Errors
    /// Unknown FROM; a bad relation type.
    pub fn unlink(&self, from: &str, to: &str, kind: Option<&str>) -> Result<WriteReport> {
        if let Some(k) = kind {
            check_relation_type(k)?;
        }
        let (from, rel) = self.resolve(from)?;
        let to = self
            .resolve(to)
            .map(|(id, _)| id)
            .unwrap_or_else(|_| tree::normalize_id(to));
        let lock = self.lock()?;
        let mut body_link = false;
        let changed = self.edit(&lock, &rel, true, |meta, body| {
            let before = meta.relations.len();
            meta.relations
                .retain(|r| !(r.to == to && kind.is_none_or(|k| k == r.kind)));
            body_link = markdown::links(body, &rel).iter().any(|l| l.target == to);
            Ok(if meta.relations.len() == before {
                Vec::new()
            } else {
                vec!["relations".into()]
            })
        })?;
        SearchIndex::open_synced(&self.tree, Some(&lock), self.freshness().full())?;
        let mut warnings = Vec::new();
        if changed.is_empty() {
            warnings.push(format!("{from} has no such relation to {to}"));
        }
        if body_link {
            warnings.push(format!(
                "the body of {from} still links to {to}; edit it by hand"
            ));
        }
        Ok(WriteReport {
            schema: "memtree.unlink/v1",
            id: from,
            file: self.tree.display_path(&rel),
            changed,
            warnings,
        })
    }

    /// Moves an entry to a new id and rewrites every link to it (relations, `supersedes`,
    /// `superseded_by`, wiki links and relative links in bodies), and the moved entry's own
    /// relative links.
    ///
    /// # Errors
    /// Unknown FROM, invalid or existing TO.
    pub fn mv(&self, from: &str, to: &str) -> Result<MoveReport> {
        let (from, from_rel) = self.resolve(from)?;
        if from_rel.ends_with(tree::FOLDER_NOTE) {
            return Err(Error::Refused(
                "moving a folder note moves a folder; rename the folder by hand".into(),
            ));
        }
        let to = tree::normalize_id(to);
        tree::validate_id(&to)?;
        let to_rel = format!("{to}.md");
        let lock = self.lock()?;
        let to_path = self.tree.root.join(&to_rel);
        if to_path.exists() {
            return Err(Error::Exists {
                id: to,
                file: PathBuf::from(self.tree.display_path(&to_rel)),
            });
        }
        let (index, _) =
            SearchIndex::open_synced(&self.tree, Some(&lock), self.freshness().full())?;
        let rel_of = |id: &str| -> String {
            let searcher = index.searcher();
            index
                .by_id(&searcher, id)
                .map_or_else(|| format!("{id}.md"), |m| m.rel)
        };
        // 1. The moved entry itself, with its relative links recomputed from its new folder.
        let r = self.read_record(&from_rel)?;
        let mut body = r.doc.body.clone();
        let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
        for l in r.links.iter().filter(|l| !l.wiki) {
            let target_rel = if l.target == from {
                to_rel.clone()
            } else {
                rel_of(&l.target)
            };
            let fragment = body[l.range.clone()]
                .find('#')
                .map(|i| body[l.range.clone()][i..].to_string());
            let url =
                markdown::relative_url(&to_rel, &target_rel) + fragment.as_deref().unwrap_or("");
            edits.push((l.range.clone(), url));
        }
        apply_edits(&mut body, edits);
        let doc = Document {
            front: r.doc.front.clone(),
            body,
            newline: r.doc.newline,
        };
        tree::ensure_inside(&self.tree.root, &to_path)?;
        tree::write_atomic(&to_path, doc.join().as_bytes())?;
        let from_path = self.tree.root.join(&from_rel);
        fs::remove_file(&from_path).map_err(|e| Error::io("cannot remove", &from_path, e))?;
        remove_empty_dirs(&self.tree.root, from_path.parent());

        // 2. Every entry that points at the old id.
        let searcher = index.searcher();
        let referrers: Vec<String> = index
            .lookup(&searcher, index.fields.link, &from)
            .into_iter()
            .filter_map(|a| index.stored(&searcher, a))
            .map(|m| m.rel)
            .filter(|rel| *rel != from_rel)
            .collect();
        drop(searcher);
        let mut rewritten = Vec::new();
        for rel in referrers {
            let (f2, t2, to_rel2, rel2) = (from.clone(), to.clone(), to_rel.clone(), rel.clone());
            self.edit(&lock, &rel, false, move |meta, body| {
                let mut changed = Vec::new();
                for r in meta.relations.iter_mut().filter(|r| r.to == f2) {
                    r.to = t2.clone();
                    if !changed.contains(&"relations".to_string()) {
                        changed.push("relations".into());
                    }
                }
                for s in meta.supersedes.iter_mut().filter(|s| **s == f2) {
                    *s = t2.clone();
                    changed.push("supersedes".into());
                }
                if meta.superseded_by.as_deref() == Some(f2.as_str()) {
                    meta.superseded_by = Some(t2.clone());
                    changed.push("superseded_by".into());
                }
                let mut edits = Vec::new();
                for l in markdown::links(body, &rel2)
                    .into_iter()
                    .filter(|l| l.target == f2)
                {
                    if l.wiki {
                        edits.push((l.range, t2.clone()));
                    } else {
                        let fragment = body[l.range.clone()]
                            .find('#')
                            .map(|i| body[l.range.clone()][i..].to_string());
                        edits.push((
                            l.range,
                            markdown::relative_url(&rel2, &to_rel2)
                                + fragment.as_deref().unwrap_or(""),
                        ));
                    }
                }
                apply_edits(body, edits);
                changed.dedup();
                Ok(changed)
            })?;
            rewritten.push(tree::id_of_rel(&rel).unwrap_or(rel));
        }
        drop(index);
        SearchIndex::open_synced(&self.tree, Some(&lock), self.freshness().full())?;
        Ok(MoveReport {
            schema: "memtree.mv/v1",
            from,
            to,
            file: self.tree.display_path(&to_rel),
            rewritten,
        })
    }

    /// Deletes an entry's file (git keeps its history). Warns about entries that still link to it.
    ///
    /// # Errors
    /// Unknown id.
    pub fn rm(&self, id: &str) -> Result<WriteReport> {
        let (id, rel) = self.resolve(id)?;
        let lock = self.lock()?;
        let path = self.tree.root.join(&rel);
        fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
        if !rel.ends_with(tree::FOLDER_NOTE) {
            remove_empty_dirs(&self.tree.root, path.parent());
        }
        let (index, _) =
            SearchIndex::open_synced(&self.tree, Some(&lock), self.freshness().full())?;
        let searcher = index.searcher();
        let warnings = index
            .lookup(&searcher, index.fields.link, &id)
            .into_iter()
            .filter_map(|a| index.stored(&searcher, a))
            .map(|m| format!("{} still links to {id}", m.id))
            .collect();
        Ok(WriteReport {
            schema: "memtree.rm/v1",
            id,
            file: self.tree.display_path(&rel),
            changed: vec!["removed".into()],
            warnings,
        })
    }

    /// Validates every file: YAML, required title, allowed values, ids, and links that point
    /// nowhere. Never stops at the first problem.
    ///
    /// # Errors
    /// Only when the tree cannot be walked.
    pub fn check(&self) -> Result<CheckReport> {
        let walk = self.tree.walk()?;
        let mut diags = Vec::new();
        if let Err(e) = Config::load(&self.tree.root) {
            diags.push(Diagnostic {
                file: self.tree.display_path(tree::CONFIG_FILE),
                line: None,
                severity: "error",
                message: e.to_string(),
            });
        }
        for p in &walk.skipped {
            diags.push(Diagnostic {
                file: p.display().to_string(),
                line: None,
                severity: "warning",
                message: "file name is not UTF-8; it is not indexed".into(),
            });
        }
        let ids: std::collections::HashSet<String> = walk
            .files
            .iter()
            .filter_map(|f| tree::id_of_rel(&f.rel))
            .collect();
        for f in &walk.files {
            let display = self.tree.display_path(&f.rel);
            let push = |diags: &mut Vec<Diagnostic>, line, severity, message: String| {
                diags.push(Diagnostic {
                    file: display.clone(),
                    line,
                    severity,
                    message,
                })
            };
            let r = match self.read_record(&f.rel) {
                Ok(r) => r,
                Err(Error::FrontMatter { line, message, .. }) => {
                    push(&mut diags, Some(line), "error", message);
                    continue;
                }
                Err(e) => {
                    push(&mut diags, None, "error", e.to_string());
                    continue;
                }
            };
            let folder_note = f.rel.ends_with(&format!("/{}", tree::FOLDER_NOTE));
            if !folder_note {
                if let Err(e) = tree::validate_id(&r.stored.id) {
                    push(&mut diags, None, "error", e.to_string());
                }
                if r.doc.front.is_none() {
                    push(
                        &mut diags,
                        Some(1),
                        "error",
                        "no front matter (a `---` block with at least `title:`)".into(),
                    );
                } else if r.meta.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
                    push(
                        &mut diags,
                        Some(entry::FRONT_FIRST_LINE),
                        "error",
                        "missing required key `title`".into(),
                    );
                }
            }
            for p in &r.problems {
                push(&mut diags, Some(p.line), "error", p.message.clone());
            }
            let mut targets: Vec<(&str, String)> = r
                .meta
                .relations
                .iter()
                .map(|x| ("relation", x.to.clone()))
                .collect();
            targets.extend(r.meta.supersedes.iter().map(|s| ("supersedes", s.clone())));
            targets.extend(
                r.meta
                    .superseded_by
                    .iter()
                    .map(|s| ("superseded_by", s.clone())),
            );
            targets.extend(r.links.iter().map(|l| ("body link", l.target.clone())));
            for (what, t) in targets {
                if !ids.contains(&t) {
                    let hint = crate::text::closest(&t, ids.iter().map(String::as_str), 1);
                    let hint = hint
                        .first()
                        .map(|h| format!("; did you mean {h}?"))
                        .unwrap_or_default();
                    push(
                        &mut diags,
                        None,
                        "error",
                        format!("{what} to `{t}` points to no entry{hint}"),
                    );
                }
            }
            if r.stored.status == "superseded" && r.stored.superseded_by.is_none() {
                push(
                    &mut diags,
                    None,
                    "warning",
                    "status is superseded but `superseded_by` is not set".into(),
                );
            }
        }
        let errors = diags.iter().filter(|d| d.severity == "error").count();
        Ok(CheckReport {
            schema: "memtree.check/v1",
            files: walk.files.len(),
            errors,
            warnings: diags.len() - errors,
            diagnostics: diags,
        })
    }

    /// Counts entries by kind, status, maturity and domain.
    ///
    /// # Errors
    /// Cache failures.
    pub fn stats(&self) -> Result<Stats> {
        let (index, sync) = SearchIndex::open_synced(&self.tree, None, self.freshness())?;
        let all = index.all();
        let mut s = Stats {
            schema: "memtree.stats/v1",
            files: sync.files,
            entries: all.len() as u64,
            unreadable: sync.files.saturating_sub(all.len()),
            by_kind: BTreeMap::new(),
            by_status: BTreeMap::new(),
            by_maturity: BTreeMap::new(),
            by_domain: BTreeMap::new(),
            cache_bytes: dir_size(&self.tree.cache_dir()),
        };
        for m in all {
            *s.by_kind
                .entry(m.kind.unwrap_or_else(|| "-".into()))
                .or_default() += 1;
            *s.by_status.entry(m.status).or_default() += 1;
            *s.by_maturity
                .entry(m.maturity.unwrap_or_else(|| "-".into()))
                .or_default() += 1;
            let domain = m.id.split('/').next().unwrap_or("").to_string();
            *s.by_domain.entry(domain).or_default() += 1;
        }
        Ok(s)
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Applies non-overlapping byte-range replacements, last first.
fn apply_edits(text: &mut String, mut edits: Vec<(std::ops::Range<usize>, String)>) {
    edits.sort_by_key(|e| std::cmp::Reverse(e.0.start));
    for (range, with) in edits {
        text.replace_range(range, &with);
    }
}

/// Removes empty folders from `dir` up to (not including) the root.
fn remove_empty_dirs(root: &Path, mut dir: Option<&Path>) {
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

fn check_relation_type(kind: &str) -> Result<()> {
    if entry::RELATION_TYPES.contains(&kind) {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            key: "type".into(),
            reason: format!(
                "unknown relation type `{kind}`; expected one of {}",
                entry::RELATION_TYPES.join(", ")
            ),
        })
    }
}

/// Checks a single value for a key the way `check` would, as an error.
fn check_value(key: &str, value: &str) -> Result<()> {
    // Quoted, the value reaches parse_meta as text; numeric keys parse text themselves.
    let yaml = format!("title: x\n{key}: {}\n", entry::yaml_scalar(value));
    let (_, problems) = entry::parse_meta(&yaml).map_err(|e| Error::InvalidValue {
        key: key.into(),
        reason: e.message,
    })?;
    match problems.into_iter().next() {
        Some(p) => Err(Error::InvalidValue {
            key: key.into(),
            reason: p.message,
        }),
        None => Ok(()),
    }
}

/// How an assignment changes a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Add,
    Remove,
}

const SETTABLE: &[&str] = &[
    "title",
    "kind",
    "summary",
    "aliases",
    "tags",
    "scope",
    "importance",
    "maturity",
    "decay",
    "status",
    "supersedes",
    "superseded_by",
    "why",
    "date",
];
const LIST_KEYS: &[&str] = &["aliases", "tags", "scope", "supersedes"];

fn parse_assignment(a: &str) -> Result<(String, Op, String)> {
    let Some(eq) = a.find('=') else {
        return Err(Error::InvalidValue {
            key: a.to_string(),
            reason: "expected KEY=VALUE (or KEY+=VALUE / KEY-=VALUE for lists)".into(),
        });
    };
    let (mut key, value) = (a[..eq].trim().to_string(), a[eq + 1..].trim().to_string());
    let op = if let Some(k) = key.strip_suffix('+') {
        key = k.to_string();
        Op::Add
    } else if let Some(k) = key.strip_suffix('-') {
        key = k.to_string();
        Op::Remove
    } else {
        Op::Set
    };
    if !SETTABLE.contains(&key.as_str()) {
        let reason = if key == "relations" {
            "use `memtree link` / `memtree unlink` for relations".to_string()
        } else if key == "created" || key == "updated" {
            "`created` and `updated` are stamped by memtree".to_string()
        } else {
            format!(
                "not a key that `set` changes; settable keys: {}",
                SETTABLE.join(", ")
            )
        };
        return Err(Error::InvalidValue { key, reason });
    }
    if op != Op::Set && !LIST_KEYS.contains(&key.as_str()) {
        return Err(Error::InvalidValue {
            key,
            reason: format!(
                "+= and -= work on list keys only ({})",
                LIST_KEYS.join(", ")
            ),
        });
    }
    Ok((key, op, value))
}

fn split_list(value: &str) -> Vec<String> {
    let v = value.trim();
    if v.starts_with('[')
        && let Ok(serde_yaml::Value::Sequence(items)) = serde_yaml::from_str(v)
    {
        return items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect();
    }
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn apply(meta: &mut Meta, key: &str, op: Op, value: &str) -> Result<()> {
    let empty = value.is_empty();
    if !empty && !LIST_KEYS.contains(&key) {
        check_value(key, value)?;
    }
    let opt = || (!empty).then(|| value.to_string());
    match key {
        "title" if empty => {
            return Err(Error::InvalidValue {
                key: "title".into(),
                reason: "the title cannot be removed".into(),
            });
        }
        "title" => meta.title = opt(),
        "kind" => meta.kind = opt(),
        "summary" => meta.summary = opt(),
        "maturity" => meta.maturity = opt(),
        "decay" => meta.decay = opt(),
        "status" => meta.status = opt(),
        "why" => meta.why = opt(),
        "date" => meta.date = opt(),
        "superseded_by" => {
            if let Some(v) = opt() {
                tree::validate_id(&tree::normalize_id(&v))?;
            }
            meta.superseded_by = opt().map(|v| tree::normalize_id(&v));
        }
        "importance" => {
            meta.importance = if empty {
                None
            } else {
                Some(value.parse().map_err(|_| Error::InvalidValue {
                    key: "importance".into(),
                    reason: format!("`{value}` is not a number between 0.0 and 1.0"),
                })?)
            }
        }
        list_key => {
            let list = match list_key {
                "aliases" => &mut meta.aliases,
                "tags" => &mut meta.tags,
                "scope" => &mut meta.scope,
                _ => &mut meta.supersedes,
            };
            let items = split_list(value);
            match op {
                Op::Set => *list = items,
                Op::Add => {
                    for i in items {
                        if !list.contains(&i) {
                            list.push(i);
                        }
                    }
                }
                Op::Remove => list.retain(|x| !items.contains(x)),
            }
        }
    }
    Ok(())
}
