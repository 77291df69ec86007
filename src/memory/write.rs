//! Writing operations: `add`, `set`, `link`, `unlink`, `mv`, `rm`.
//!
//! Each one reads what it needs under the write lock, plans every file change as one
//! [`Changeset`] (front-matter edits change only the lines of the keys concerned, and the body
//! byte for byte), applies it, and refreshes the index. A change that changes nothing writes
//! nothing: no `updated` stamp, no diff.

use std::fs;
use std::path::PathBuf;

use super::assign;
use super::{Memory, MoveReport, SupersedeReport, WriteReport, timestamp};
use crate::changeset::{Base, Changeset};
use crate::entry::{self, Document, Meta, Relation};
use crate::error::{Error, Result};
use crate::git::CommitReport;
use crate::markdown;
use crate::retrieve::{self, Query};
use crate::tree::{self, SafePath, WriteLock};

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
    /// Ids this entry supersedes (set by [`Memory::supersede`]).
    pub supersedes: Vec<String>,
}

/// How [`Memory::edit`] changes an entry's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyChange {
    /// Leave the body as it is (only front-matter fields change).
    Keep,
    /// Replace the body with this markdown.
    Replace(String),
    /// Add this markdown at the end of the body, as a paragraph of its own.
    Append(String),
}

impl BodyChange {
    /// The new body from the current one. The blank line that separates front matter from
    /// body is kept; the result ends with a newline.
    pub(super) fn apply(&self, body: &str) -> String {
        let end = |mut s: String| {
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s
        };
        match self {
            BodyChange::Keep => body.to_string(),
            BodyChange::Replace(text) => {
                let lead = if body.starts_with('\n') || body.is_empty() {
                    "\n"
                } else {
                    ""
                };
                end(format!("{lead}{}", text.trim_start_matches('\n')))
            }
            BodyChange::Append(text) => {
                let mut out = body.trim_end_matches('\n').to_string();
                out.push_str(if out.trim().is_empty() { "\n" } else { "\n\n" });
                out.push_str(text.trim_matches('\n'));
                end(out)
            }
        }
    }
}

/// A planned rewrite of one entry file.
pub(super) struct Edit {
    /// Keys changed (the `updated` stamp included when it was set).
    pub(super) changed: Vec<String>,
    /// The new file content.
    pub(super) text: String,
    /// The content hash the edit was planned from.
    pub(super) base: u64,
}

/// Applies non-overlapping byte-range replacements, last first.
fn apply_edits(text: &mut String, mut edits: Vec<(std::ops::Range<usize>, String)>) {
    edits.sort_by_key(|e| std::cmp::Reverse(e.0.start));
    for (range, with) in edits {
        text.replace_range(range, &with);
    }
}

/// The URL fragment (`#heading`) of the link text at `range`, if any.
fn fragment(body: &str, range: &std::ops::Range<usize>) -> String {
    body[range.clone()]
        .find('#')
        .map(|i| body[range.clone()][i..].to_string())
        .unwrap_or_default()
}

/// Points every link of an entry (file `rel`) at `from` to `to` (whose file is `to_rel`):
/// relations, `supersedes`, `superseded_by`, wiki links and relative links (keeping their
/// `#fragment`). Returns the keys changed; the body is changed in place.
pub(super) fn retarget(
    meta: &mut Meta,
    body: &mut String,
    rel: &str,
    from: &str,
    to: &str,
    to_rel: &str,
) -> Vec<String> {
    let mut changed = Vec::new();
    for r in meta.relations.iter_mut().filter(|r| r.to == from) {
        r.to = to.to_string();
        changed.push("relations".to_string());
    }
    for s in meta.supersedes.iter_mut().filter(|s| *s == from) {
        *s = to.to_string();
        changed.push("supersedes".into());
    }
    if meta.superseded_by.as_deref() == Some(from) {
        meta.superseded_by = Some(to.to_string());
        changed.push("superseded_by".into());
    }
    let mut edits = Vec::new();
    for l in markdown::links(body, rel)
        .into_iter()
        .filter(|l| l.target == from)
    {
        let with = if l.wiki {
            to.to_string()
        } else {
            markdown::relative_url(rel, to_rel) + &fragment(body, &l.range)
        };
        edits.push((l.range, with));
    }
    apply_edits(body, edits);
    changed.dedup();
    changed
}

