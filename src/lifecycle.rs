//! Lifecycle proposals for `consolidate` (pure: entries, usage and `now` in, proposals out).
//!
//! Decay demotes; it never deletes (DESIGN.md §9: automatic pruning elsewhere deleted live
//! memories). What this module proposes, each with its reason:
//! - `decayed`: effective importance (`importance × 0.5^(age/half-life)`, see
//!   [`crate::retrieve::rank`]) fell below a quarter of the importance: reported only, since
//!   decay already lowers the entry in ranking at query time;
//! - `promote`: draft → validated after [`PROMOTE_HITS`] uses; validated → core after
//!   [`CORE_HITS`] uses when its importance is at least [`CORE_IMPORTANCE`];
//! - `demote`: core → validated when it decayed below [`DEMOTE_EFFECTIVE`] and was not used for
//!   [`IDLE_DAYS`] days;
//! - `archive`: a draft that decayed below [`ARCHIVE_EFFECTIVE`] and was not used for
//!   [`IDLE_DAYS`] days becomes `status: archived` (still found with `--all`, kept in git).
//!
//! None of these is applied by the git hook; `consolidate --apply` applies them as one commit.
//! Confirmation by a person (`confirm`) resets the age and makes a draft validated.

use serde::Serialize;

use crate::config::Config;
use crate::record::StoredMeta;
use crate::retrieve::rank::{DEFAULT_IMPORTANCE, effective_importance};
use crate::usage::Usage;

/// Uses after which a draft is proposed for validated.
pub const PROMOTE_HITS: u64 = 5;
/// Uses after which a validated entry of enough importance is proposed for core.
pub const CORE_HITS: u64 = 25;
/// Importance a validated entry needs to be proposed for core.
pub const CORE_IMPORTANCE: f64 = 0.7;
/// Effective importance under which an unused core entry is proposed for validated.
pub const DEMOTE_EFFECTIVE: f64 = 0.2;
/// Effective importance under which an unused draft is proposed for archiving.
pub const ARCHIVE_EFFECTIVE: f64 = 0.1;
/// Days without use before a demotion or an archiving is proposed.
pub const IDLE_DAYS: i64 = 90;

/// One proposed (or applied) change of `consolidate`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Action {
    /// `decayed`, `promote`, `demote`, `archive`, `merge` or `repair-link`.
    pub kind: &'static str,
    /// The entry concerned.
    pub id: String,
    /// What changes, in words (`maturity: draft -> validated`).
    pub change: String,
    /// Why, with the figures it rests on.
    pub reason: String,
    /// Loses nothing and is trivially reversible, so the git hook may apply it.
    pub safe: bool,
    /// Whether this run applied it.
    pub applied: bool,
}

fn action(kind: &'static str, id: &str, change: String, reason: String) -> Action {
    Action {
        kind,
        id: id.to_string(),
        change,
        reason,
        safe: false,
        applied: false,
    }
}

/// Decay, promotion, demotion and archiving proposals for live entries, by id.
pub fn plan(entries: &[StoredMeta], usage: &Usage, config: &Config, now: i64) -> Vec<Action> {
    let mut out = Vec::new();
    for m in entries.iter().filter(|m| m.is_live() && !m.folder_note) {
        let used = usage.get(&m.id).copied().unwrap_or_default();
        let idle_days = if used.last > 0 {
            (now - used.last) / 86_400
        } else {
            i64::MAX
        };
        let importance = m.importance.unwrap_or(DEFAULT_IMPORTANCE);
        let effective = effective_importance(m, config, now);
        let maturity = m.maturity.as_deref().unwrap_or("validated");
        let idle = idle_days >= IDLE_DAYS;
        let uses = |h: u64| match h {
            0 => "never used".to_string(),
            1 => "used once".to_string(),
            n => format!("used {n} times"),
        };
        if maturity == "draft" && effective < ARCHIVE_EFFECTIVE && idle {
            out.push(action(
                "archive",
                &m.id,
                "status: active -> archived".into(),
                format!(
                    "a draft whose effective importance decayed to {effective:.2} and {} \
                     in the last {IDLE_DAYS} days",
                    if used.hits == 0 {
                        "never used".into()
                    } else {
                        "not used".to_string()
                    }
                ),
            ));
            continue;
        }
        if maturity == "draft" && used.hits >= PROMOTE_HITS {
            out.push(action(
                "promote",
                &m.id,
                "maturity: draft -> validated".into(),
                format!("{} (threshold {PROMOTE_HITS})", uses(used.hits)),
            ));
        } else if maturity == "validated" && used.hits >= CORE_HITS && importance >= CORE_IMPORTANCE
        {
            out.push(action(
                "promote",
                &m.id,
                "maturity: validated -> core".into(),
                format!(
                    "{} (threshold {CORE_HITS}) at importance {importance:.2}",
                    uses(used.hits)
                ),
            ));
        } else if maturity == "core" && effective < DEMOTE_EFFECTIVE && idle {
            out.push(action(
                "demote",
                &m.id,
                "maturity: core -> validated".into(),
                format!(
                    "effective importance decayed to {effective:.2} and not used in the last \
                     {IDLE_DAYS} days"
                ),
            ));
        } else if effective < importance / 4.0 {
            out.push(action(
                "decayed",
                &m.id,
                "none (ranking already reflects it)".into(),
                format!("effective importance {effective:.2} of {importance:.2}"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Use;

    fn meta(id: &str, maturity: &str, updated_days_ago: i64, now: i64) -> StoredMeta {
        StoredMeta {
            maturity: Some(maturity.into()),
            importance: Some(0.8),
            decay: Some("30d".into()),
            updated: Some(now - updated_days_ago * 86_400),
            ..StoredMeta::for_test(id)
        }
    }

    #[test]
    fn proposals_follow_usage_and_decay() {
        let now = 1_000 * 86_400;
        let c = Config::default();
        let entries = vec![
            meta("a/b/old-draft", "draft", 365, now),
            meta("a/b/used-draft", "draft", 1, now),
            meta("a/b/stale-core", "core", 365, now),
            meta("a/b/fresh", "validated", 1, now),
            meta("a/b/faded", "validated", 120, now),
        ];
        let mut usage = Usage::new();
        usage.insert("a/b/used-draft".into(), Use { hits: 7, last: now });
        let actions = plan(&entries, &usage, &c, now);
        let kinds: Vec<(&str, &str)> = actions.iter().map(|a| (a.kind, a.id.as_str())).collect();
        assert_eq!(
            kinds,
            [
                ("archive", "a/b/old-draft"),
                ("promote", "a/b/used-draft"),
                ("demote", "a/b/stale-core"),
                ("decayed", "a/b/faded"),
            ]
        );
        // Used recently, a decayed core entry stays core.
        usage.insert("a/b/stale-core".into(), Use { hits: 1, last: now });
        assert!(
            plan(&entries, &usage, &c, now)
                .iter()
                .all(|a| a.id != "a/b/stale-core" || a.kind == "decayed")
        );
    }
}
