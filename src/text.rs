//! Small string measures used by typo-tolerant alias matching and "did you mean" suggestions.

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// The typo rule of the alias tier: `typed` may stand for `word` when both have 4+ letters, their
/// first two letters agree and they are one edit apart (`typscript` → `typescript`, but `just`
/// never → `jest`, `mango` never → `mongo`).
pub fn one_typo(typed: &str, word: &str) -> bool {
    if typed == word || typed.chars().count() < 4 || word.chars().count() < 4 {
        return false;
    }
    let prefix = |s: &str| s.chars().take(2).collect::<String>();
    prefix(typed) == prefix(word) && edit_distance(typed, word) == 1
}

/// Up to `n` candidates closest to `target` (by edit distance on the whole id and on its last
/// segment), best first; only reasonably close ones.
pub fn closest<'a>(
    target: &str,
    candidates: impl Iterator<Item = &'a str>,
    n: usize,
) -> Vec<String> {
    let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let t_last = last(target);
    let mut scored: Vec<(usize, String)> = candidates
        .filter_map(|c| {
            let whole = edit_distance(target, c);
            let tail = edit_distance(&t_last, &last(c));
            let contains = c.contains(target) || c.contains(&t_last);
            let d = whole
                .min(tail + 1)
                .min(if contains { 1 } else { usize::MAX });
            let limit = (target.len() / 3).max(2);
            (d <= limit).then(|| (d, c.to_string()))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn the_typo_rule_of_the_design() {
        assert!(one_typo("typscript", "typescript"));
        assert!(!one_typo("just", "jest"));
        assert!(!one_typo("mango", "mongo"));
        assert!(!one_typo("cat", "cut"));
    }

    #[test]
    fn suggestions() {
        let ids = [
            "arch/storage/search-index",
            "arch/storage/segments",
            "ops/deploy/ci",
        ];
        let s = closest("arch/storage/serch-index", ids.iter().copied(), 3);
        assert_eq!(
            s.first().map(String::as_str),
            Some("arch/storage/search-index")
        );
        assert!(closest("zzzzzzzz", ids.iter().copied(), 3).is_empty());
    }
}