impl Memory {
    /// Applies `changeset` under `lock`, refreshes the index, and commits the changed files to
    /// git (see [`Memory::git_commit`]).
    pub(super) fn commit(&self, lock: &WriteLock, changeset: Changeset) -> Result<CommitReport> {
        self.commit_indexed(lock, changeset)
            .map(|(commit, _)| commit)
    }

    /// [`Memory::commit`], also returning the refreshed index. The change is committed before
    /// the index is refreshed, so that an index error never leaves it uncommitted.
    fn commit_indexed(
        &self,
        lock: &WriteLock,
        mut changeset: Changeset,
    ) -> Result<(CommitReport, crate::index::SearchIndex)> {
        changeset.allow_secret = self.allow_secret;
        changeset.commit = self.commit;
        changeset.secret_baseline = self.secret_baseline(&changeset.paths());
        let applied = changeset.apply(&self.tree, lock)?;
        crate::failpoint::hit("commit");
        let commit = self.git_commit(&applied);
        crate::changeset::finish(&self.tree, lock);
        let index = self.refresh(lock)?;
        Ok((commit, index))
    }

    /// Validates a new entry and renders its file: `(id, text)`.
    fn render_new(&self, new: &NewEntry) -> Result<(String, String)> {
        let id = tree::normalize_id(&new.id);
        tree::validate_id(&id)?;
        if new.title.trim().is_empty() {
            return Err(Error::InvalidValue {
                key: "title".into(),
                reason: "a title is required".into(),
            });
        }
        let kind = new.kind.clone().unwrap_or_else(|| "fact".into());
        assign::check_value("kind", &kind)?;
        if let Some(i) = new.importance {
            assign::check_value("importance", &i.to_string())?;
        }
        let meta = Meta {
            title: Some(new.title.trim().to_string()),
            kind: Some(kind.clone()),
            summary: new.summary.clone(),
            aliases: new.aliases.clone(),
            tags: new.tags.clone(),
            scope: new.scope.clone(),
            importance: new.importance,
            why: new.why.clone(),
            supersedes: new.supersedes.clone(),
            created: Some(timestamp(self.now)),
            updated: Some(timestamp(self.now)),
            ..Meta::default()
        };
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
        let doc = Document::new(Some(entry::render_meta(&meta)), format!("\n{body}"), "\n");
        Ok((id, doc.join()))
    }

    /// The file of a new entry `id`, refusing an id that exists (as a file or a folder note).
    pub(super) fn new_path(&self, id: &str) -> Result<SafePath> {
        let rel = format!("{id}.md");
        let path = self.tree.safe(&rel)?;
        let note = self.tree.safe(&format!("{id}/{}", tree::FOLDER_NOTE))?;
        if fs::symlink_metadata(path.abs()).is_ok() || fs::symlink_metadata(note.abs()).is_ok() {
            return Err(Error::Exists {
                id: id.to_string(),
                file: PathBuf::from(self.tree.display_path(&rel)),
            });
        }
        Ok(path)
    }

