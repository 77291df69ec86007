//! Tier 2, alias: the normalised query equals a title or alias, or contains one as a
//! whole-word phrase. Overlapping matches keep the longest; separate matches all count.
//! Only entries the query can return take part (`--in` and `--kind` apply first, so an alias
//! outside the subtree never shadows one inside), and questions compete only with questions:
//! `auth service` naming an open question does not hide `auth` naming the entry that answers.
//! When nothing matches exactly, one typo is allowed on one word of 4+ letters whose first two
//! letters agree with the alias word (`typscript` → TypeScript; `just` never → `jest`).

use std::collections::HashMap;

use super::{Ctx, Pool, Tier};
use crate::index::analyzer::{STOP_WORDS, phrase_words};
use crate::text::one_typo;

/// Words of the query looked at (a rambling 400-character question is about 80 words).
const MAX_WORDS: usize = 200;
const MAX_PHRASE: usize = 8;

struct Span {
    start: usize,
    len: usize,
    key: String,
    typo: bool,
}

/// The entries an alias key names that the query may return, split into questions and others.
fn named(ctx: &Ctx, key: &str) -> [Vec<crate::record::StoredMeta>; 2] {
    let (index, s) = (ctx.index, &ctx.searcher);
    let q = ctx.query;
    let mut out: [Vec<crate::record::StoredMeta>; 2] = [Vec::new(), Vec::new()];
    for addr in index
        .lookup(s, index.fields.alias, key)
        .into_iter()
        .take(50)
    {
        let Some(m) = index.stored(s, addr) else {
            continue;
        };
        let in_scope = q
            .within
            .as_ref()
            .is_none_or(|p| p.is_empty() || m.id == *p || m.id.starts_with(&format!("{p}/")));
        let kind_ok = q.kind.as_ref().is_none_or(|k| m.kind.as_ref() == Some(k));
        if in_scope && kind_ok {
            let question = usize::from(m.kind.as_deref() == Some("question"));
            out[question].push(m);
        }
    }
    out
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
    // Longest first; drop spans overlapping a longer one already taken (answers and questions
    // separately).
    spans.sort_by(|a, b| b.len.cmp(&a.len).then(a.start.cmp(&b.start)));
    let mut taken = [vec![false; words.len()], vec![false; words.len()]];
    for span in spans {
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
        for (class, metas) in named(ctx, &span.key).into_iter().enumerate() {
            let range = span.start..span.start + span.len;
            if metas.is_empty() || taken[class][range.clone()].iter().any(|t| *t) {
                continue;
            }
            taken[class][range].iter_mut().for_each(|t| *t = true);
            for m in metas {
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
    // The keys whose first word is the typed word or one typo from it, found by a Levenshtein
    // automaton over the alias dictionary (the typo rule is checked again word by word below).
    let mut by_word: HashMap<&str, Vec<Vec<String>>> = HashMap::new();
    let mut spans = Vec::new();
    for start in 0..words.len() {
        let typed = words[start].as_str();
        if typed.chars().count() < 2 {
            continue;
        }
        let keys = by_word.entry(typed).or_insert_with(|| {
            index
                .alias_keys_near(s, typed)
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
