//! `import`: entries from the files agents already keep ([`crate::import`] reads them), as one
//! changeset and one commit.
//!
//! Each planned entry is `add` (new id), `update` (an entry this import wrote before from the
//! same file, whose source text changed: title, kind, aliases, tags, scope, relations and body
//! are rewritten, `updated` stamped; importance and maturity stay as curated), `noop` (already
//! as the source says), or `skip` (an entry of that id that was written by hand or imported
//! from another file, an invalid id, text that looks like a secret or holds `<private>`). So a
//! second import of unchanged sources writes nothing: the tree stays byte-identical.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use super::{Memory, timestamp};
use crate::changeset::{Base, Changeset};
use crate::entry::{self, Document, Meta};
use crate::error::Result;
use crate::git::CommitReport;
use crate::import::{Item, ProjectFiles, Skipped};
use crate::tree;

/// One planned entry.
#[derive(Debug, Clone, Serialize)]
pub struct ImportRow {
    /// `add`, `update`, `noop` or `skip`.
    pub action: &'static str,
    /// The entry id.
    pub id: String,
    /// The source file, relative to the project.
    pub file: String,
    /// The section's heading path, when the entry is a section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    /// Why, for `skip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What `import` planned and did (`memtree.import/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// Always `memtree.import/v1`.
    pub schema: &'static str,
    /// Nothing was written (`--dry-run`).
    pub dry_run: bool,
    /// The source files, relative to the project, in the order they were taken (an `@import` of
    /// a source of its own adds it).
    pub files: Vec<String>,
    /// Every file whose bytes were read (sources and their `@imports`), relative to the
    /// project: nothing else was opened.
    pub read: Vec<String>,
    /// Every planned entry, in source order.
    pub plan: Vec<ImportRow>,
    /// Sources, folders and `@imports` that were not read, and why (reported, never fatal).
    pub skipped: Vec<Skipped>,
    /// The commit, or why there is none.
    pub commit: CommitReport,
}

/// The `source` front-matter value of an imported entry.
fn source_value(item: &Item) -> serde_yaml::Value {
    let mut m = serde_yaml::Mapping::new();
    m.insert("by".into(), "import".into());
    m.insert("file".into(), item.file.clone().into());
    if let Some(h) = &item.heading {
        m.insert("heading".into(), h.clone().into());
    }
    serde_yaml::Value::Mapping(m)
}

/// The file an entry says it was imported from, if it was.
fn imported_from(meta: &Meta) -> Option<String> {
    let (_, v) = meta.extra.iter().find(|(k, _)| k == "source")?;
    let m = v.as_mapping()?;
    (m.get("by")?.as_str()? == "import").then(|| m.get("file")?.as_str().map(str::to_string))?
}

fn body_text(item: &Item) -> String {
    format!("\n{}\n", item.body.trim_end())
}

impl Memory {
    /// Plans (and unless `dry_run`, applies as one commit) the entries of `paths` (absolute
    /// files, or folders whose `.md` files are read), or of every known source in the project
    /// when `paths` is empty (see [`crate::import`]).
    ///
    /// # Errors
    /// Write errors; an unreadable source is reported in `skipped`, not raised.
    pub fn import(&self, paths: &[PathBuf], dry_run: bool) -> Result<ImportReport> {
        let project = self.tree.project().to_path_buf();
        let sources = ProjectFiles::open(&project, self.tree.max_file_bytes);
        let (queue, skipped) = if paths.is_empty() {
            crate::import::discover(&sources)
        } else {
            let mut queue = Vec::new();
            let mut skipped = Vec::new();
            for p in paths {
                let (found, refused) = crate::import::sources_in(&sources, p);
                queue.extend(found);
                skipped.extend(refused);
            }
            (queue, skipped)
        };
        self.import_sources(&sources, queue, skipped, dry_run)
    }

    /// `import --layer user`: the agents' user-level files in `home` (`~/.claude/CLAUDE.md`,
    /// `~/.codex/AGENTS.md`, `~/.cursor/rules/*.mdc`; [`crate::import::discover_user`]) into
    /// this tree, the user layer, as [`Memory::import`] does for a project's. Nothing outside
    /// `home` is read.
    ///
    /// # Errors
    /// As [`Memory::import`].
    pub fn import_user_files(&self, home: &std::path::Path, dry_run: bool) -> Result<ImportReport> {
        let sources = ProjectFiles::open(home, self.tree.max_file_bytes);
        let (queue, skipped) = crate::import::discover_user(&sources);
        self.import_sources(&sources, queue, skipped, dry_run)
    }