    /// Writes a new entry. Refuses an existing id; warns about near-duplicates (entries whose
    /// title or alias matches the new title, or that cover most of its words).
    ///
    /// # Errors
    /// [`Error::InvalidId`], [`Error::Exists`], [`Error::InvalidValue`] for a bad kind or
    /// importance; [`Error::UnsafePath`]; [`Error::Secret`]; I/O errors.
    pub fn add(&self, new: &NewEntry) -> Result<WriteReport> {
        let (id, text) = self.render_new(new)?;
        let lock = self.lock()?;
        let path = self.new_path(&id)?;
        // Near-duplicates, from the index as it is before the write.
        let warnings = {
            let index = self.refresh(&lock)?;
            let probe = Query {
                text: new.title.clone(),
                k: Some(3),
                ..Query::default()
            };
            let config = self.config_without_dense();
            let ctx = retrieve::Ctx {
                config: &config,
                ..self.ctx(&index, &probe)
            };
            let ranked = retrieve::run(&ctx);
            ranked
                .hits
                .iter()
                .filter(|(c, _)| {
                    c.tier == retrieve::Tier::Alias && c.relevance >= 0.9
                        || c.coverage.is_some_and(|cov| cov >= 0.8)
                })
                .take(3)
                .map(|(c, _)| format!("similar entry exists: {} ({})", c.meta.id, c.meta.title))
                .collect()
        };
        let file = self.tree.display_path(path.rel());
        let mut changeset = Changeset::new(format!("add {id}"));
        changeset.write(path, text, Base::Absent);
        let commit = self.commit(&lock, changeset)?;
        Ok(WriteReport {
            schema: "memtree.add/v1",
            id,
            file,
            changed: vec!["created".into()],
            warnings,
            commit,
        })
    }

    /// Plans a rewrite of the front matter (and, for link rewrites, the body) of the entry at
    /// `path` with `f`, which changes `meta`/`body` and returns the keys it changed. Only those
    /// keys' lines (and `updated`, when `stamp`) change in the file. `None` when nothing
    /// changes.
    pub(super) fn plan_edit(
        &self,
        path: &SafePath,
        stamp: bool,
        f: impl FnOnce(&mut Meta, &mut String) -> Result<Vec<String>>,
    ) -> Result<Option<Edit>> {
        let (r, base) = self.read_record(path)?;
        let before = r.meta.clone();
        let mut meta = r.meta.clone();
        let mut body = r.doc.body.clone();
        let mut changed = f(&mut meta, &mut body)?;
        // A key whose rendered form is unchanged is not a change (`set kind=fact` on a fact).
        changed.retain(|k| entry::render_key(&meta, k) != entry::render_key(&before, k));
        changed.dedup();
        let body_changed = body != r.doc.body;
        if changed.is_empty() && !body_changed {
            return Ok(None);
        }
        let Some(mut yaml) = r.doc.front.clone() else {
            if changed.is_empty() && !stamp {
                // A body-only change (a link rewritten) to a file without front matter.
                let text = r.doc.with(None, body).join();
                return Ok(Some(Edit {
                    changed: vec!["body".into()],
                    text,
                    base,
                }));
            }
            return Err(Error::FrontMatter {
                file: self.tree.display_path(path.rel()).into(),
                line: 1,
                message: "the file has no front matter (a `---` block with at least a title), so \
                          memtree would have to invent one; add it by hand first"
                    .into(),
            });
        };
        if stamp {
            meta.updated = Some(timestamp(self.now));
            changed.push("updated".into());
        }
        for key in &changed {
            // New lines take the file's line ending (CRLF files stay CRLF).
            let crlf = r.doc.newline == "\r\n";
            let rendered = entry::render_key(&meta, key).map(|text| {
                if crlf {
                    text.replace('\n', "\r\n")
                } else {
                    text
                }
            });
            yaml = entry::set_key(&yaml, key, rendered.as_deref());
        }
        if body_changed {
            changed.push("body".into());
        }
        let doc = r.doc.with(Some(yaml), body);
        Ok(Some(Edit {
            changed,
            text: doc.join(),
            base,
        }))
    }

    /// Plans, applies and reports a front-matter edit of one entry: the keys changed (none
    /// when nothing changed, and then nothing is written) and the commit.
    fn edit_one(
        &self,
        operation: String,
        path: &SafePath,
        f: impl FnOnce(&mut Meta, &mut String) -> Result<Vec<String>>,
    ) -> Result<(Vec<String>, CommitReport)> {
        let lock = self.lock()?;
        let Some(edit) = self.plan_edit(path, true, f)? else {
            return Ok((
                Vec::new(),
                CommitReport::skipped(crate::git::NOTHING_CHANGED),
            ));
        };
        let mut changeset = Changeset::new(operation);
        changeset.write(path.clone(), edit.text, Base::Content(edit.base));
        let commit = self.commit(&lock, changeset)?;
        Ok((edit.changed, commit))
    }

