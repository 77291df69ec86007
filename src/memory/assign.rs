//! `set KEY=VALUE`: parsing assignments and applying them to typed front matter, with the same
//! validation `check` applies to a file.

use crate::entry::{self, Meta};
use crate::error::{Error, Result};
use crate::tree;

pub(super) fn check_relation_type(kind: &str) -> Result<()> {
    if entry::RELATION_TYPES.contains(&kind) {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            key: "type".into(),
            reason: format!(
                "unknown relation type `{kind}`; expected one of {}",
                entry::RELATION_TYPES.join(", ")
            ),
        })
    }
}

/// Checks a single value for a key the way `check` would, as an error.
pub(super) fn check_value(key: &str, value: &str) -> Result<()> {
    // Quoted, the value reaches parse_meta as text; numeric keys parse text themselves. The
    // probe needs a title, unless the title is what is checked.
    let title = if key == "title" { "" } else { "title: x\n" };
    let yaml = format!("{title}{key}: {}\n", entry::yaml_scalar(value));
    let (_, problems) = entry::parse_meta(&yaml).map_err(|e| Error::InvalidValue {
        key: key.into(),
        reason: e.message,
    })?;
    match problems.into_iter().next() {
        Some(p) => Err(Error::InvalidValue {
            key: key.into(),
            reason: p.message,
        }),
        None => Ok(()),
    }
}

/// How an assignment changes a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Set,
    Add,
    Remove,
}

const SETTABLE: &[&str] = &[
    "title",
    "kind",
    "summary",
    "aliases",
    "tags",
    "scope",
    "importance",
    "maturity",
    "decay",
    "status",
    "supersedes",
    "superseded_by",
    "why",
    "date",
];
pub(super) const LIST_KEYS: &[&str] = &["aliases", "tags", "scope", "supersedes"];

pub(super) fn parse_assignment(a: &str) -> Result<(String, Op, String)> {
    let Some(eq) = a.find('=') else {
        return Err(Error::InvalidValue {
            key: a.to_string(),
            reason: "expected KEY=VALUE (or KEY+=VALUE / KEY-=VALUE for lists)".into(),
        });
    };
    let (mut key, value) = (a[..eq].trim().to_string(), a[eq + 1..].trim().to_string());
    let op = if let Some(k) = key.strip_suffix('+') {
        key = k.to_string();
        Op::Add
    } else if let Some(k) = key.strip_suffix('-') {
        key = k.to_string();
        Op::Remove
    } else {
        Op::Set
    };
    if !SETTABLE.contains(&key.as_str()) {
        let reason = if key == "relations" {
            "use `memtree link` / `memtree unlink` for relations".to_string()
        } else if key == "created" || key == "updated" {
            "`created` and `updated` are stamped by memtree".to_string()
        } else {
            format!(
                "not a key that `set` changes; settable keys: {}",
                SETTABLE.join(", ")
            )
        };
        return Err(Error::InvalidValue { key, reason });
    }
    if op != Op::Set && !LIST_KEYS.contains(&key.as_str()) {
        return Err(Error::InvalidValue {
            key,
            reason: format!(
                "+= and -= work on list keys only ({})",
                LIST_KEYS.join(", ")
            ),
        });
    }
    Ok((key, op, value))
}

/// A list value: a YAML flow list (`[2024, v2]`: numbers and booleans are kept as the text
/// they were written as) or comma-separated words.
///
/// # Errors
/// [`Error::InvalidValue`] for an item that is not a plain value (a nested list or map, null).
fn split_list(key: &str, value: &str) -> Result<Vec<String>> {
    let v = value.trim();
    if v.starts_with('[')
        && let Ok(serde_yaml::Value::Sequence(items)) = serde_yaml::from_str(v)
    {
        return items
            .iter()
            .map(|i| match i {
                serde_yaml::Value::String(s) => Ok(s.clone()),
                serde_yaml::Value::Number(n) => Ok(n.to_string()),
                serde_yaml::Value::Bool(b) => Ok(b.to_string()),
                other => Err(Error::InvalidValue {
                    key: key.into(),
                    reason: format!(
                        "list items are text; `{}` is not",
                        serde_yaml::to_string(other).unwrap_or_default().trim()
                    ),
                }),
            })
            .collect();
    }
    Ok(v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

/// Applies parsed assignments in order; returns the keys they touch (the caller keeps those
/// whose value really changed).
///
/// # Errors
/// As [`apply`].
pub(super) fn apply_all(meta: &mut Meta, ops: Vec<(String, Op, String)>) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    for (key, op, value) in ops {
        apply(meta, &key, op, &value)?;
        changed.push(key);
    }
    Ok(changed)
}

pub(super) fn apply(meta: &mut Meta, key: &str, op: Op, value: &str) -> Result<()> {
    let empty = value.is_empty();
    if !empty && !LIST_KEYS.contains(&key) {
        check_value(key, value)?;
    }
    let opt = || (!empty).then(|| value.to_string());
    match key {
        "title" if empty => {
            return Err(Error::InvalidValue {
                key: "title".into(),
                reason: "the title cannot be removed".into(),
            });
        }
        "title" => meta.title = opt(),
        "kind" => meta.kind = opt(),
        "summary" => meta.summary = opt(),
        "maturity" => meta.maturity = opt(),
        "decay" => meta.decay = opt(),
        "status" => meta.status = opt(),
        "why" => meta.why = opt(),
        "date" => meta.date = opt(),
        "superseded_by" => {
            if let Some(v) = opt() {
                tree::validate_id(&tree::normalize_id(&v))?;
            }
            meta.superseded_by = opt().map(|v| tree::normalize_id(&v));
        }
        "importance" => {
            meta.importance = if empty {
                None
            } else {
                Some(value.parse().map_err(|_| Error::InvalidValue {
                    key: "importance".into(),
                    reason: format!("`{value}` is not a number between 0.0 and 1.0"),
                })?)
            }
        }
        list_key => {
            let list = match list_key {
                "aliases" => &mut meta.aliases,
                "tags" => &mut meta.tags,
                "scope" => &mut meta.scope,
                _ => &mut meta.supersedes,
            };
            let items = split_list(key, value)?;
            match op {
                Op::Set => *list = items,
                Op::Add => {
                    for i in items {
                        if !list.contains(&i) {
                            list.push(i);
                        }
                    }
                }
                Op::Remove => list.retain(|x| !items.contains(x)),
            }
        }
    }
    Ok(())
}
