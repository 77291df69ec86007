//! Lifecycle weighting: how importance, decay, maturity and status scale relevance.
//!
//! `weight = (0.5 + importance × 0.5^(age / half-life)) × maturity × status`
//!
//! The effective importance is DESIGN.md §3's `importance × 0.5^(age/half-life)` (age in days
//! since `updated`, else `created`; no decay without a date or with `decay: never`). It enters as
//! `0.5 + effective importance`, so an entry at the default importance 0.5 keeps its relevance
//! (×1.0), a fully decayed one keeps half of it, and a curated 1.0 gains half again: decay demotes,
//! it never hides (nothing is deleted or made unfindable by age, DESIGN.md §9). Maturity: draft
//! ×0.9, validated (or unset) ×1.0, core ×1.1. Status: active ×1.0, disputed ×0.8, superseded
//! ×0.5, archived ×0.4 (the last two only show with `--all`).
//!
//! The exponential half-life form is the usual forgetting curve (Ebbinghaus); zoxide ages its
//! ranks the same way, with `now` as a parameter so tests can pin it.

use crate::config::Config;
use crate::record::StoredMeta;

/// Default importance when an entry sets none.
pub const DEFAULT_IMPORTANCE: f64 = 0.5;

/// The effective importance at `now` (Unix seconds): `importance × 0.5^(age_days/half_life)`.
pub fn effective_importance(meta: &StoredMeta, config: &Config, now: i64) -> f64 {
    let importance = meta.importance.unwrap_or(DEFAULT_IMPORTANCE);
    let kind = meta.kind.as_deref().unwrap_or("fact");
    let Some(half_life) = config.half_life_days(kind, meta.decay.as_deref()) else {
        return importance;
    };
    let Some(updated) = meta.updated else {
        return importance;
    };
    let age_days = ((now - updated) as f64 / 86_400.0).max(0.0);
    importance * 0.5f64.powf(age_days / half_life)
}

/// The multiplier applied to a hit's relevance (see the module doc).
pub fn lifecycle_weight(meta: &StoredMeta, config: &Config, now: i64) -> f64 {
    let maturity = match meta.maturity.as_deref() {
        Some("draft") => 0.9,
        Some("core") => 1.1,
        _ => 1.0,
    };
    let status = match meta.status.as_str() {
        "disputed" => 0.8,
        "superseded" => 0.5,
        "archived" => 0.4,
        _ => 1.0,
    };
    (0.5 + effective_importance(meta, config, now)) * maturity * status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(importance: Option<f64>, updated: Option<i64>, decay: Option<&str>) -> StoredMeta {
        StoredMeta {
            importance,
            decay: decay.map(str::to_string),
            updated,
            ..StoredMeta::for_test("a/b/c")
        }
    }

    #[test]
    fn one_half_life_halves_importance() {
        let c = Config::default();
        let day = 86_400;
        let m = meta(Some(0.8), Some(0), Some("10d"));
        assert!((effective_importance(&m, &c, 10 * day) - 0.4).abs() < 1e-9);
        assert!((effective_importance(&m, &c, 0) - 0.8).abs() < 1e-9);
        let never = meta(Some(0.8), Some(0), Some("never"));
        assert!((effective_importance(&never, &c, 1000 * day) - 0.8).abs() < 1e-9);
    }

    #[test]
    fn weight_decreases_with_age() {
        let c = Config::default();
        let m = meta(None, Some(0), Some("30d"));
        let mut last = f64::INFINITY;
        for days in [0, 10, 30, 100, 1000] {
            let w = lifecycle_weight(&m, &c, days * 86_400);
            assert!(w < last || days == 0);
            assert!(w >= 0.5);
            last = w;
        }
    }
}
