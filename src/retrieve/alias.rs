//! Tier 2, alias: the normalised query equals a title or alias, or contains one as a
//! whole-word phrase. Overlapping matches keep the longest; separate matches all count.
//! When nothing matches exactly, one typo is allowed on one word of 4+ letters whose first two
//! letters agree with the alias word (`typscript` → TypeScript; `just` never → `jest`).

use std::collections::HashMap;

use super::{Ctx, Pool, Tier};
use crate::index::analyzer::{STOP_WORDS, phrase_words};
use crate::text::one_typo;

const MAX_WORDS: usize = 32;
const MAX_PHRASE: usize = 8;

struct Span {
    start: usize,
    len: usize,
    key: String,
    typo: bool,
}

/// Offers alias hits: 0.95 when the alias is the whole query, else `0.6 + 0.3 × share of the
/// query's words`; ×0.9 for a match with a typo.
pub fn run(ctx: &Ctx, pool: &mut Pool) {
    let mut words = phrase_words(&ctx.query.text);
    words.truncate(MAX_WORDS);
    if words.is_empty() {
        return;
    }
    let (index, s) = (ctx.index, &ctx.searcher);
    let field = index.fields.alias;
    let mut spans = Vec::new();
    for len in (1..=MAX_PHRASE.min(words.len())).rev() {
        for start in 0..=words.len() - len {
            let slice = &words[start..start + len];
            if len == 1 && STOP_WORDS.contains(&slice[0].as_str()) {
                continue;
            }
            let key = slice.join(" ");
            let term = tantivy::Term::from_field_text(field, &key);
            if s.doc_freq(&term).unwrap_or(0) > 0 {
                spans.push(Span {
                    start,
                    len,
                    key,
                    typo: false,
                });
            }
        }
    }
    if spans.is_empty() {
        spans = typo_spans(ctx, &words);
    }
    // Longest first; drop spans overlapping a longer one already taken.
    spans.sort_by(|a, b| b.len.cmp(&a.len).then(a.start.cmp(&b.start)));
    let mut taken = vec![false; words.len()];
    for span in spans {
        if taken[span.start..span.start + span.len].iter().any(|t| *t) {
            continue;
        }
        taken[span.start..span.start + span.len]
            .iter_mut()
            .for_each(|t| *t = true);
        let mut relevance = if span.len == words.len() {
            0.95
        } else {
            0.6 + 0.3 * span.len as f64 / words.len() as f64
        };
        let mut why = format!("alias:{}", span.key);
        if span.typo {
            relevance *= 0.9;
            why = format!("alias~:{} (one typo)", span.key);
        }
        for addr in index.lookup(s, field, &span.key).into_iter().take(50) {
            if let Some(m) = index.stored(s, addr) {
                pool.offer(m, relevance, Tier::Alias, why.clone());
            }
        }
    }
}

fn typo_spans(ctx: &Ctx, words: &[String]) -> Vec<Span> {
    let (index, s) = (ctx.index, &ctx.searcher);
    if !words.iter().any(|w| w.chars().count() >= 4) {
        return Vec::new();
    }
    let mut by_prefix: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    let mut spans = Vec::new();
    for start in 0..words.len() {
        let prefix: String = words[start].chars().take(2).collect();
        if prefix.chars().count() < 2 {
            continue;
        }
        let keys = by_prefix.entry(prefix.clone()).or_insert_with(|| {
            index
                .terms_with_prefix(s, index.fields.alias, &prefix)
                .into_iter()
                .map(|k| k.split(' ').map(str::to_string).collect::<Vec<_>>())
                .filter(|k| k.len() <= MAX_PHRASE)
                .collect()
        });
        for key in keys.iter() {
            let len = key.len();
            if start + len > words.len() {
                continue;
            }
            let window = &words[start..start + len];
            let mut typos = 0;
            let mut ok = true;
            for (typed, word) in window.iter().zip(key) {
                if typed == word {
                    continue;
                }
                if one_typo(typed, word) {
                    typos += 1;
                } else {
                    ok = false;
                    break;
                }
            }
            if ok && typos == 1 {
                spans.push(Span {
                    start,
                    len,
                    key: key.join(" "),
                    typo: true,
                });
            }
        }
    }
    spans
}
