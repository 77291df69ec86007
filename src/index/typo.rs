//! The typo tier's lookup: alias keys whose first word is one edit from a typed word, walked
//! with a Levenshtein automaton over the term dictionary.

use std::collections::BTreeSet;

use tantivy::Searcher;

use super::SearchIndex;

/// The shared Levenshtein automaton builder (distance 1, transpositions cost one), built once.
mod builder {
    use std::sync::LazyLock;

    use levenshtein_automata::LevenshteinAutomatonBuilder;

    static BUILDER: LazyLock<LevenshteinAutomatonBuilder> =
        LazyLock::new(|| LevenshteinAutomatonBuilder::new(1, true));

    pub(super) fn builder() -> &'static LevenshteinAutomatonBuilder {
        &BUILDER
    }
}

/// Matches alias keys whose first word is within the DFA's distance of the typed word and
/// starts with `prefix`; anything after the first space is accepted.
pub(super) struct FirstWordNear {
    dfa: levenshtein_automata::DFA,
    prefix: Vec<u8>,
}

/// A state of [`FirstWordNear`].
#[derive(Clone, Copy)]
pub(super) enum Near {
    /// Inside the first word: bytes seen and the DFA state.
    Word(usize, u32),
    /// Past the first word (which matched).
    Rest,
    /// Cannot match.
    Dead,
}

impl FirstWordNear {
    fn word_matches(&self, state: u32) -> bool {
        matches!(
            self.dfa.distance(state),
            levenshtein_automata::Distance::Exact(_)
        )
    }
}

impl tantivy_fst::Automaton for &FirstWordNear {
    type State = Near;

    fn start(&self) -> Near {
        Near::Word(0, self.dfa.initial_state())
    }

    fn is_match(&self, state: &Near) -> bool {
        match *state {
            Near::Rest => true,
            Near::Word(seen, s) => seen >= self.prefix.len() && self.word_matches(s),
            Near::Dead => false,
        }
    }

    fn can_match(&self, state: &Near) -> bool {
        match *state {
            Near::Rest => true,
            Near::Word(_, s) => s != levenshtein_automata::SINK_STATE,
            Near::Dead => false,
        }
    }

    fn will_always_match(&self, state: &Near) -> bool {
        matches!(state, Near::Rest)
    }

    fn accept(&self, state: &Near, byte: u8) -> Near {
        match *state {
            Near::Rest => Near::Rest,
            Near::Dead => Near::Dead,
            Near::Word(seen, s) => {
                if seen < self.prefix.len() && byte != self.prefix[seen] {
                    Near::Dead
                } else if byte == b' ' {
                    if seen >= self.prefix.len() && self.word_matches(s) {
                        Near::Rest
                    } else {
                        Near::Dead
                    }
                } else {
                    let next = self.dfa.transition(s, byte);
                    if next == levenshtein_automata::SINK_STATE {
                        Near::Dead
                    } else {
                        Near::Word(seen + 1, next)
                    }
                }
            }
        }
    }
}

impl SearchIndex {
    /// Every distinct alias key (normalised title or alias, words joined by one space) whose
    /// first word is `word` or one edit from it with the same first two letters: what the
    /// typo rule of the alias tier can match. A Levenshtein automaton (distance 1,
    /// transpositions counted as one edit) walks the term dictionary, so only the keys it can
    /// match are visited, not every key with the same first two letters.
    pub fn alias_keys_near(&self, searcher: &Searcher, word: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let prefix: Vec<u8> = word.chars().take(2).collect::<String>().into_bytes();
        if prefix.len() < 2 {
            return out;
        }
        let automaton = FirstWordNear {
            dfa: builder::builder().build_dfa(word),
            prefix,
        };
        for reader in searcher.segment_readers() {
            let Ok(inv) = reader.inverted_index(self.fields.alias) else {
                continue;
            };
            let Ok(mut stream) = inv.terms().search(&automaton).into_stream() else {
                continue;
            };
            while stream.advance() {
                if let Ok(s) = std::str::from_utf8(stream.key()) {
                    out.insert(s.to_string());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(typed: &str, key: &str) -> bool {
        use tantivy_fst::Automaton as _;
        let a = FirstWordNear {
            dfa: builder::builder().build_dfa(typed),
            prefix: typed.chars().take(2).collect::<String>().into_bytes(),
        };
        let a = &a;
        let mut state = a.start();
        for b in key.bytes() {
            if !a.can_match(&state) {
                return false;
            }
            state = a.accept(&state, b);
        }
        a.is_match(&state)
    }

    #[test]
    fn a_word_shorter_than_the_prefix_does_not_match() {
        assert!(!near("ab", "a"));
        assert!(!near("ab", "a b"));
        assert!(near("typscript", "typescript"));
        assert!(near("typscript", "typescript handbook"));
        assert!(!near("typscript", "tpyescript"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The automaton accepts exactly the keys whose first word is within one edit (a
        /// transposition counting one) of the typed word and shares its first two letters.
        #[test]
        fn the_typo_automaton_matches_the_rule(
            typed in "[a-e]{2,7}",
            first in "[a-e]{1,8}",
            rest in proptest::option::of("[a-e ]{0,6}"),
        ) {
            let key = match &rest {
                Some(r) => format!("{first} {r}"),
                None => first.clone(),
            };
            let same_prefix = first.chars().take(2).eq(typed.chars().take(2));
            let expected = same_prefix
                && crate::text::edit_distance(&typed, &first) <= 1;
            proptest::prop_assert_eq!(near(&typed, &key), expected, "{} {}", typed, key);
        }
    }
}