    /// Sets front-matter fields: `key=value` (an empty value removes the key), `key+=value` and
    /// `key-=value` for list keys (aliases, tags, scope, supersedes). Values equal to the
    /// current ones change nothing and write nothing.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] naming the key for unknown keys and bad values.
    pub fn set(&self, id: &str, assignments: &[String]) -> Result<WriteReport> {
        let (id, path) = self.resolve(id)?;
        let mut ops = Vec::new();
        for a in assignments {
            ops.push(assign::parse_assignment(a)?);
        }
        let (changed, commit) = self.edit_one(format!("set {id}"), &path, |meta, _| {
            assign::apply_all(meta, ops)
        })?;
        let warnings = if changed.is_empty() {
            vec![format!(
                "{id} already has these values; nothing was written"
            )]
        } else {
            Vec::new()
        };
        Ok(WriteReport {
            schema: "memtree.set/v1",
            id,
            file: self.tree.display_path(path.rel()),
            changed,
            warnings,
            commit,
        })
    }

    /// Changes an entry's body (and, with `assignments` as for [`Memory::set`], its fields) as
    /// one change and one commit; `updated` is stamped. With `base` (the `hash` that `get
    /// --json` returned), the write fails with [`Error::Conflict`] when the file changed since
    /// it was read: optimistic concurrency for agents. Text that looks like a secret is refused
    /// as in `add`. A change that changes nothing writes nothing.
    ///
    /// # Errors
    /// Unknown id; [`Error::Conflict`] for a stale `base`; [`Error::InvalidValue`] for a bad
    /// assignment or an empty body; [`Error::Secret`]; [`Error::FrontMatter`] for a file
    /// without front matter.
    pub fn edit(
        &self,
        id: &str,
        change: &BodyChange,
        assignments: &[String],
        base: Option<&str>,
    ) -> Result<WriteReport> {
        if let BodyChange::Replace(t) | BodyChange::Append(t) = change
            && t.trim().is_empty()
        {
            return Err(Error::InvalidValue {
                key: "body".into(),
                reason: "the text is empty; an entry keeps a body".into(),
            });
        }
        let (id, path) = self.resolve(id)?;
        let mut ops = Vec::new();
        for a in assignments {
            ops.push(assign::parse_assignment(a)?);
        }
        let lock = self.lock()?;
        let stale = |now: u64| -> Option<Error> {
            let expected = base?.trim();
            (!expected.eq_ignore_ascii_case(&super::hash_hex(now))).then(|| Error::Conflict {
                file: self.tree.display_path(path.rel()).into(),
                reason: format!(
                    "it is no longer the version read (base {expected}, now {}); read it again \
                     with `memtree get --json`",
                    super::hash_hex(now)
                ),
            })
        };
        if let Some(e) = stale(crate::changeset::content_hash(&self.tree.read(&path)?)) {
            return Err(e);
        }
        let edit = self.plan_edit(&path, true, |meta, body| {
            *body = change.apply(body);
            assign::apply_all(meta, ops)
        })?;
        // The plan must come from the version the caller read, too.
        if let Some(e) = edit.as_ref().and_then(|e| stale(e.base)) {
            return Err(e);
        }
        let (changed, commit) = match edit {
            Some(edit) => {
                let mut changeset = Changeset::new(format!("edit {id}"));
                changeset.write(path.clone(), edit.text, Base::Content(edit.base));
                (edit.changed, self.commit(&lock, changeset)?)
            }
            None => (
                Vec::new(),
                CommitReport::skipped(crate::git::NOTHING_CHANGED),
            ),
        };
        let warnings = if changed.is_empty() {
            vec![format!("{id} already reads so; nothing was written")]
        } else {
            Vec::new()
        };
        Ok(WriteReport {
            schema: "memtree.edit/v1",
            id,
            file: self.tree.display_path(path.rel()),
            changed,
            warnings,
            commit,
        })
    }

