//! `check`: validates every file of the tree and never stops at the first problem.
//!
//! It reads every file itself (not the index), so a file that does not parse is reported by
//! every run, not only by the first refresh after it changed. It runs even when
//! `memtree.yaml` is invalid (see [`Memory::open_lenient`]), since it is the command that
//! diagnoses it.

use std::collections::{HashMap, HashSet};

use super::{CheckReport, Diagnostic, Memory};
use crate::config::Config;
use crate::entry;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::tree::{self, SafePath};

impl Memory {
    /// Validates every file: YAML, required title, allowed values, ids, two files with one id,
    /// links that point nowhere, and a write left half-done by a crash.
    ///
    /// # Errors
    /// Only when the tree cannot be walked.
    pub fn check(&self) -> Result<CheckReport> {
        let walk = self.tree.walk()?;
        let mut diags = Vec::new();
        let diag = |file: String, line, severity, message: String| Diagnostic {
            file,
            line,
            severity,
            message,
        };
        match Config::load(&self.tree) {
            Err(e) => diags.push(diag(
                self.tree.display_path(tree::CONFIG_FILE),
                None,
                "error",
                e.to_string(),
            )),
            // A configured model is otherwise read only by the first query that needs it.
            // The configuration as trust left it: an untrusted model outside the project is
            // not read.
            Ok(_) => {
                let sem = &self.config.semantic;
                let model = (sem.enabled && sem.model.is_some())
                    .then(|| crate::semantic::model(sem.model.as_deref(), self.tree.project()))
                    .and_then(Result::err)
                    .map(|e| format!("semantic.model cannot be used: {e}"));
                let dense = sem
                    .dense_model
                    .as_deref()
                    .filter(|_| sem.dense)
                    .and_then(|f| crate::semantic::dense_model(&self.tree.project().join(f)).err())
                    .map(|e| format!("semantic.dense_model cannot be used: {e}"));
                for message in model.into_iter().chain(dense) {
                    diags.push(diag(
                        self.tree.display_path(tree::CONFIG_FILE),
                        None,
                        "error",
                        message,
                    ));
                }
            }
        }
        if !self.trust.ignored.is_empty() {
            diags.push(diag(
                self.tree.display_path(tree::CONFIG_FILE),
                None,
                "warning",
                format!(
                    "{} can run a program, reach the network, read outside the project, steer \
                     the model or write without review, and this project is not trusted on this \
                     machine, so {} ignored; review the files, then run `memtree trust`",
                    self.trust.ignored.join(" and "),
                    if self.trust.ignored.len() == 1 {
                        "it is"
                    } else {
                        "they are"
                    }
                ),
            ));
        }
        if let Ok(repo) = crate::git::Repo::discover(&self.tree)
            && repo.has_stale_lock()
        {
            diags.push(diag(
                repo.git().path().join("index.lock").display().to_string(),
                None,
                "error",
                "a memtree process was killed while it committed and left git's index lock: \
                 `memtree recover` removes it (and commits what was interrupted); git refuses to \
                 commit until then"
                    .to_string(),
            ));
        }
        if let Some(p) = crate::changeset::pending(&self.tree) {
            let message = if !p.changed.is_empty() {
                format!(
                    "`{}` was interrupted, and {} changed after the crash: run `memtree \
                     recover` for the details, `memtree recover --discard` to keep the files \
                     as they are",
                    p.operation,
                    p.changed.join(", ")
                )
            } else if !p.paths.is_empty() {
                format!(
                    "`{}` was interrupted half-way; {} of its {} file(s) still to update ({}); \
                     the next memtree write, `memtree index` or `memtree recover` completes \
                     and commits it",
                    p.operation,
                    p.paths.len(),
                    p.all.len(),
                    p.paths.join(", ")
                )
            } else {
                format!(
                    "`{}` was written but not committed ({}); the next memtree write, \
                     `memtree index` or `memtree recover` commits it",
                    p.operation,
                    p.all.join(", ")
                )
            };
            diags.push(diag(
                self.tree.display_path(".cache/journal"),
                None,
                "error",
                message,
            ));
        }
        for rel in &walk.links {
            diags.push(diag(
                self.tree.display_path(rel),
                None,
                "warning",
                "a symbolic link: memtree never follows links inside .memory, so what it points \
                 to is not indexed; replace it with the file or folder itself"
                    .into(),
            ));
        }
        for rel in &walk.leftovers {
            diags.push(diag(
                self.tree.display_path(rel),
                None,
                "warning",
                "a temporary file left by an interrupted memtree write (git would commit it); \
                 `memtree index` removes it"
                    .into(),
            ));
        }
        for p in &walk.skipped {
            diags.push(diag(
                p.display().to_string(),
                None,
                "warning",
                "file name is not UTF-8; it is not indexed".into(),
            ));
        }
        // Two files with one id (`a/b/c.md` and `a/b/c/README.md`).
        let mut by_id: HashMap<String, Vec<&str>> = HashMap::new();
        for f in &walk.files {
            if let Some(id) = tree::id_of_rel(&f.rel) {
                by_id.entry(id).or_default().push(&f.rel);
            }
        }
        for (id, files) in &by_id {
            if files.len() > 1 {
                for f in files {
                    let others: Vec<String> = files
                        .iter()
                        .filter(|o| *o != f)
                        .map(|o| self.tree.display_path(o))
                        .collect();
                    diags.push(diag(
                        self.tree.display_path(f),
                        None,
                        "error",
                        format!(
                            "two files have the id `{id}` (this one and {}); rename one of them",
                            others.join(", ")
                        ),
                    ));
                }
            }
        }
        let ids: HashSet<&str> = by_id.keys().map(String::as_str).collect();
        let mut others = OtherLayers {
            memory: self,
            layers: self.layers(),
            opened: HashMap::new(),
        };
        for f in &walk.files {
            let path = SafePath::from_walk(&self.tree, &f.rel);
            if f.size > self.tree.max_file_bytes {
                diags.push(diag(
                    self.tree.display_path(&f.rel),
                    None,
                    "warning",
                    format!(
                        "the file is {} bytes, over index.max_file_bytes ({}): only its front \
                         matter is indexed",
                        f.size, self.tree.max_file_bytes
                    ),
                ));
            }
            self.check_file(&path, &ids, &mut others, &mut diags);
        }
        diags.sort_by(|a, b| a.file.cmp(&b.file).then(a.line.cmp(&b.line)));
        let errors = diags.iter().filter(|d| d.severity == "error").count();
        Ok(CheckReport {
            schema: "memtree.check/v1",
            files: walk.files.len(),
            errors,
            warnings: diags.len() - errors,
            diagnostics: diags,
        })
    }

