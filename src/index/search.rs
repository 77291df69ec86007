//! Lookups and BM25 over the open index, for the tiers.

use std::collections::BTreeSet;

use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, DocSet, Searcher, TantivyDocument, Term};

use super::SearchIndex;
use super::analyzer;
use crate::record::StoredMeta;

impl SearchIndex {
    /// A searcher over the current state.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Analyzes text with the index's analyzer (stop words removed, stemmed).
    pub fn analyze(&self, text: &str) -> Vec<String> {
        match self.analyzer.lock() {
            Ok(mut a) => analyzer::terms(&mut a, text),
            Err(_) => analyzer::terms(&mut analyzer::analyzer(), text),
        }
    }

    /// The stored metadata of a document.
    pub fn stored(&self, searcher: &Searcher, addr: DocAddress) -> Option<StoredMeta> {
        let doc: TantivyDocument = searcher.doc(addr).ok()?;
        let json = doc.get_first(self.fields.meta)?.as_str()?;
        let mut meta: StoredMeta = serde_json::from_str(json).ok()?;
        meta.vectors = doc
            .get_first(self.fields.vectors)
            .and_then(|v| v.as_bytes())
            .and_then(crate::semantic::vector::EntryVectors::from_bytes);
        Some(meta)
    }

    /// Live documents whose `field` holds exactly `value`.
    pub fn lookup(&self, searcher: &Searcher, field: Field, value: &str) -> Vec<DocAddress> {
        let q = TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        );
        let mut out: Vec<DocAddress> = searcher
            .search(&q, &DocSetCollector)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// The stored metadata of the entry with id `id`, if indexed.
    pub fn by_id(&self, searcher: &Searcher, id: &str) -> Option<StoredMeta> {
        let addr = *self.lookup(searcher, self.fields.id, id).first()?;
        self.stored(searcher, addr)
    }