    /// Adds a typed relation FROM → TO (both must exist).
    ///
    /// # Errors
    /// Unknown ids (with suggestions) or relation type.
    pub fn link(&self, from: &str, to: &str, kind: &str) -> Result<WriteReport> {
        // (TO may be another layer's entry, qualified: `platform:conventions/api/errors`.)
        assign::check_relation_type(kind)?;
        let (from, path) = self.resolve(from)?;
        // Another layer's entry (`platform:a/b/c`): it must exist there; the relation keeps
        // the qualified id (an edge of the graph tier across layers).
        let to = match crate::layers::split(to) {
            (Some(layer), bare) => {
                let (id, _) = self.layer(layer)?.resolve(bare)?;
                crate::layers::qualify(layer, &id)
            }
            (None, bare) => self.resolve(bare)?.0,
        };
        if from == to {
            return Err(Error::Refused("an entry cannot be linked to itself".into()));
        }
        let relation = Relation {
            kind: kind.to_string(),
            to: to.clone(),
        };
        let (changed, commit) =
            self.edit_one(format!("link {from} -> {to}"), &path, |meta, _| {
                if meta.relations.contains(&relation) {
                    return Ok(Vec::new());
                }
                meta.relations.push(relation);
                Ok(vec!["relations".into()])
            })?;
        let warnings = if changed.is_empty() {
            vec![format!("{from} already has a {kind} relation to {to}")]
        } else {
            Vec::new()
        };
        let changed = changed
            .into_iter()
            .map(|c| {
                if c == "relations" {
                    format!("relations: {kind} -> {to}")
                } else {
                    c
                }
            })
            .collect();
        Ok(WriteReport {
            schema: "memtree.link/v1",
            id: from,
            file: self.tree.display_path(path.rel()),
            changed,
            warnings,
            commit,
        })
    }

    /// Removes relations FROM → TO (of `kind` only, when given). TO need not exist any more.
    ///
    /// # Errors
    /// Unknown FROM; a bad relation type.
    pub fn unlink(&self, from: &str, to: &str, kind: Option<&str>) -> Result<WriteReport> {
        if let Some(k) = kind {
            assign::check_relation_type(k)?;
        }
        let (from, path) = self.resolve(from)?;
        let to = self
            .resolve(to)
            .map(|(id, _)| id)
            .unwrap_or_else(|_| tree::normalize_id(to));
        let mut body_link = false;
        let rel = path.rel().to_string();
        let (changed, commit) =
            self.edit_one(format!("unlink {from} -> {to}"), &path, |meta, body| {
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
            file: self.tree.display_path(path.rel()),
            changed,
            warnings,
            commit,
        })
    }

