//! The tantivy schema: the fields, and the document of one entry.

use tantivy::TantivyDocument;
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use std::collections::BTreeSet;

use super::{SearchIndex, analyzer, expand};
use crate::record::Record;

/// The tantivy fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// File path relative to the root (unique key).
    pub rel: Field,
    /// Entry id.
    pub id: Field,
    /// Every suffix of the id (`c`, `b/c`, `a/b/c`), for the path tier.
    pub suffix: Field,
    /// Every ancestor folder id (`a`, `a/b`), for folder ids and `--in`.
    pub folder: Field,
    /// Normalised title and aliases, for the alias tier.
    pub alias: Field,
    /// The weighted search text, for BM25.
    pub text: Field,
    /// Kind.
    pub kind: Field,
    /// Maturity.
    pub maturity: Field,
    /// Targets of relations and body links (incoming-edge lookups).
    pub link: Field,
    /// The entry this one follows inside its folder (next-neighbour lookups for expansion).
    pub follows: Field,
    /// Scope globs (shared-scope lookups and `--path`).
    pub scope: Field,
    /// `"1"` when the entry has a scope.
    pub scoped: Field,
    /// The stored [`StoredMeta`] as JSON.
    pub meta: Field,
    /// The entry's sentence vectors ([`crate::semantic::vector::EntryVectors::to_bytes`]).
    pub vectors: Field,
    /// The key of the text the dense tier encodes ([`crate::semantic::store::text_key`]), a
    /// fast field: the tier reads every live entry's key without loading documents.
    pub dense_key: Field,
}

/// The name of [`Fields::dense_key`].
pub(super) const DENSE_KEY: &str = "dense_key";

pub(super) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analyzer::PRE_ANALYZED)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        rel: b.add_text_field("rel", STRING),
        id: b.add_text_field("id", STRING),
        suffix: b.add_text_field("suffix", STRING),
        folder: b.add_text_field("folder", STRING),
        alias: b.add_text_field("alias", STRING),
        text: b.add_text_field("text", text_opts),
        kind: b.add_text_field("kind", STRING),
        maturity: b.add_text_field("maturity", STRING),
        link: b.add_text_field("link", STRING),
        follows: b.add_text_field("follows", STRING),
        scope: b.add_text_field("scope", STRING),
        scoped: b.add_text_field("scoped", STRING),
        meta: b.add_text_field("meta", STORED),
        vectors: b.add_bytes_field("vectors", STORED),
        dense_key: b.add_u64_field(DENSE_KEY, FAST),
    };
    (b.build(), fields)
}

impl SearchIndex {
    pub(super) fn document(&self, r: &Record, expansion: &expand::Expansion) -> TantivyDocument {
        let neighbours = &expansion.parts;
        let f = self.fields;
        let s = &r.stored;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.rel, &s.rel);
        doc.add_text(f.id, &s.id);
        let segs: Vec<&str> = s.id.split('/').collect();
        for i in 0..segs.len() {
            doc.add_text(f.suffix, segs[i..].join("/"));
        }
        for i in 1..segs.len() {
            doc.add_text(f.folder, segs[..i].join("/"));
        }
        if s.folder_note {
            doc.add_text(f.folder, &s.id);
        }
        for key in r.alias_keys() {
            doc.add_text(f.alias, key);
        }
        let mut analyzed = String::new();
        for (text, times) in r.search_parts(neighbours) {
            let terms = self.analyze(&text).join(" ");
            for _ in 0..times {
                analyzed.push_str(&terms);
                analyzed.push(' ');
            }
        }
        doc.add_text(f.text, analyzed);
        if let Some(k) = &s.kind {
            doc.add_text(f.kind, k);
        }
        if let Some(m) = &s.maturity {
            doc.add_text(f.maturity, m);
        }
        let mut targets: BTreeSet<&str> = s.edges.iter().map(|e| e.to.as_str()).collect();
        targets.extend(r.meta.supersedes.iter().map(String::as_str));
        if let Some(by) = &s.superseded_by {
            targets.insert(by);
        }
        for t in targets {
            doc.add_text(f.link, t);
        }
        if let Some(p) = expand::previous_of(&s.id, &s.edges) {
            doc.add_text(f.follows, p);
        }
        for g in &s.scope {
            doc.add_text(f.scope, g);
        }
        if !s.scope.is_empty() {
            doc.add_text(f.scoped, "1");
        }
        doc.add_text(f.meta, serde_json::to_string(s).unwrap_or_default());
        let own = crate::semantic::store::encoded_text(&s.title, s.summary.as_deref(), &r.plain);
        doc.add_u64(f.dense_key, crate::semantic::store::text_key(&own));
        let vectors = crate::semantic::vector::entry_vectors(
            &own,
            expansion.previous_text(),
            expansion.next_text(),
        );
        if let Some(v) = vectors {
            doc.add_bytes(f.vectors, &v.to_bytes());
        }
        doc
    }
}
