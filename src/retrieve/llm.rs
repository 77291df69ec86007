//! Tier 5: one LLM call when tiers 1–4 are not confident (DESIGN.md §3).
//!
//! Lexical tiers fail two ways: the right entries in the wrong order, and entries that never use
//! the question's words ("martial arts" against "taekwondo"). One call does both jobs: the
//! prompt (`templates/llm/query.md`, or a trusted `.memory/.llm-prompt.md`) carries the question, the top
//! candidates (id, title, summary or snippet, within [`CANDIDATE_TOKENS`]) and the tree's
//! outline; the reply is JSON naming the ids that answer, best first, and up to three other
//! phrasings. memtree drops ids that do not exist, runs the alias and BM25 tiers on each
//! phrasing, and merges: the model's ids first (in its order), then the tier 1–4 list, then
//! what the phrasings found. A timeout, an HTTP error or a malformed reply leaves the tier 1–4
//! answer as it was, with the reason in [`Escalation`].

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Cand, Ctx, Pool, Query, Ranked, Tier};
use crate::llm::Provider;

/// Candidates offered to the model, at most.
pub const MAX_CANDIDATES: usize = 15;
/// Token budget of the candidate list in the prompt (about four characters a token).
pub const CANDIDATE_TOKENS: usize = 1500;
/// Phrasings taken from a reply, at most.
pub const MAX_PHRASINGS: usize = 3;
/// Default timeout when `llm.timeout_s` is not set, in seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 20;

/// When tier 5 runs (`query --llm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmMode {
    /// Only when tiers 1–4 are not confident (the default).
    #[default]
    Auto,
    /// On every query.
    Always,
    /// Never.
    Never,
}

/// What tier 5 did (`escalation` in `query --json`).
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Escalation {
    /// Whether an LLM call was made.
    pub ran: bool,
    /// Why it ran or not, or why its answer was not used (a timeout, an HTTP error, a
    /// malformed reply).
    pub reason: String,
    /// `openai` or `command`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The model (or the program).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Wall time of the call, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Tokens used, when the provider reports them (estimated for `command`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Ids the model chose that exist, in its order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chosen: Vec<String>,
    /// Ids the model named that do not exist (dropped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// The phrasings it proposed, which tiers 2–3 ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phrasings: Vec<String>,
}

impl Escalation {
    /// Tier 5 did not run, because `reason`.
    pub fn skipped(reason: impl Into<String>) -> Escalation {
        Escalation {
            reason: reason.into(),
            ..Escalation::default()
        }
    }
}

/// A parsed reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// Ids, best first, as the model wrote them.
    pub ids: Vec<String>,
    /// Other phrasings (trimmed, non-empty, at most [`MAX_PHRASINGS`]).
    pub phrasings: Vec<String>,
}

/// The first balanced `{...}` of `text` (models like to wrap JSON in prose or code fences).
pub(crate) fn json_object(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for (i, c) in text[start..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_str => escaped = true,
            '"' => in_str = !in_str,
            '{' if !in_str => depth += 1,
            '}' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[start..start + i + 1]);
                }
            }
            _ => {}
        }
    }
    None
}

/// Parses a reply: one JSON object with `ids` and `phrasings` (either may be missing).
///
/// # Errors
/// A sentence saying what is wrong with it.
pub fn parse_reply(text: &str) -> Result<Reply, String> {
    let obj = json_object(text).ok_or("the reply holds no JSON object")?;
    let v: serde_json::Value =
        serde_json::from_str(obj).map_err(|e| format!("the reply's JSON does not parse ({e})"))?;
    let strings = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    if !v.is_object() || (v.get("ids").is_none() && v.get("phrasings").is_none()) {
        return Err("the reply's JSON has neither `ids` nor `phrasings`".into());
    }
    let mut phrasings: Vec<String> = strings("phrasings")
        .into_iter()
        .filter(|p| p.chars().count() <= 200)
        .collect();
    phrasings.truncate(MAX_PHRASINGS);
    Ok(Reply {
        ids: strings("ids"),
        phrasings,
    })
}

