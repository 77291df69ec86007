//! Text analysis shared by indexing and querying, so both sides always agree.
//!
//! The pipeline: code-aware words → English stop words removed → Snowball (Porter2) stemming.
//! Code-aware means an identifier yields its whole lower-cased form and its parts:
//! `IndexWriter` → `indexwriter index writer`, `snake_case` → `snake case snake_case`,
//! `tantivy::Index` → `tantivy index tantivy::index`. So a query in prose finds code, and a query
//! that names the identifier ranks the entry that names it exactly highest.
//!
//! Alias matching uses a separate, lighter normalisation ([`phrase_words`]): lower-case
//! alphanumeric words, no stemming, no stop words, so aliases match as written.

use tantivy::tokenizer::{
    Language, RemoveLongFilter, Stemmer, StopWordFilter, TextAnalyzer, Token, TokenStream,
    Tokenizer,
};

/// The name under which the analyzer is registered with tantivy.
pub const ANALYZER: &str = "memtree";

/// The tokenizer of the BM25 field: its text is already analyzed (terms joined by spaces, see
/// `SearchIndex::document`), so it only splits on whitespace. Analyzing each source once and
/// repeating its terms is how field weights are applied without re-tokenizing the repeats.
pub const PRE_ANALYZED: &str = "memtree-pre";

/// English stop words: function words and question words that carry no topic. Month names and
/// modal-free content words are deliberately absent (`may` is a month).
pub const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "s",
    "t",
    "d",
    "ll",
    "m",
    "re",
    "ve",
    "don",
    "didn",
    "doesn",
    "isn",
    "wasn",
    "weren",
    "won",
    "also",
    "yet",
    "ever",
    "get",
    "got",
    "much",
    "many",
    "like",
    "really",
    "oh",
    "yeah",
    "hey",
    "hi",
    // Generic verbs and nouns of questions, which name no topic.
    "use",
    "used",
    "uses",
    "using",
    "need",
    "needs",
    "want",
    "know",
    "thing",
    "things",
    "way",
    "something",
    "anything",
    "everything",
    "please",
    "tell",
    "show",
];

/// Builds the analyzer (tokenizer + stop words + stemmer). Cheap; build once per process.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(CodeTokenizer)
        .filter(RemoveLongFilter::limit(48))
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|s| s.to_string()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Analyzes `text` into index terms (possibly with repeats), in order.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Lower-case alphanumeric words of `text`, for alias matching (`TypeScript`, `type-script`
/// and `typescript` all normalise differently on purpose: only case and punctuation are folded).
pub fn phrase_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The code-aware tokenizer (see the module doc). Emits lower-cased tokens.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodeTokenizer;

/// The token stream of [`CodeTokenizer`]: tokens are computed up front.
pub struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = VecTokenStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream {
            tokens: code_tokens(text),
            next: 0,
        }
    }
}

/// Splits `text` into code-aware tokens (see the module doc).
pub fn code_tokens(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut position = 0;
    let mut push = |tokens: &mut Vec<Token>, from: usize, to: usize, s: String| {
        tokens.push(Token {
            offset_from: from,
            offset_to: to,
            position,
            text: s,
            position_length: 1,
        });
        position += 1;
    };
    while i < text.len() {
        // Find the next alphanumeric run.
        let Some(start) = text[i..].char_indices().find(|(_, c)| c.is_alphanumeric()) else {
            break;
        };
        let start = i + start.0;
        // Extend over runs joined by connectors: `_`, `-`, `.`, `::`.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut pos = start;
        loop {
            let run_end = text[pos..]
                .char_indices()
                .find(|(_, c)| !c.is_alphanumeric())
                .map_or(text.len(), |(j, _)| pos + j);
            runs.push((pos, run_end));
            let connector = if text[run_end..].starts_with("::") {
                2
            } else if matches!(bytes.get(run_end), Some(b'_' | b'-' | b'.')) {
                1
            } else {
                0
            };
            let next = run_end + connector;
            let joins = connector > 0
                && text[next..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric());
            if joins {
                pos = next;
            } else {
                i = run_end.max(pos + 1);
                break;
            }
        }
        for &(from, to) in &runs {
            let word = &text[from..to];
            push(&mut tokens, from, to, word.to_lowercase());
            let humps = camel_humps(word);
            if humps.len() > 1 {
                for (hf, ht) in humps {
                    push(
                        &mut tokens,
                        from + hf,
                        from + ht,
                        word[hf..ht].to_lowercase(),
                    );
                }
            }
        }
        if runs.len() > 1 {
            let (from, to) = (runs[0].0, runs[runs.len() - 1].1);
            push(&mut tokens, from, to, text[from..to].to_lowercase());
        }
    }
    tokens
}

/// Byte ranges of the camel-case humps of `word` (`getHTTPResponse` → get, HTTP, Response).
fn camel_humps(word: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut cuts = vec![0];
    for k in 1..chars.len() {
        let (prev, cur) = (chars[k - 1].1, chars[k].1);
        let next = chars.get(k + 1).map(|x| x.1);
        let lower_to_upper = prev.is_lowercase() && cur.is_uppercase();
        let acronym_end =
            prev.is_uppercase() && cur.is_uppercase() && next.is_some_and(char::is_lowercase);
        if lower_to_upper || acronym_end {
            cuts.push(chars[k].0);
        }
    }
    cuts.push(word.len());
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Vec<String> {
        code_tokens(text).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn identifiers_yield_whole_and_parts() {
        assert_eq!(raw("IndexWriter"), ["indexwriter", "index", "writer"]);
        assert_eq!(raw("snake_case"), ["snake", "case", "snake_case"]);
        assert_eq!(
            raw("tantivy::Index"),
            ["tantivy", "index", "tantivy::index"]
        );
        assert_eq!(
            raw("getHTTPResponse"),
            ["gethttpresponse", "get", "http", "response"]
        );
        assert_eq!(raw("end. Next"), ["end", "next"]);
    }

    #[test]
    fn stop_words_go_and_words_are_stemmed() {
        let mut a = analyzer();
        assert_eq!(
            terms(&mut a, "What are the merges running?"),
            ["merg", "run"]
        );
        assert_eq!(terms(&mut a, "May 2023"), ["may", "2023"]);
    }

    #[test]
    fn phrases_fold_case_and_punctuation() {
        assert_eq!(phrase_words("Search-Index, v2!"), ["search", "index", "v2"]);
    }
}