    /// Moves an entry to a new id and rewrites every link to it (relations, `supersedes`,
    /// `superseded_by`, wiki links and relative links in bodies), and the moved entry's own
    /// relative links. One changeset: the new file, every referrer and the removal of the old
    /// file are validated together before any is written.
    ///
    /// # Errors
    /// Unknown FROM, invalid or existing TO; [`Error::Conflict`] when a file changes meanwhile.
    pub fn mv(&self, from: &str, to: &str) -> Result<MoveReport> {
        let (from, from_path) = self.resolve(from)?;
        if from_path.rel().ends_with(tree::FOLDER_NOTE) {
            return Err(Error::Refused(
                "moving a folder note moves a folder; rename the folder by hand".into(),
            ));
        }
        let to = tree::normalize_id(to);
        tree::validate_id(&to)?;
        let to_rel = format!("{to}.md");
        let to_path = self.tree.safe(&to_rel)?;
        let lock = self.lock()?;
        if fs::symlink_metadata(to_path.abs()).is_ok() {
            return Err(Error::Exists {
                id: to,
                file: PathBuf::from(self.tree.display_path(&to_rel)),
            });
        }
        let index = self.refresh(&lock)?;
        let searcher = index.searcher();
        let rel_of = |id: &str| -> String {
            index
                .by_id(&searcher, id)
                .map_or_else(|| format!("{id}.md"), |m| m.rel)
        };
        let mut changeset = Changeset::new(format!("mv {from} -> {to}"));
        // 1. The moved entry itself, with its relative links recomputed from its new folder.
        let (r, base) = self.read_record(&from_path)?;
        let mut body = r.doc.body.clone();
        let mut edits = Vec::new();
        for l in r.links.iter().filter(|l| !l.wiki) {
            let target_rel = if l.target == from {
                to_rel.clone()
            } else {
                rel_of(&l.target)
            };
            let url = markdown::relative_url(&to_rel, &target_rel) + &fragment(&body, &l.range);
            edits.push((l.range.clone(), url));
        }
        apply_edits(&mut body, edits);
        let doc = r.doc.with(r.doc.front.clone(), body);
        changeset.write(to_path, doc.join(), Base::Absent);
        // 2. Every entry that points at the old id.
        let referrers: Vec<String> = index
            .lookup(&searcher, index.fields.link, &from)
            .into_iter()
            .filter_map(|a| index.stored(&searcher, a))
            .map(|m| m.rel)
            .filter(|rel| rel != from_path.rel())
            .collect();
        let mut rewritten = Vec::new();
        for rel in referrers {
            let path = self.tree.safe(&rel)?;
            let edit = self.plan_edit(&path, false, |meta, body| {
                Ok(retarget(meta, body, &rel, &from, &to, &to_rel))
            })?;
            if let Some(edit) = edit {
                changeset.write(path, edit.text, Base::Content(edit.base));
                rewritten.push(tree::id_of_rel(&rel).unwrap_or(rel));
            }
        }
        // 3. The old file goes last.
        changeset.delete(from_path, Base::Content(base));
        drop(searcher);
        drop(index);
        let commit = self.commit(&lock, changeset)?;
        // Hits and last use follow the entry to its new id.
        crate::usage::fold(
            &self.tree,
            &std::collections::HashMap::from([(from.clone(), to.clone())]),
        );
        Ok(MoveReport {
            schema: "memtree.mv/v1",
            from,
            to,
            file: self.tree.display_path(&to_rel),
            rewritten,
            commit,
        })
    }