/// One candidate as the prompt shows it.
pub struct Line {
    /// The id, as the model should name it (qualified outside the project).
    pub id: String,
    /// The title.
    pub title: String,
    /// Its summary, or the snippet of its body.
    pub about: String,
}

/// The prompt for `ctx`'s question and the tier 1–4 candidates.
pub fn prompt(ctx: &Ctx, ranked: &Ranked) -> String {
    let lines: Vec<Line> = ranked
        .hits
        .iter()
        .take(MAX_CANDIDATES)
        .map(|(c, _)| Line {
            id: c.meta.id.clone(),
            title: c.meta.title.clone(),
            about: about(ctx, c, &ranked.terms),
        })
        .collect();
    render_prompt(ctx.config, &ctx.query.text, &outline(ctx), &lines)
}

/// What the prompt says a candidate holds: its summary, else the snippet of its body.
pub(crate) fn about(ctx: &Ctx, c: &Cand, terms: &[String]) -> String {
    c.meta
        .summary
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| super::to_hit(ctx, c, 0.0, terms).snippet)
}

/// The prompt from its parts: the template (the tree's own only when trusted), the question,
/// the outline and the candidate lines within [`CANDIDATE_TOKENS`].
pub fn render_prompt(
    config: &crate::config::Config,
    question: &str,
    outline: &str,
    lines: &[Line],
) -> String {
    // The tree's own template only when the project is trusted (an untrusted clone's file
    // would write what the user's model is told); see `crate::trust`.
    let template = config
        .llm_prompt
        .clone()
        .unwrap_or_else(|| crate::templates::LLM_QUERY.to_string());
    let mut candidates = String::new();
    let mut used = 0;
    for l in lines.iter().take(MAX_CANDIDATES) {
        // What a reviewer sees, with anything a file would refuse to hold scrubbed: an entry
        // may carry a hidden comment or a secret written by hand.
        let shown = |t: &str| crate::secrets::scrub(&crate::secrets::visible(t).0);
        let line = format!("- {} | {} | {}\n", l.id, shown(&l.title), shown(&l.about));
        let tokens = line.chars().count().div_ceil(4);
        if used + tokens > CANDIDATE_TOKENS && !candidates.is_empty() {
            break;
        }
        used += tokens;
        candidates.push_str(&line);
    }
    if candidates.is_empty() {
        candidates.push_str("(none: no entry shares a word with the question)\n");
    }
    template
        .replace("{{question}}", question)
        .replace("{{outline}}", outline)
        .replace("{{candidates}}", candidates.trim_end())
}

/// `domain/topic (N)` lines (see [`crate::index::SearchIndex::folder_counts`]).
pub(crate) fn outline(ctx: &Ctx) -> String {
    let mut out = String::new();
    for (f, n) in ctx.index.folder_counts(&ctx.searcher, 2).iter().take(200) {
        out.push_str(&format!("- {f} ({n})\n"));
    }
    out.trim_end().to_string()
}

/// Sends `text` to the provider and parses the reply: the report (latency, tokens, phrasings;
/// on failure the reason, saying that tiers 1–4 answered) and the reply when it is usable.
pub fn ask(
    provider: &dyn Provider,
    text: &str,
    timeout: Duration,
    why: &str,
) -> (Escalation, Option<Reply>) {
    let mut report = Escalation {
        ran: true,
        reason: why.to_string(),
        provider: Some(provider.name().to_string()),
        model: provider.model(),
        ..Escalation::default()
    };
    let start = Instant::now();
    let outcome = provider.complete(text, timeout);
    report.latency_ms = Some((start.elapsed().as_secs_f64() * 1e6).round() / 1e3);
    let completion = match outcome {
        Ok(c) => c,
        Err(e) => {
            report.reason = format!("{why}; the call failed, so tiers 1–4 answered: {e}");
            return (report, None);
        }
    };
    report.tokens = completion.tokens;
    match parse_reply(&completion.text) {
        Ok(reply) => {
            report.phrasings = reply.phrasings.clone();
            (report, Some(reply))
        }
        Err(e) => {
            report.reason = format!("{why}; the reply was not usable, so tiers 1–4 answered: {e}");
            (report, None)
        }
    }
}

