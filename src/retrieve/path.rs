//! Tier 1, path: the query is an entry id, a unique id suffix (`search-index`,
//! `storage/search-index`) or a folder id.

use super::{Ctx, Pool, Tier};
use crate::tree::normalize_id;

/// Offers path hits: exact id 1.0, unique suffix 0.97, ambiguous suffix 0.8 each, a folder's
/// note 0.95 and the entries inside a folder 0.6.
pub fn run(ctx: &Ctx, pool: &mut Pool) {
    let text = normalize_id(&ctx.query.text).to_lowercase();
    let looks_like_id = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '/' || c == '_');
    if !looks_like_id {
        return;
    }
    let (index, s) = (ctx.index, &ctx.searcher);
    let f = index.fields;
    let exact = index.lookup(s, f.id, &text);
    for addr in exact {
        if let Some(m) = index.stored(s, addr) {
            let why = if m.folder_note {
                format!("folder:{text}")
            } else {
                format!("id:{text}")
            };
            pool.offer(m, 1.0, Tier::Path, why);
        }
    }
    if pool.map.is_empty() {
        let suffix = index.lookup(s, f.suffix, &text);
        let n = suffix.len();
        for addr in suffix.into_iter().take(20) {
            if let Some(m) = index.stored(s, addr) {
                let (rel, why) = if n == 1 {
                    (0.97, format!("id-suffix:{text}"))
                } else {
                    (0.8, format!("id-suffix:{text} (one of {n})"))
                };
                pool.offer(m, rel, Tier::Path, why);
            }
        }
    }
    // A folder id: the entries inside it (its note, if any, came in as an exact id above).
    let inside = index.lookup(s, f.folder, &text);
    for addr in inside.into_iter().take(200) {
        if let Some(m) = index.stored(s, addr)
            && m.id != text
        {
            pool.offer(m, 0.6, Tier::Path, format!("in-folder:{text}"));
        }
    }
}
