//! Tier 4, graph: from the best hits, follow relations (both ways), body links, shared scope
//! and `superseded_by`, for up to `retrieval.graph_hops` hops, each hop damped.
//!
//! A neighbour's relevance is `seed relevance × edge weight × 0.6` per hop. Edge weights:
//! superseded-by 0.9; depends-on, part-of, refines, implements 0.6; follows and contradicts 0.5;
//! see-also (and body links) 0.4; incoming edges 0.8 of their forward weight; shared scope 0.3.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::{Cand, Ctx, Pool, Tier};
use crate::record::StoredMeta;

pub(crate) const SEEDS: usize = 5;
const FANOUT: usize = 50;
pub(crate) const HOP_DAMPING: f64 = 0.6;

/// The weight of a forward edge of type `kind`.
pub fn edge_weight(kind: &str) -> f64 {
    match kind {
        "superseded-by" => 0.9,
        "depends-on" | "part-of" | "refines" | "implements" => 0.6,
        "follows" | "contradicts" => 0.5,
        _ => 0.4,
    }
}

/// Offers graph neighbours of the current best candidates.
pub fn run(ctx: &Ctx, pool: &mut Pool) {
    let (index, s) = (ctx.index, &ctx.searcher);
    let mut frontier: Vec<(StoredMeta, f64)> = pool
        .ranked()
        .into_iter()
        .take(SEEDS)
        .map(|c: &Cand| (c.meta.clone(), c.relevance))
        .collect();
    let mut visited: HashSet<String> = frontier.iter().map(|(m, _)| m.id.clone()).collect();
    let mut by_scope: HashMap<String, Vec<StoredMeta>> = HashMap::new();
    for _hop in 0..ctx.config.retrieval.graph_hops {
        let mut next: Vec<(StoredMeta, f64)> = Vec::new();
        for (seed, score) in &frontier {
            // Seeds often share a scope: its entries are read once per query, and offered from
            // there without a copy unless they are new to the pool.
            for glob in &seed.scope {
                by_scope.entry(glob.clone()).or_insert_with(|| {
                    index
                        .lookup(s, index.fields.scope, glob)
                        .into_iter()
                        .take(FANOUT)
                        .filter_map(|addr| index.stored(s, addr))
                        .collect()
                });
            }
            let mut offers: Vec<(Cow<'_, StoredMeta>, f64, String)> = Vec::new();
            for e in &seed.edges {
                if let Some(m) = index.by_id(s, &e.to) {
                    let w = edge_weight(&e.kind);
                    offers.push((
                        Cow::Owned(m),
                        w,
                        format!("edge:{} from {}", e.kind, seed.id),
                    ));
                }
            }
            if let Some(by) = &seed.superseded_by
                && let Some(m) = index.by_id(s, by)
            {
                offers.push((
                    Cow::Owned(m),
                    0.9,
                    format!("edge:superseded-by from {}", seed.id),
                ));
            }
            for addr in index
                .lookup(s, index.fields.link, &seed.id)
                .into_iter()
                .take(FANOUT)
            {
                let Some(m) = index.stored(s, addr) else {
                    continue;
                };
                let kind = m
                    .edges
                    .iter()
                    .find(|e| e.to == seed.id)
                    .map_or("see-also", |e| e.kind.as_str())
                    .to_string();
                let w = edge_weight(&kind) * 0.8;
                offers.push((Cow::Owned(m), w, format!("edge:{kind} to {}", seed.id)));
            }
            for glob in &seed.scope {
                for m in by_scope[glob].iter().filter(|m| m.id != seed.id) {
                    let why = format!("scope-shared:{glob} with {}", seed.id);
                    offers.push((Cow::Borrowed(m), 0.3, why));
                }
            }
            for (m, w, why) in offers {
                let relevance = score * w * HOP_DAMPING;
                if !visited.contains(&m.id) {
                    visited.insert(m.id.clone());
                    next.push((m.as_ref().clone(), relevance));
                }
                pool.offer_cow(m, relevance, Tier::Graph, why);
            }
        }
        next.sort_by(|a, b| b.1.total_cmp(&a.1));
        next.truncate(SEEDS * 2);
        frontier = next;
        if frontier.is_empty() {
            break;
        }
    }
}
