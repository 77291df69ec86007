//! `prime --hook AGENT`: the session-start bundle, sent once per agent session.
//!
//! An agent's SessionStart hook fires on startup, and again on resume, on `/clear` and after
//! the context was compacted. A `/clear` empties the context and a compaction replaces it with
//! a summary that does not hold the bundle (issue 21: after `/compact` Claude Code's next
//! request held the summary and "unchanged", no bundle; Codex drops the bundle's developer
//! message), so both get the whole bundle again. A resume keeps the conversation, bundle
//! included, so it gets only what changed. What a session was sent is recorded in
//! `.memory/.cache/sessions/<session>.json` (the content hash of each pinned entry and open
//! question, the *what changed* lines, the outline's hash). The first time, the whole bundle
//! goes out; every later time only what differs from the record (an entry that changed or is
//! new, a change line not sent yet, a changed outline), or one line saying nothing changed.
//! So the same bundle is never injected twice into one session, and a bundle stays within
//! the budget `prime` was given.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Memory;
use super::prime::{PrimeReport, change_line, outline_markdown};
use crate::changeset::content_hash;
use crate::error::Result;

/// What one session was sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Sent {
    /// Entry id → content hash of its bundle text.
    items: BTreeMap<String, String>,
    /// The *what changed* lines.
    changes: Vec<String>,
    /// Hash of the outline section.
    outline: String,
}

/// What `prime --hook` sends.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionPrime {
    /// The session id.
    pub session: String,
    /// The whole bundle (the session's first start), or only what changed since.
    pub full: bool,
    /// The markdown to inject.
    pub markdown: String,
    /// Entries sent this time.
    pub sent: Vec<String>,
}

/// Session records and saved plans older than this are removed when a new one is written,
/// in days.
pub const KEEP_DAYS: u64 = 30;

/// Removes the files of the cache folder `dir` (relative to `.memory`) not modified for
/// [`KEEP_DAYS`] days, through the safe-path routine. Never fails: a file left is harmless.
pub(super) fn prune_cache(tree: &crate::tree::Tree, dir: &str) {
    let max_age = std::time::Duration::from_secs(KEEP_DAYS * 86_400);
    let Ok(listing) = std::fs::read_dir(tree.cache_dir().join(dir)) else {
        return;
    };
    for e in listing.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > max_age);
        let name = e.file_name();
        if let (true, Some(name)) = (old, name.to_str())
            && let Ok(p) = tree.safe(&format!("{}/{dir}/{name}", crate::tree::CACHE_DIR))
        {
            let _ = tree.remove(&p);
        }
    }
}

fn hash(text: &str) -> String {
    format!("{:016x}", content_hash(text.as_bytes()))
}

impl Memory {
    /// The part of `report` that `session` has not been sent yet, recorded as sent (see the
    /// module documentation). `emptied`: the agent's context no longer holds the bundle (`/clear`
    /// keeping the session, or a compaction), so the whole bundle goes out again. A session id that is not a valid file
    /// name is hashed.
    ///
    /// # Errors
    /// The record cannot be written (a read-only `.cache`).
    pub fn prime_for_session(
        &self,
        report: &PrimeReport,
        session: &str,
        emptied: bool,
    ) -> Result<SessionPrime> {
        let name = if crate::tree::valid_segment(session) {
            session.to_string()
        } else {
            hash(session)
        };
        let rel = format!("{}/sessions/{name}.json", crate::tree::CACHE_DIR);
        let path = self.tree.safe(&rel)?;
        let before: Option<Sent> = self
            .tree
            .read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|_| !emptied);
        let items = report.pinned.iter().chain(&report.open_questions);
        let now = Sent {
            items: items
                .clone()
                .map(|i| (i.id.clone(), hash(&i.text)))
                .collect(),
            changes: report.changes.entries.iter().map(change_line).collect(),
            outline: hash(&outline_markdown(&report.outline)),
        };
        let (full, markdown, sent) = match &before {
            None => (
                true,
                report.markdown.clone(),
                items.map(|i| i.id.clone()).collect(),
            ),
            Some(before) => {
                let fresh = |id: &str, h: &String| before.items.get(id) != Some(h);
                let mut md = String::new();
                let mut sent = Vec::new();
                for (title, list) in [
                    ("Pinned (core)", &report.pinned),
                    ("Open questions", &report.open_questions),
                ] {
                    let new: Vec<_> = list
                        .iter()
                        .filter(|i| fresh(&i.id, &now.items[&i.id]))
                        .collect();
                    if !new.is_empty() {
                        md.push_str(&format!("## {title}: new or changed\n\n"));
                        for i in new {
                            md.push_str(&i.text);
                            sent.push(i.id.clone());
                        }
                    }
                }
                let lines: Vec<&String> = now
                    .changes
                    .iter()
                    .filter(|l| !before.changes.contains(l))
                    .collect();
                if !lines.is_empty() {
                    md.push_str("## What changed (not yet shown in this session)\n\n");
                    lines.iter().for_each(|l| md.push_str(l));
                    md.push('\n');
                }
                if now.outline != before.outline {
                    md.push_str(&outline_markdown(&report.outline));
                }
                let md = if md.is_empty() {
                    "_Project memory: unchanged since it was loaded in this session._\n".to_string()
                } else {
                    format!("# Project memory: changed since it was loaded in this session\n\n{md}")
                };
                (false, md, sent)
            }
        };
        // The record keeps everything sent so far (a changed entry's new hash replaces its
        // old one; lines accumulate).
        let mut record = before.unwrap_or_default();
        record.items.extend(now.items);
        for l in now.changes {
            if !record.changes.contains(&l) {
                record.changes.push(l);
            }
        }
        record.outline = now.outline;
        prune_cache(&self.tree, "sessions");
        self.tree.create_parents(&path)?;
        let json = serde_json::to_string(&record).unwrap_or_default();
        self.tree.write_atomic(&path, json.as_bytes())?;
        Ok(SessionPrime {
            session: session.to_string(),
            full,
            markdown,
            sent,
        })
    }
}
