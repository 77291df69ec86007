//! Revisions: what `--at REV` names, and an entry's content at a revision.

use git2::Oid;

use super::{Repo, git_err};
use crate::error::{Error, Result};

impl Repo {
    /// Resolves a revision: anything git understands (`HEAD~3`, a hash, a tag, a branch), or a
    /// date (`2026-11-01`, `@{2026-11-01}`, RFC 3339) meaning the last commit on HEAD's
    /// first-parent line made at or before it.
    ///
    /// # Errors
    /// [`Error::Git`] naming the revision.
    pub fn resolve(&self, rev: &str) -> Result<git2::Commit<'_>> {
        if let Ok(obj) = self.repo.revparse_single(rev) {
            return obj.peel_to_commit().map_err(git_err);
        }
        // `2026-11-01`, or git's `@{2026-11-01}` / `main@{2026-11-01}` (read here as "on HEAD's
        // line at that date", without the reflog).
        let date = rev
            .rsplit_once("@{")
            .and_then(|(_, d)| d.strip_suffix('}'))
            .unwrap_or(rev);
        if let Some(when) = crate::entry::parse_time(date) {
            let mut commit = self
                .repo
                .head()
                .and_then(|h| h.peel_to_commit())
                .map_err(git_err)?;
            loop {
                if commit.time().seconds() <= when.as_second() {
                    return Ok(commit);
                }
                match commit.parent(0) {
                    Ok(p) => commit = p,
                    Err(_) => break,
                }
            }
            return Err(Error::Git(format!("no commit at or before {rev}")));
        }
        Err(Error::Git(format!("unknown revision `{rev}`")))
    }

    /// The content of the entry whose file is now `rel` as of `rev` (following renames), with
    /// the commit it resolved to and the file it had then (relative to `.memory/`).
    ///
    /// # Errors
    /// [`Error::Git`] for an unknown revision; [`Error::NotFound`] when the entry did not exist
    /// at that revision.
    pub fn content_at(
        &self,
        id: &str,
        rel: &str,
        rev: &str,
        limit: usize,
    ) -> Result<(String, String, Vec<u8>)> {
        let commit = self.resolve(rev)?;
        let mut path = self.repo_path(rel);
        if self.blob_at(&commit, &path).is_none() {
            // Moved since: the file it had then is the newest version at or before `rev`.
            let versions = self.log(rel, limit)?;
            let at = commit.id();
            let found = versions.iter().find(|v| {
                Oid::from_str(&v.commit)
                    .is_ok_and(|c| c == at || self.repo.graph_descendant_of(at, c).unwrap_or(false))
            });
            if let Some(v) = found {
                path = self.repo_path(&v.file);
            }
        }
        let blob = self
            .blob_at(&commit, &path)
            .ok_or_else(|| Error::NotFound {
                id: format!("{id} at {rev}"),
                suggestions: Vec::new(),
            })?;
        let bytes = self
            .repo
            .find_blob(blob)
            .map_err(git_err)?
            .content()
            .to_vec();
        Ok((
            commit.id().to_string(),
            self.strip_prefix(&path).to_string(),
            bytes,
        ))
    }

    /// The committed (HEAD) content of each of the files `rels` (relative to `.memory/`) that
    /// HEAD has: what a secret may already be in without a write being refused for it.
    pub fn committed(&self, rels: &[String]) -> Vec<Vec<u8>> {
        let Ok(head) = self.repo.head().and_then(|h| h.peel_to_commit()) else {
            return Vec::new();
        };
        rels.iter()
            .filter_map(|rel| self.blob_at(&head, &self.repo_path(rel)))
            .filter_map(|oid| self.repo.find_blob(oid).ok())
            .map(|b| b.content().to_vec())
            .collect()
    }

    /// Why the file `rel` (relative to `.memory/`), whose content on disk is `disk`, holds
    /// work git does not have, as `git rm` asks before it deletes: `None` when it is exactly
    /// as committed in HEAD (and not staged differently).
    pub fn local_changes(&self, rel: &str, disk: &[u8]) -> Option<&'static str> {
        let repo_path = self.repo_path(rel);
        let head = self
            .repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .ok()
            .and_then(|c| self.blob_at(&c, &repo_path));
        let Some(head) = head else {
            return Some("it was never committed");
        };
        let on_disk = git2::Oid::hash_object(git2::ObjectType::Blob, disk).ok();
        if on_disk != Some(head) {
            return Some("it has changes that are not committed");
        }
        let staged = self
            .repo
            .index()
            .ok()
            .and_then(|i| i.get_path(std::path::Path::new(&repo_path), 0))
            .map(|e| e.id);
        if staged.is_some_and(|s| s != head) {
            return Some("it has staged changes that are not committed");
        }
        None
    }
}