/// The hits a phrasing finds in `ctx`'s tree (alias and BM25 tiers, finalized), each marked
/// `llm-phrasing:` and of tier [`Tier::Llm`].
pub(crate) fn phrasing_hits(ctx: &Ctx, phrasing: &str) -> Vec<(Cand, f64)> {
    let q = Query {
        text: phrasing.to_string(),
        ..ctx.query.clone()
    };
    let sub = Ctx {
        query: &q,
        searcher: ctx.searcher.clone(),
        ..*ctx
    };
    let mut pool = Pool::default();
    super::alias::run(&sub, &mut pool);
    super::bm25::run(&sub, &mut pool, &[]);
    super::finalize(&sub, pool)
        .into_iter()
        .map(|(mut c, s)| {
            c.tier = Tier::Llm;
            c.matched.insert(0, format!("llm-phrasing:{phrasing}"));
            (c, s)
        })
        .collect()
}

/// Runs tier 5 for `ctx` on the tier 1–4 result `ranked` and returns the merged list and the
/// report. Never fails: on any error the list is `ranked.hits` unchanged.
pub fn escalate(
    ctx: &Ctx,
    ranked: Ranked,
    provider: &dyn Provider,
    timeout: Duration,
    why: &str,
) -> (Vec<(Cand, f64)>, Escalation) {
    let (mut report, reply) = ask(provider, &prompt(ctx, &ranked), timeout, why);
    let Some(reply) = reply else {
        return (ranked.hits, report);
    };
    let best = ranked.hits.first().map_or(1.0, |(_, s)| *s);
    let mut seen: HashSet<String> = HashSet::new();
    let mut out: Vec<(Cand, f64)> = Vec::new();
    // 1. The model's ids, in its order; those that do not exist are dropped.
    for (rank, id) in reply.ids.iter().enumerate() {
        let id = crate::tree::normalize_id(id);
        if seen.contains(&id) {
            continue;
        }
        let why = format!("llm:chosen #{}", rank + 1);
        if let Some((c, s)) = ranked.hits.iter().find(|(c, _)| c.meta.id == id) {
            let mut c = c.clone();
            c.matched.insert(0, why);
            out.push((c, *s));
        } else if let Some(m) = ctx
            .index
            .by_id(&ctx.searcher, &id)
            .filter(|m| ctx.query.all || m.is_live())
        {
            let c = Cand::found(m, best, Tier::Llm, why);
            out.push((c, best));
        } else {
            report.dropped.push(id);
            continue;
        }
        report.chosen.push(id.clone());
        seen.insert(id);
    }
    // 2. The tier 1–4 list.
    for (c, s) in &ranked.hits {
        if seen.insert(c.meta.id.clone()) {
            out.push((c.clone(), *s));
        }
    }
    // 3. What the phrasings found (alias and BM25 tiers), new entries only.
    for phrasing in &reply.phrasings {
        for (c, s) in phrasing_hits(ctx, phrasing) {
            if seen.insert(c.meta.id.clone()) {
                out.push((c, s));
            }
        }
    }
    (out, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_found_inside_prose_and_fences() {
        let r = parse_reply(
            "Sure!\n```json\n{\"ids\": [\"a/b/c\"], \"phrasings\": [\"x\", \" \", \"y {z}\"]}\n```",
        )
        .unwrap();
        assert_eq!(r.ids, ["a/b/c"]);
        assert_eq!(r.phrasings, ["x", "y {z}"]);
        assert!(parse_reply("no json here").is_err());
        assert!(parse_reply("{\"answer\": 42}").is_err());
        assert!(parse_reply("{\"ids\": [1, \"a/b/c\"").is_err(), "unclosed");
        let many = parse_reply("{\"phrasings\": [\"1\",\"2\",\"3\",\"4\"]}").unwrap();
        assert_eq!(many.phrasings.len(), MAX_PHRASINGS);
    }
}