    /// BM25 over the search text: documents matching any of `terms` (each with its weight, 1.0
    /// for a query word), best first. `stats` (when several layers are searched together) gives
    /// the document counts and frequencies BM25 weighs by; `None` takes this index's own.
    pub fn bm25(
        &self,
        searcher: &Searcher,
        terms: &[(String, f32)],
        limit: usize,
        stats: Option<&dyn tantivy::query::Bm25StatisticsProvider>,
    ) -> Vec<(f32, DocAddress)> {
        if terms.is_empty() || limit == 0 {
            return Vec::new();
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|(t, weight)| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.text, t),
                    IndexRecordOption::WithFreqs,
                ));
                let q: Box<dyn Query> = if *weight == 1.0 {
                    q
                } else {
                    Box::new(BoostQuery::new(q, *weight))
                };
                (Occur::Should, q)
            })
            .collect();
        let q = BooleanQuery::new(clauses);
        let top = TopDocs::with_limit(limit).order_by_score();
        match stats {
            Some(stats) => searcher.search_with_statistics_provider(&q, &top, stats),
            None => searcher.search(&q, &top),
        }
        .unwrap_or_default()
    }

    /// For each of `sorted` (ascending, distinct terms), whether any document's search text
    /// holds it: one merge pass over each segment's term dictionary, which for thousands of
    /// terms is several times cheaper than one dictionary lookup per term.
    pub fn terms_present(&self, searcher: &Searcher, sorted: &[&str]) -> Vec<bool> {
        let mut out = vec![false; sorted.len()];
        let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else {
            return out;
        };
        for reader in searcher.segment_readers() {
            let Ok(inv) = reader.inverted_index(self.fields.text) else {
                continue;
            };
            let Ok(mut stream) = inv
                .terms()
                .range()
                .ge(str::as_bytes(first))
                .le(str::as_bytes(last))
                .into_stream()
            else {
                continue;
            };
            let mut i = 0;
            while i < sorted.len() && stream.advance() {
                let key = stream.key();
                while i < sorted.len() && str::as_bytes(sorted[i]) < key {
                    i += 1;
                }
                if i < sorted.len() && str::as_bytes(sorted[i]) == key {
                    out[i] = true;
                    i += 1;
                }
            }
        }
        out
    }

    /// Number of live documents whose search text holds `term`.
    pub fn doc_freq(&self, searcher: &Searcher, term: &str) -> u64 {
        searcher
            .doc_freq(&Term::from_field_text(self.fields.text, term))
            .unwrap_or(0)
    }

    /// For each document of `docs`, which of `terms` its search text holds.
    pub fn presence(
        &self,
        searcher: &Searcher,
        docs: &[DocAddress],
        terms: &[String],
    ) -> Vec<Vec<bool>> {
        let mut out = vec![vec![false; terms.len()]; docs.len()];
        let mut order: Vec<usize> = (0..docs.len()).collect();
        order.sort_by_key(|&i| docs[i]);
        for (ti, term) in terms.iter().enumerate() {
            let term = Term::from_field_text(self.fields.text, term);
            let mut current: Option<(u32, tantivy::postings::SegmentPostings)> = None;
            for &i in &order {
                let addr = docs[i];
                if current.as_ref().map(|c| c.0) != Some(addr.segment_ord) {
                    let reader = &searcher.segment_readers()[addr.segment_ord as usize];
                    let postings = reader
                        .inverted_index(self.fields.text)
                        .ok()
                        .and_then(|inv| inv.read_postings(&term, IndexRecordOption::Basic).ok())
                        .flatten();
                    current = postings.map(|p| (addr.segment_ord, p));
                    if current.is_none() {
                        continue;
                    }
                }
                if let Some((_, postings)) = current.as_mut()
                    && postings.doc() <= addr.doc_id
                    && postings.seek(addr.doc_id) == addr.doc_id
                {
                    out[i][ti] = true;
                }
            }
        }
        out
    }

    /// Every distinct term of `field` that starts with `prefix` and passes `keep` (for
    /// typo-tolerant aliases; `keep` sees the term before it is copied, so a large dictionary
    /// costs a scan, not an allocation per term).
    pub fn terms_with_prefix(
        &self,
        searcher: &Searcher,
        field: Field,
        prefix: &str,
        keep: &dyn Fn(&str) -> bool,
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut upper = prefix.as_bytes().to_vec();
        upper.push(0xff);
        for reader in searcher.segment_readers() {
            let Ok(inv) = reader.inverted_index(field) else {
                continue;
            };
            let Ok(mut stream) = inv.terms().range().ge(prefix).lt(&upper).into_stream() else {
                continue;
            };
            while stream.advance() {
                if let Ok(s) = std::str::from_utf8(stream.key())
                    && keep(s)
                {
                    out.insert(s.to_string());
                }
            }
        }
        out
    }

    /// Folder ids of at most `depth` segments (`domain`, `domain/topic`) with the number of
    /// entries below each, sorted by id. Cheap: counted from the index's folder terms, no
    /// document is loaded.
    pub fn folder_counts(&self, searcher: &Searcher, depth: usize) -> Vec<(String, u64)> {
        let folders = self.terms_with_prefix(searcher, self.fields.folder, "", &|t: &str| {
            t.matches('/').count() < depth
        });
        folders
            .into_iter()
            .map(|f| {
                // Count live documents (doc_freq would include deleted ones until a merge).
                let q = TermQuery::new(
                    Term::from_field_text(self.fields.folder, &f),
                    IndexRecordOption::Basic,
                );
                let n = searcher.search(&q, &tantivy::collector::Count).unwrap_or(0) as u64;
                (f, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Number of live documents.
    pub fn num_docs(&self) -> u64 {
        self.searcher().num_docs()
    }

    /// Every live document with its dense key ([`super::Fields::dense_key`]), read from the
    /// fast field (no document is loaded: about 0.1 ms for 10k entries).
    pub fn dense_keys(&self, searcher: &Searcher) -> Vec<(DocAddress, u64)> {
        let mut out = Vec::new();
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            let Ok(column) = reader.fast_fields().u64(super::schema::DENSE_KEY) else {
                continue;
            };
            for doc in reader.doc_ids_alive() {
                if let Some(key) = column.first(doc) {
                    out.push((DocAddress::new(ord as u32, doc), key));
                }
            }
        }
        out
    }

    /// The dense key of the document at `addr` ([`super::Fields::dense_key`]), read from the
    /// fast field.
    pub fn dense_key_at(&self, searcher: &Searcher, addr: DocAddress) -> Option<u64> {
        let reader = searcher.segment_readers().get(addr.segment_ord as usize)?;
        let column = reader.fast_fields().u64(super::schema::DENSE_KEY).ok()?;
        column.first(addr.doc_id)
    }

    /// Stored metadata of every live document (for `ls`, `stats`, `check`).
    pub fn all(&self) -> Vec<StoredMeta> {
        let searcher = self.searcher();
        let mut out = Vec::new();
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            for doc in 0..reader.max_doc() {
                if reader.is_deleted(doc) {
                    continue;
                }
                if let Some(m) = self.stored(&searcher, DocAddress::new(ord as u32, doc)) {
                    out.push(m);
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}