    /// Marks OLD as superseded by NEW, one changeset and one commit: OLD gets
    /// `status: superseded` and `superseded_by: NEW`, NEW gets OLD in `supersedes`. NEW must
    /// exist, or `create` describes it and it is written in the same changeset. Queries then
    /// return NEW in OLD's place (following chains to the newest) and say so.
    ///
    /// # Errors
    /// Unknown ids; [`Error::Refused`] for self-supersession and for a cycle (NEW, or an entry
    /// that supersedes it, is already superseded by OLD); the errors of `add` for `create`.
    pub fn supersede(
        &self,
        old: &str,
        new: &str,
        create: Option<&NewEntry>,
    ) -> Result<SupersedeReport> {
        // OLD in another layer is an override; qualified with this tree's own layer, it is
        // this tree's entry.
        let other_layer = old.starts_with("project:") || crate::layers::split(old).0.is_some();
        if other_layer
            && self.layer != crate::layers::PROJECT
            && crate::layers::split(old).0 != Some(self.layer.as_str())
        {
            return Err(Error::Refused(format!(
                "only the project overrides another layer's entries; layer `{}` cannot \
                 supersede `{old}`",
                self.layer
            )));
        }
        let old = match crate::layers::split(old) {
            (Some(layer), bare) if layer == self.layer => bare,
            (Some(layer), bare) => return self.override_entry(layer, bare, new, create),
            (None, _) => old,
        };
        let (old, old_path) = self.resolve(old)?;
        let lock = self.lock()?;
        let mut changeset;
        let (new, new_path, created) = match create {
            None => {
                let (new, path) = self.resolve(new)?;
                changeset = Changeset::new(format!("supersede {old} -> {new}"));
                (new, path, false)
            }
            Some(entry) => {
                let (id, text, path) = self.successor(entry, new, &old, self, &old_path)?;
                changeset = Changeset::new(format!("supersede {old} -> {id}"));
                changeset.write(path.clone(), text, Base::Absent);
                (id, path, true)
            }
        };
        if old == new {
            return Err(Error::Refused(format!("{old} cannot supersede itself")));
        }
        // A cycle: following `superseded_by` from NEW must not lead back to OLD.
        let index = self.refresh(&lock)?;
        let searcher = index.searcher();
        let mut warnings = Vec::new();
        let mut changed = Vec::new();
        let mut at = new.clone();
        for _ in 0..64 {
            let Some(m) = index.by_id(&searcher, &at) else {
                break;
            };
            let Some(next) = m.superseded_by else { break };
            if next == old {
                return Err(Error::Refused(format!(
                    "{new} is already superseded (through {at}) by {old}: superseding {old} by \
                     {new} would make a cycle"
                )));
            }
            if at == new {
                warnings.push(format!(
                    "{new} is itself superseded by {next}; queries will show the newest entry"
                ));
            }
            at = next;
        }
        let previous = index
            .by_id(&searcher, &old)
            .and_then(|m| m.superseded_by)
            .filter(|p| *p != new);
        drop(searcher);
        drop(index);
        // The entry OLD pointed to before no longer supersedes it (supersession stays mutual).
        if let Some(prev) = previous {
            warnings.push(format!(
                "{old} was superseded by {prev}; it now points to {new}"
            ));
            if let Ok((_, prev_path)) = self.resolve(&prev) {
                let old_for_prev = old.clone();
                if let Some(edit) = self.plan_edit(&prev_path, true, |meta, _| {
                    meta.supersedes.retain(|s| *s != old_for_prev);
                    Ok(vec!["supersedes".into()])
                })? {
                    changed.extend(edit.changed.iter().map(|k| format!("{prev}: {k}")));
                    changeset.write(prev_path, edit.text, Base::Content(edit.base));
                }
            }
        }
        let new_for_old = new.clone();
        if let Some(edit) = self.plan_edit(&old_path, true, |meta, _| {
            meta.status = Some("superseded".into());
            meta.superseded_by = Some(new_for_old);
            Ok(vec!["status".into(), "superseded_by".into()])
        })? {
            changed.extend(edit.changed.iter().map(|k| format!("{old}: {k}")));
            changeset.write(old_path.clone(), edit.text, Base::Content(edit.base));
        }
        if !created {
            self.plan_supersedes(&new, &new_path, &old, &mut changed, &mut changeset)?;
        } else {
            changed.push(format!("{new}: created"));
        }
        let commit = if changeset.is_empty() {
            warnings.push(format!("{old} is already superseded by {new}"));
            CommitReport::skipped(crate::git::NOTHING_CHANGED)
        } else {
            self.commit(&lock, changeset)?
        };
        Ok(SupersedeReport {
            schema: "memtree.supersede/v1",
            old,
            new,
            created,
            changed,
            warnings,
            commit,
        })
    }

    /// Plans adding `old` to the `supersedes` of the existing entry `id` (file `path`) into
    /// `changeset`, and names the changed field in `changed`; nothing when it is there already.
    ///
    /// # Errors
    /// The file cannot be read or its front matter edited.
    fn plan_supersedes(
        &self,
        id: &str,
        path: &crate::tree::SafePath,
        old: &str,
        changed: &mut Vec<String>,
        changeset: &mut Changeset,
    ) -> Result<()> {
        if let Some(edit) = self.plan_edit(path, true, |meta, _| {
            if !meta.supersedes.iter().any(|s| s == old) {
                meta.supersedes.push(old.to_string());
            }
            Ok(vec!["supersedes".into()])
        })? {
            changed.extend(edit.changed.iter().map(|k| format!("{id}: {k}")));
            changeset.write(path.clone(), edit.text, Base::Content(edit.base));
        }
        Ok(())
    }