    fn import_sources(
        &self,
        sources: &ProjectFiles,
        mut queue: Vec<PathBuf>,
        mut skipped: Vec<Skipped>,
        dry_run: bool,
    ) -> Result<ImportReport> {
        let mut items: Vec<Item> = Vec::new();
        let mut read: Vec<String> = Vec::new();
        // Each file is a source once, whatever names it (a link, an `@import`, a second path).
        let mut seen: HashMap<PathBuf, String> = HashMap::new();
        let mut files: Vec<String> = Vec::new();
        let mut next = 0;
        while let Some(f) = queue.get(next).cloned() {
            next += 1;
            let file = sources.shown(&f);
            let canonical = sources.check(&f).map(|(canonical, _)| canonical);
            if let Some(first) = canonical.as_ref().ok().and_then(|c| seen.get(c)) {
                if *first != file {
                    skipped.push(Skipped {
                        reason: format!("it is the same file as {first}, imported once"),
                        file,
                    });
                }
                continue;
            }
            files.push(file.clone());
            match crate::import::read(sources, &f) {
                Ok(found) => {
                    if let Ok(c) = canonical {
                        seen.insert(c, file);
                    }
                    items.extend(found.items);
                    read.extend(found.read);
                    skipped.extend(found.refused);
                    for s in found.sources {
                        if !seen.contains_key(&s) && !queue.contains(&s) {
                            queue.push(s);
                        }
                    }
                }
                Err(reason) => skipped.push(Skipped { file, reason }),
            }
        }
        let lock = self.lock()?;
        let mut changeset = Changeset::new(String::new());
        let mut plan = Vec::new();
        let mut planned = std::collections::HashSet::new();
        let bar = crate::progress::begin("importing", items.len() as u64);
        for item in &items {
            bar.advance(1);
            let row = |action, reason: Option<String>| ImportRow {
                action,
                id: item.id.clone(),
                file: item.file.clone(),
                heading: item.heading.clone(),
                reason,
            };
            if let Err(e) = tree::validate_id(&item.id) {
                plan.push(row("skip", Some(e.to_string())));
                continue;
            }
            if !planned.insert(item.id.clone()) {
                plan.push(row("skip", Some("another section has the same id".into())));
                continue;
            }
            let text = format!("{}\n{}", item.title, item.body);
            if crate::private::holds_tag(&text) {
                plan.push(row(
                    "skip",
                    Some("it holds <private> text, which memtree never stores".into()),
                ));
                continue;
            }
            if let Some(f) = crate::secrets::secrets(&text).first() {
                plan.push(row(
                    "skip",
                    Some(format!(
                        "it holds what looks like {} ({})",
                        f.what, f.redacted
                    )),
                ));
                continue;
            }
            let path = self.tree.safe(&format!("{}.md", item.id))?;
            if !self.exists(&item.id) {
                changeset.write(path, self.render_import(item), Base::Absent);
                plan.push(row("add", None));
                continue;
            }
            let (record, _) = self.read_record(&path)?;
            match imported_from(&record.meta) {
                Some(file) if file == item.file => {}
                Some(other) => {
                    plan.push(row(
                        "skip",
                        Some(format!("the entry exists and was imported from {other}")),
                    ));
                    continue;
                }
                None => {
                    plan.push(row(
                        "skip",
                        Some("the entry exists and was not imported: memtree leaves it".into()),
                    ));
                    continue;
                }
            }
            let edit = self.plan_edit(&path, true, |meta, body| {
                meta.title = Some(item.title.clone());
                meta.kind = Some(item.kind.clone());
                meta.aliases = item.aliases.clone();
                meta.tags = item.tags.clone();
                meta.scope = item.scope.clone();
                meta.relations = item.relations.clone();
                *body = body_text(item);
                Ok(["title", "kind", "aliases", "tags", "scope", "relations"]
                    .map(String::from)
                    .to_vec())
            })?;
            match edit {
                Some(edit) => {
                    changeset.write(path, edit.text, Base::Content(edit.base));
                    plan.push(row("update", None));
                }
                None => plan.push(row("noop", None)),
            }
        }
        let writes = plan
            .iter()
            .filter(|r| matches!(r.action, "add" | "update"))
            .count();
        let commit = if dry_run {
            CommitReport::skipped(crate::git::DRY_RUN)
        } else if changeset.is_empty() {
            CommitReport::skipped(crate::git::NOTHING_CHANGED)
        } else {
            changeset.operation = format!(
                "import {writes} {} from {}",
                if writes == 1 { "entry" } else { "entries" },
                files.join(", ")
            );
            self.commit(&lock, changeset)?
        };
        Ok(ImportReport {
            schema: "memtree.import/v1",
            dry_run,
            files,
            read,
            plan,
            skipped,
            commit,
        })
    }

    /// The file of a new imported entry.
    fn render_import(&self, item: &Item) -> String {
        let meta = Meta {
            title: Some(item.title.clone()),
            kind: Some(item.kind.clone()),
            aliases: item.aliases.clone(),
            tags: item.tags.clone(),
            scope: item.scope.clone(),
            importance: item.importance,
            maturity: item.maturity.clone(),
            relations: item.relations.clone(),
            created: Some(timestamp(self.now)),
            updated: Some(timestamp(self.now)),
            extra: vec![("source".into(), source_value(item))],
            ..Meta::default()
        };
        Document::new(Some(entry::render_meta(&meta)), body_text(item), "\n").join()
    }
}