    fn check_file(
        &self,
        path: &SafePath,
        ids: &HashSet<&str>,
        others: &mut OtherLayers,
        diags: &mut Vec<Diagnostic>,
    ) {
        let display = self.tree.display_path(path.rel());
        let mut push = |line, severity, message: String| {
            diags.push(Diagnostic {
                file: display.clone(),
                line,
                severity,
                message,
            })
        };
        let display_path = self.tree.display_path(path.rel());
        let bytes = self.tree.read_entry(path);
        // Conflict markers first: they also break the YAML when they sit in the front matter.
        if let Ok(b) = &bytes {
            let markers = crate::merge::conflict_markers(&String::from_utf8_lossy(b));
            if let Some(first) = markers.first() {
                push(
                    Some(*first),
                    "error",
                    format!(
                        "unresolved merge conflict: {} conflict marker line(s); keep the right \
                         text and delete the markers",
                        markers.len()
                    ),
                );
            }
        }
        let parsed = bytes.and_then(|bytes| {
            Record::parse_limited(path.rel(), &bytes, &display_path, self.tree.max_file_bytes)
        });
        let r = match parsed {
            Ok(r) => r,
            Err(Error::FrontMatter { line, message, .. }) => {
                push(Some(line), "error", message);
                return;
            }
            Err(e) => {
                push(None, "error", e.to_string());
                return;
            }
        };
        let folder_note = path.rel().ends_with(&format!("/{}", tree::FOLDER_NOTE));
        if !folder_note {
            if let Err(e) = tree::validate_id(&r.stored.id) {
                push(None, "error", e.to_string());
            }
            if r.doc.front.is_none() {
                push(
                    Some(1),
                    "error",
                    "no front matter (a `---` block with at least `title:`)".into(),
                );
            } else if r.meta.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
                push(
                    Some(entry::FRONT_FIRST_LINE),
                    "error",
                    "missing required key `title`".into(),
                );
            }
        }
        for p in &r.problems {
            push(Some(p.line), "error", p.message.clone());
        }
        for (what, target) in link_targets(&r) {
            let (layer, bare) = crate::layers::split(&target);
            if let Some(layer) = layer {
                if let Some((severity, why)) = others.missing(layer, bare) {
                    push(None, severity, format!("{what} to `{target}`: {why}"));
                }
                continue;
            }
            let target = bare.to_string();
            if !ids.contains(target.as_str()) {
                let hint = crate::text::closest(&target, ids.iter().copied(), 1);
                let hint = hint
                    .first()
                    .map(|h| format!("; did you mean {h}?"))
                    .unwrap_or_default();
                push(
                    None,
                    "error",
                    format!("{what} to `{target}` points to no entry{hint}"),
                );
            }
        }
        let text = r.doc.join();
        for f in crate::secrets::secrets(&text) {
            push(
                Some(f.line),
                "error",
                format!(
                    "holds what looks like {} ({}); remove it, or put `{}` on the line if it \
                     is not a secret",
                    f.what,
                    f.redacted,
                    crate::secrets::ALLOW_MARKER
                ),
            );
        }
        for f in crate::secrets::injections(&text) {
            push(
                Some(f.line),
                "warning",
                format!("{}: {}", f.what, f.redacted),
            );
        }
        if r.stored.status == "superseded" && r.stored.superseded_by.is_none() {
            push(
                None,
                "warning",
                "status is superseded but `superseded_by` is not set".into(),
            );
        }
    }
}