    /// The entry `new` that `supersede` creates from `template` in this tree: it supersedes
    /// `old` (qualified when it is another layer's), and takes the kind of OLD's file
    /// `old_path` (read by `old_tree`, the memory OLD lives in) when the template has none.
    /// Returns its id, its text and the path it goes to.
    ///
    /// # Errors
    /// OLD's file cannot be read; the entry cannot be rendered; the path is taken or unsafe.
    fn successor(
        &self,
        template: &NewEntry,
        new: &str,
        old: &str,
        old_tree: &Memory,
        old_path: &crate::tree::SafePath,
    ) -> Result<(String, String, crate::tree::SafePath)> {
        let mut entry = template.clone();
        entry.id = new.to_string();
        entry.supersedes = vec![old.to_string()];
        if entry.kind.is_none() {
            entry.kind = old_tree.read_record(old_path)?.0.meta.kind;
        }
        let (id, text) = self.render_new(&entry)?;
        let path = self.new_path(&id)?;
        Ok((id, text, path))
    }

    /// `supersede LAYER:OLD NEW`: an override. NEW (created from `create`, else existing) gets
    /// the qualified OLD in `supersedes`, so that this tree's answers show NEW in OLD's place;
    /// the other layer is only read (OLD must exist there), never written.
    ///
    /// # Errors
    /// [`Error::UnknownLayer`]; OLD not found in its layer; as [`Memory::supersede`] for NEW.
    fn override_entry(
        &self,
        layer: &str,
        old: &str,
        new: &str,
        create: Option<&NewEntry>,
    ) -> Result<SupersedeReport> {
        let other = self.layer(layer)?;
        let (old_id, old_path) = other.resolve(old)?;
        let qualified = crate::layers::qualify(layer, &old_id);
        let lock = self.lock()?;
        let mut changed = Vec::new();
        let mut changeset = Changeset::new(format!("supersede {qualified} -> {new}"));
        let (new, created) = match create {
            Some(entry) => {
                let (id, text, path) = self.successor(entry, new, &qualified, &other, &old_path)?;
                changeset.write(path, text, Base::Absent);
                changed.push(format!("{id}: created"));
                (id, true)
            }
            None => {
                let (id, path) = self.resolve(new)?;
                self.plan_supersedes(&id, &path, &qualified, &mut changed, &mut changeset)?;
                (id, false)
            }
        };
        let mut warnings = Vec::new();
        let commit = if changeset.is_empty() {
            warnings.push(format!("{new} already overrides {qualified}"));
            CommitReport::skipped(crate::git::NOTHING_CHANGED)
        } else {
            self.commit(&lock, changeset)?
        };
        Ok(SupersedeReport {
            schema: "memtree.supersede/v1",
            old: qualified,
            new,
            created,
            changed,
            warnings,
            commit,
        })
    }

    /// Deletes an entry's file. Warns about entries that still link to it. In a git
    /// repository a file whose content git does not have (never committed, or changed since)
    /// is refused, as `git rm` refuses it, unless `force`.
    ///
    /// # Errors
    /// Unknown id; [`Error::LocalChanges`]; [`Error::UnsafePath`] when the file is reached
    /// through a symbolic link.
    pub fn rm(&self, id: &str, force: bool) -> Result<WriteReport> {
        let (id, path) = self.resolve(id)?;
        let lock = self.lock()?;
        // A file that does not parse can still be removed, so only its bytes are read.
        let bytes = self.tree.read(&path)?;
        self.refuse_local_changes(&path, &bytes, force)?;
        let base = crate::changeset::content_hash(&bytes);
        let mut changeset = Changeset::new(format!("rm {id}"));
        let rel = path.rel().to_string();
        changeset.delete(path, Base::Content(base));
        let (commit, index) = self.commit_indexed(&lock, changeset)?;
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
            commit,
        })
    }
}