/// Every id an entry points at, with what points at it.
fn link_targets(r: &Record) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&str, String)> = r
        .meta
        .relations
        .iter()
        .map(|x| ("relation", x.to.clone()))
        .collect();
    out.extend(r.meta.supersedes.iter().map(|s| ("supersedes", s.clone())));
    out.extend(
        r.meta
            .superseded_by
            .iter()
            .map(|s| ("superseded_by", s.clone())),
    );
    out.extend(r.links.iter().map(|l| ("body link", l.target.clone())));
    out
}

/// The other layers a tree's links may point into, opened once per `check`.
struct OtherLayers<'a> {
    memory: &'a Memory,
    layers: Vec<crate::layers::Layer>,
    opened: HashMap<String, Option<Memory>>,
}

impl OtherLayers<'_> {
    /// Why a link to `bare` in `layer` is a problem, with its severity: the layer is not
    /// configured (error), the entry is not there (error), or the layer cannot be read now
    /// (warning: not cloned, untrusted, missing folder); `None` when the entry exists.
    fn missing(&mut self, layer: &str, bare: &str) -> Option<(&'static str, String)> {
        let Some(l) = self.layers.iter().find(|l| l.name == layer) else {
            return Some((
                "error",
                format!("layer `{layer}` is not configured (`memtree layers add` declares it)"),
            ));
        };
        if let Some(why) = &l.unavailable {
            return Some((
                "warning",
                format!("cannot be checked: layer `{layer}`: {why}"),
            ));
        }
        let memory = self.memory;
        let opened = self
            .opened
            .entry(layer.to_string())
            .or_insert_with(|| memory.layer(layer).ok());
        match opened {
            None => Some((
                "warning",
                format!("cannot be checked: layer `{layer}` cannot be opened"),
            )),
            Some(m) if m.exists(bare) => None,
            Some(_) => Some(("error", format!("layer `{layer}` has no entry `{bare}`"))),
        }
    }
}
