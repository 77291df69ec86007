//! An entry: YAML front matter plus a markdown body (DESIGN.md §2).
//!
//! What this module guarantees, because developers edit these files by hand:
//! - the body is kept byte for byte on every rewrite, and so is every front-matter line that a
//!   change does not touch (comments, quoting, key order, unknown keys);
//! - a change to one key ([`set_key`]) replaces only that key's lines, or inserts the key after
//!   its predecessor in the canonical order; the result is re-parsed before it is returned;
//! - parsing is lenient: a wrongly-typed value becomes a [`Problem`] with its line, and the rest
//!   of the entry stays usable; only YAML that does not parse at all fails the whole entry.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_yaml::Value;

/// The kinds an entry can have.
pub const KINDS: &[&str] = &[
    "fact",
    "decision",
    "convention",
    "procedure",
    "pitfall",
    "preference",
    "reference",
    "question",
];
/// Maturity levels, weakest first.
pub const MATURITIES: &[&str] = &["draft", "validated", "core"];
/// Status values.
pub const STATUSES: &[&str] = &["active", "superseded", "archived", "disputed"];
/// Relation types between entries.
pub const RELATION_TYPES: &[&str] = &[
    "depends-on",
    "part-of",
    "follows",
    "refines",
    "implements",
    "contradicts",
    "see-also",
];
/// Front-matter keys in their canonical order (used when a key is inserted or a file is written).
pub const CANONICAL_KEYS: &[&str] = &[
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
    "relations",
    "why",
    "source",
    "date",
    "created",
    "updated",
];

/// A typed relation to another entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Relation {
    /// One of [`RELATION_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The target entry id.
    pub to: String,
}

/// The front matter of an entry, typed leniently: every field is optional, and unknown keys are
/// kept in `extra` in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    /// Human title (required by `check`).
    pub title: Option<String>,
    /// One of [`KINDS`].
    pub kind: Option<String>,
    /// One-sentence summary.
    pub summary: Option<String>,
    /// Other names the entry answers to (alias tier).
    pub aliases: Vec<String>,
    /// Free tags.
    pub tags: Vec<String>,
    /// Code path globs the entry is about (`query --path`).
    pub scope: Vec<String>,
    /// Curated importance in 0.0–1.0 (default 0.5).
    pub importance: Option<f64>,
    /// One of [`MATURITIES`].
    pub maturity: Option<String>,
    /// Half-life of relevance: `30d`, `6w`, `3m`, `1y` or `never`.
    pub decay: Option<String>,
    /// One of [`STATUSES`].
    pub status: Option<String>,
    /// Ids this entry supersedes.
    pub supersedes: Vec<String>,
    /// The id that supersedes this entry.
    pub superseded_by: Option<String>,
    /// Typed relations.
    pub relations: Vec<Relation>,
    /// Why it matters.
    pub why: Option<String>,
    /// When the thing happened or was observed (RFC 3339 or `YYYY-MM-DD`).
    pub date: Option<String>,
    /// Creation time (RFC 3339).
    pub created: Option<String>,
    /// Last deliberate change (RFC 3339).
    pub updated: Option<String>,
    /// Every other key, in file order, with its value (includes `source`).
    pub extra: Vec<(String, Value)>,
}

/// A problem with one front-matter key; the entry is still usable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The key concerned (empty for the block as a whole).
    pub key: String,
    /// 1-based line in the file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A file split into its front-matter text and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The YAML between the `---` lines (with its final newline), `None` without front matter.
    pub front: Option<String>,
    /// Everything after the closing `---` line, byte for byte.
    pub body: String,
    /// The line ending used by the delimiters (`"\n"` or `"\r\n"`).
    pub newline: &'static str,
    /// The file starts with a UTF-8 byte-order mark (kept on rewrite).
    pub bom: bool,
    /// The opening and closing delimiter lines as they were in the file (`"--- \r\n"`,
    /// `"..."`), so that a rewrite keeps them byte for byte; `None` for a new document.
    pub delimiters: Option<(String, String)>,
}

/// The 1-based file line on which the front-matter YAML starts.
pub const FRONT_FIRST_LINE: usize = 2;

/// `line` (with its line ending) is a front-matter delimiter: `---` (or, closing, `...`),
/// then only spaces or tabs.
fn is_delimiter(line: &str, closing: bool) -> bool {
    let t = line
        .trim_end_matches(['\n', '\r'])
        .trim_end_matches([' ', '\t']);
    t == "---" || (closing && t == "...")
}

impl Document {
    /// A new document with `---` delimiters.
    pub fn new(front: Option<String>, body: String, newline: &'static str) -> Document {
        Document {
            front,
            body,
            newline,
            bom: false,
            delimiters: None,
        }
    }

    /// This document with another front matter and body, keeping its delimiters, line ending
    /// and byte-order mark.
    pub fn with(&self, front: Option<String>, body: String) -> Document {
        Document {
            front,
            body,
            ..self.clone()
        }
    }

    /// Splits a file. A file without an opening `---` line (after an optional byte-order mark;
    /// trailing spaces allowed) has no front matter; an opening line without a closing `---`
    /// (or `...`) line is reported as `Err(line)` of the opening line.
    pub fn split(text: &str) -> Result<Document, usize> {
        let (bom, unmarked) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let first = unmarked.split_inclusive('\n').next().unwrap_or("");
        if !first.ends_with('\n') || !is_delimiter(first, false) {
            return Ok(Document::new(None, text.to_string(), "\n"));
        }
        let newline = if first.ends_with("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let rest = &unmarked[first.len()..];
        let mut offset = 0;
        for line in rest.split_inclusive('\n') {
            if is_delimiter(line, true) {
                return Ok(Document {
                    front: Some(rest[..offset].to_string()),
                    body: rest[offset + line.len()..].to_string(),
                    newline,
                    bom,
                    delimiters: Some((first.to_string(), line.to_string())),
                });
            }
            offset += line.len();
        }
        Err(1)
    }

    /// Joins front matter and body back into file text.
    pub fn join(&self) -> String {
        let Some(front) = &self.front else {
            return self.body.clone();
        };
        let nl = self.newline;
        let plain = format!("---{nl}");
        let (open, close) = match &self.delimiters {
            Some((o, c)) => (o.as_str(), c.as_str()),
            None => (plain.as_str(), plain.as_str()),
        };
        let mut out = String::with_capacity(front.len() + self.body.len() + 16);
        if self.bom {
            out.push('\u{feff}');
        }
        out.push_str(open);
        out.push_str(front);
        if !front.is_empty() && !front.ends_with('\n') {
            out.push_str(nl);
        }
        out.push_str(close);
        if !close.ends_with('\n') && !self.body.is_empty() {
            out.push_str(nl);
        }
        out.push_str(&self.body);
        out
    }
}

/// A YAML syntax error in front matter, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line in the file.
    pub line: usize,
    /// serde_yaml's message.
    pub message: String,
}

/// Parses front-matter YAML (as held in [`Document::front`]) into [`Meta`], collecting problems
/// with wrongly-typed or invalid values instead of failing.
///
/// # Errors
/// A [`YamlError`] when the text is not YAML or not a mapping.
pub fn parse_meta(yaml: &str) -> Result<(Meta, Vec<Problem>), YamlError> {
    let value: Value = if yaml.trim().is_empty() {
        Value::Mapping(Default::default())
    } else {
        serde_yaml::from_str(yaml).map_err(|e| YamlError {
            line: FRONT_FIRST_LINE + e.location().map_or(0, |l| l.line().saturating_sub(1)),
            message: strip_location(&e.to_string()),
        })?
    };
    let map = match value {
        Value::Mapping(m) => m,
        Value::Null => Default::default(),
        _ => {
            return Err(YamlError {
                line: FRONT_FIRST_LINE,
                message: "front matter must be a mapping of `key: value` lines".into(),
            });
        }
    };
    let lines = key_lines(yaml);
    let line_of = |key: &str| lines.get(key).copied().unwrap_or(FRONT_FIRST_LINE);
    let mut meta = Meta::default();
    let mut problems = Vec::new();
    for (k, v) in map {
        let Some(key) = k.as_str().map(str::to_string) else {
            problems.push(Problem {
                key: String::new(),
                line: FRONT_FIRST_LINE,
                message: "front-matter keys must be text".into(),
            });
            continue;
        };
        let mut problem = |message: String| {
            problems.push(Problem {
                key: key.clone(),
                line: line_of(&key),
                message,
            })
        };
        match key.as_str() {
            "title" => meta.title = text(&v, &mut problem),
            "kind" => meta.kind = text(&v, &mut problem),
            "summary" => meta.summary = text(&v, &mut problem),
            "aliases" => meta.aliases = list(&v, &mut problem),
            "tags" => meta.tags = list(&v, &mut problem),
            "scope" => meta.scope = list(&v, &mut problem),
            "importance" => {
                meta.importance = match &v {
                    Value::Number(n) => n.as_f64(),
                    Value::Null => None,
                    Value::String(s) => s.trim().parse().ok().or_else(|| {
                        problem(format!("`importance` must be a number, found `{s}`"));
                        None
                    }),
                    _ => {
                        problem("`importance` must be a number between 0.0 and 1.0".into());
                        None
                    }
                }
            }
            "maturity" => meta.maturity = text(&v, &mut problem),
            "decay" => meta.decay = text(&v, &mut problem),
            "status" => meta.status = text(&v, &mut problem),
            "supersedes" => meta.supersedes = list(&v, &mut problem),
            "superseded_by" => meta.superseded_by = text(&v, &mut problem),
            "relations" => meta.relations = relations(&v, &mut problem),
            "why" => meta.why = text(&v, &mut problem),
            "date" => meta.date = text(&v, &mut problem),
            "created" => meta.created = text(&v, &mut problem),
            "updated" => meta.updated = text(&v, &mut problem),
            _ => meta.extra.push((key.clone(), v)),
        }
    }
    problems.extend(validate(&meta, &line_of));
    Ok((meta, problems))
}

fn strip_location(msg: &str) -> String {
    // serde_yaml appends " at line L column C"; the caller reports the file line itself.
    let msg = match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    // The parser's guards against alias bombs and deep nesting, said plainly.
    if msg.contains("repetition limit exceeded") {
        "YAML aliases expand to too many values (repetition limit exceeded)".into()
    } else if msg.contains("recursion limit exceeded") {
        "YAML is nested too deeply (recursion limit exceeded)".into()
    } else {
        msg.to_string()
    }
}

/// The 1-based file line of every top-level key in front-matter YAML.
fn key_lines(yaml: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for (i, line) in yaml.lines().enumerate() {
        if let Some(key) = top_level_key(line) {
            out.entry(key.to_string()).or_insert(FRONT_FIRST_LINE + i);
        }
    }
    out
}

/// The key a line starts, if it is a top-level `key:` line.
fn top_level_key(line: &str) -> Option<&str> {
    let first = line.chars().next()?;
    if !(first.is_alphanumeric() || first == '_' || first == '"' || first == '\'') {
        return None;
    }
    let colon = line.find(':')?;
    let key = line[..colon].trim().trim_matches(['"', '\'']);
    let after = &line[colon + 1..];
    (after.is_empty() || after.starts_with([' ', '\t', '\r', '\n'])).then_some(key)
}

fn text(v: &Value, problem: &mut impl FnMut(String)) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => {
            problem("expected a single text value".into());
            None
        }
    }
}

fn list(v: &Value, problem: &mut impl FnMut(String)) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(|item| text(item, problem))
            .collect(),
        other => text(other, problem).into_iter().collect(),
    }
}

fn relations(v: &Value, problem: &mut impl FnMut(String)) -> Vec<Relation> {
    let Value::Sequence(items) = v else {
        if !v.is_null() {
            problem("`relations` must be a list of `{type: T, to: ID}`".into());
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let kind = item.get("type").and_then(Value::as_str);
        let to = item.get("to").and_then(Value::as_str);
        match (kind, to) {
            (Some(kind), Some(to)) => out.push(Relation {
                kind: kind.to_string(),
                to: to.to_string(),
            }),
            _ => problem("each relation needs `type` and `to`".into()),
        }
    }
    out
}

fn validate(meta: &Meta, line_of: &dyn Fn(&str) -> usize) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut push = |key: &str, message: String| {
        out.push(Problem {
            key: key.to_string(),
            line: line_of(key),
            message,
        })
    };
    if let Some(kind) = &meta.kind
        && !KINDS.contains(&kind.as_str())
    {
        push(
            "kind",
            format!(
                "unknown kind `{kind}`; expected one of {}",
                KINDS.join(", ")
            ),
        );
    }
    if let Some(m) = &meta.maturity
        && !MATURITIES.contains(&m.as_str())
    {
        push(
            "maturity",
            format!(
                "unknown maturity `{m}`; expected one of {}",
                MATURITIES.join(", ")
            ),
        );
    }
    if let Some(s) = &meta.status
        && !STATUSES.contains(&s.as_str())
    {
        push(
            "status",
            format!(
                "unknown status `{s}`; expected one of {}",
                STATUSES.join(", ")
            ),
        );
    }
    if let Some(i) = meta.importance
        && !(0.0..=1.0).contains(&i)
    {
        push(
            "importance",
            format!("importance must be between 0.0 and 1.0, found {i}"),
        );
    }
    if let Some(d) = &meta.decay
        && let Err(e) = parse_half_life(d)
    {
        push("decay", e);
    }
    for key in ["date", "created", "updated"] {
        let v = match key {
            "date" => &meta.date,
            "created" => &meta.created,
            _ => &meta.updated,
        };
        if let Some(v) = v
            && parse_time(v).is_none()
        {
            push(
                key,
                format!(
                    "`{v}` is not a date (use RFC 3339, e.g. 2026-11-20T10:04:00Z, or 2026-11-20)"
                ),
            );
        }
    }
    for r in &meta.relations {
        if !RELATION_TYPES.contains(&r.kind.as_str()) {
            push(
                "relations",
                format!(
                    "unknown relation type `{}`; expected one of {}",
                    r.kind,
                    RELATION_TYPES.join(", ")
                ),
            );
        }
    }
    out
}

/// Parses a half-life: `30d`, `6w`, `3m` (30 days), `1y` (365 days) or `never`.
/// Returns days, `None` for `never`.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_half_life(s: &str) -> Result<Option<f64>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let err = || format!("decay `{s}` must be a half-life like 30d, 6w, 3m, 1y, or `never`");
    // The unit is the last character, which may be any Unicode character in hand-typed text
    // (`30é`): split on a character boundary, never on a byte.
    let Some((at, unit)) = s.char_indices().last() else {
        return Err(err());
    };
    let n: f64 = s[..at].trim().parse().map_err(|_| err())?;
    let days = match unit {
        'd' => n,
        'w' => n * 7.0,
        'm' => n * 30.0,
        'y' => n * 365.0,
        _ => return Err(err()),
    };
    if days > 0.0 && days.is_finite() {
        Ok(Some(days))
    } else {
        Err(err())
    }
}

/// Parses a front-matter time: RFC 3339, `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM:SS`
/// (UTC).
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Renders a string as a YAML scalar: plain when that reads back as the same string, otherwise
/// double-quoted (JSON escaping, which is valid YAML).
pub fn yaml_scalar(s: &str) -> String {
    if plain_ok(s, false) {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

/// Like [`yaml_scalar`], for an item inside a flow sequence (`[a, b]`).
fn yaml_flow_item(s: &str) -> String {
    if plain_ok(s, true) {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_alphanumeric() || first == '(' || first == '/' || first == '.')
        || s.ends_with([' ', '\t'])
        || s.contains([
            '\n', '\r', '\t', '#', '"', '\'', '`', '\\', '|', '>', '*', '&', '!', '%', '@',
        ])
        || s.contains(": ")
        || s.ends_with(':')
        || (flow && s.contains([',', '[', ']', '{', '}']))
    {
        return false;
    }
    // YAML 1.1 readers (PyYAML, many front-matter renderers) take these as booleans.
    const YAML11_BOOLS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false"];
    if YAML11_BOOLS.contains(&s.to_ascii_lowercase().as_str()) {
        return false;
    }
    // Make sure YAML reads it back as this very string (not a number, bool, null ...).
    let probe = if flow {
        format!("k: [{s}]")
    } else {
        format!("k: {s}")
    };
    match serde_yaml::from_str::<Value>(&probe) {
        Ok(v) => {
            let got = v.get("k");
            let got = if flow {
                got.and_then(|v| v.as_sequence())
                    .filter(|seq| seq.len() == 1)
                    .and_then(|seq| seq[0].as_str())
            } else {
                got.and_then(Value::as_str)
            };
            got == Some(s)
        }
        Err(_) => false,
    }
}

/// Renders a list as a flow sequence: `[a, "b, c"]`.
pub fn yaml_flow_list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| yaml_flow_item(s)).collect();
    format!("[{}]", parts.join(", "))
}

/// Renders a number the way a person writes it (`0.7`, `1`).
pub fn yaml_number(f: f64) -> String {
    let s = format!("{f}");
    if s.contains(['e', 'E']) {
        format!("{f:.6}")
    } else {
        s
    }
}

/// Renders one top-level key of [`Meta`] as YAML lines (with trailing newline), or `None` when
/// the field is empty.
pub fn render_key(meta: &Meta, key: &str) -> Option<String> {
    let scalar = |v: &Option<String>| v.as_ref().map(|s| format!("{key}: {}\n", yaml_scalar(s)));
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| format!("{key}: {}\n", yaml_flow_list(v)));
    match key {
        "title" => scalar(&meta.title),
        "kind" => scalar(&meta.kind),
        "summary" => scalar(&meta.summary),
        "aliases" => list(&meta.aliases),
        "tags" => list(&meta.tags),
        "scope" => list(&meta.scope),
        "importance" => meta
            .importance
            .map(|i| format!("importance: {}\n", yaml_number(i))),
        "maturity" => scalar(&meta.maturity),
        "decay" => scalar(&meta.decay),
        "status" => scalar(&meta.status),
        "supersedes" => list(&meta.supersedes),
        "superseded_by" => scalar(&meta.superseded_by),
        "relations" => (!meta.relations.is_empty()).then(|| {
            let mut s = String::from("relations:\n");
            for r in &meta.relations {
                let _ = writeln!(
                    s,
                    "  - {{type: {}, to: {}}}",
                    yaml_flow_item(&r.kind),
                    yaml_flow_item(&r.to)
                );
            }
            s
        }),
        "why" => scalar(&meta.why),
        "date" => scalar(&meta.date),
        "created" => scalar(&meta.created),
        "updated" => scalar(&meta.updated),
        other => meta
            .extra
            .iter()
            .find(|(k, _)| k == other)
            .map(|(k, v)| render_value(k, v)),
    }
}

fn render_value(key: &str, v: &Value) -> String {
    let mut m = serde_yaml::Mapping::new();
    m.insert(Value::String(key.to_string()), v.clone());
    serde_yaml::to_string(&m).unwrap_or_default()
}

/// Renders a whole front matter in canonical key order (for new entries), unknown keys last.
pub fn render_meta(meta: &Meta) -> String {
    let mut out = String::new();
    for key in CANONICAL_KEYS {
        if let Some(s) = render_key(meta, key) {
            out.push_str(&s);
        }
    }
    for (k, v) in &meta.extra {
        if !CANONICAL_KEYS.contains(&k.as_str()) {
            out.push_str(&render_value(k, v));
        }
    }
    out
}

/// The byte range of a top-level key's block (its line plus indented continuation lines and
/// indentless `- ` items), without trailing blank lines.
fn key_block(yaml: &str, key: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut start = None;
    let mut end = 0;
    for line in yaml.split_inclusive('\n') {
        let line_end = offset + line.len();
        match start {
            None => {
                if top_level_key(line) == Some(key) {
                    start = Some(offset);
                    end = line_end;
                }
            }
            Some(_) => {
                let continues = line.starts_with([' ', '\t', '-']);
                let blank = line.trim().is_empty();
                if continues && !blank {
                    end = line_end;
                } else if !blank {
                    break;
                }
            }
        }
        offset = line_end;
    }
    start.map(|s| (s, end))
}

/// Replaces (or inserts, or with `rendered == None` removes) one top-level key in front-matter
/// YAML, leaving every other byte as it was. `rendered` is the key's full YAML (`key: value\n`).
/// A new key goes after the closest preceding key of [`CANONICAL_KEYS`] that is present.
pub fn set_key(yaml: &str, key: &str, rendered: Option<&str>) -> String {
    let mut out = String::with_capacity(yaml.len() + 64);
    if let Some((start, end)) = key_block(yaml, key) {
        out.push_str(&yaml[..start]);
        if let Some(r) = rendered {
            out.push_str(r);
        }
        out.push_str(&yaml[end..]);
        return out;
    }
    let Some(r) = rendered else {
        return yaml.to_string();
    };
    let mut base = yaml.to_string();
    if !base.is_empty() && !base.ends_with('\n') {
        base.push('\n');
    }
    let pos = CANONICAL_KEYS.iter().position(|k| *k == key);
    let insert_at = pos.and_then(|p| {
        CANONICAL_KEYS[..p]
            .iter()
            .rev()
            .find_map(|prev| key_block(&base, prev).map(|(_, end)| end))
    });
    let insert_at = match (pos, insert_at) {
        (_, Some(at)) => at,
        // A canonical key with no predecessor present goes first; an unknown key goes last.
        (Some(_), None) if CANONICAL_KEYS.iter().any(|k| key_block(&base, k).is_some()) => {
            first_key_offset(&base).unwrap_or(base.len())
        }
        _ => base.len(),
    };
    out.push_str(&base[..insert_at]);
    out.push_str(r);
    out.push_str(&base[insert_at..]);
    out
}

fn first_key_offset(yaml: &str) -> Option<usize> {
    let mut offset = 0;
    for line in yaml.split_inclusive('\n') {
        if top_level_key(line).is_some() {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_the_body_byte_for_byte() {
        let text = "---\ntitle: A\n---\n\n# Body\r\nline  \n";
        let doc = Document::split(text).unwrap();
        assert_eq!(doc.front.as_deref(), Some("title: A\n"));
        assert_eq!(doc.body, "\n# Body\r\nline  \n");
        assert_eq!(doc.join(), text);
    }

    /// See: issue 14, item 14. Every delimiter form reads as front matter and joins back to
    /// the same bytes.
    #[test]
    fn delimiter_forms_round_trip() {
        for text in [
            "\u{feff}---\ntitle: A\n---\nbody\n",
            "--- \ntitle: A\n---\t\nbody\n",
            "---\r\ntitle: A\r\n---\r\nbody\r\n",
            "---\ntitle: A\n...\nbody\n",
            "---\ntitle: A\n---",
        ] {
            let doc = Document::split(text).unwrap();
            assert_eq!(
                doc.front.as_deref().map(str::trim),
                Some("title: A"),
                "{text:?}"
            );
            assert_eq!(doc.join(), text);
        }
        assert_eq!(Document::split("---x\ntitle: A\n").unwrap().front, None);
    }

    #[test]
    fn unterminated_front_matter_is_an_error() {
        assert!(Document::split("---\ntitle: A\nbody").is_err());
    }

    #[test]
    fn yaml_errors_carry_the_file_line() {
        let err = parse_meta("title: A\nkind: [unclosed\n").unwrap_err();
        assert!(err.line >= 3, "{err:?}");
    }

    #[test]
    fn wrong_values_are_problems_with_lines() {
        let (meta, problems) =
            parse_meta("title: A\nkind: decison\nimportance: 1.5\ndecay: 3x\n").unwrap();
        assert_eq!(meta.title.as_deref(), Some("A"));
        let lines: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert_eq!(lines, vec![("kind", 3), ("importance", 4), ("decay", 5)]);
    }

    #[test]
    fn set_key_touches_only_its_lines() {
        let yaml = "# keep me\ntitle: A   # comment\naliases:\n- x\n- y\nweird:   {a: 1}\n";
        let out = set_key(yaml, "aliases", Some("aliases: [z]\n"));
        assert_eq!(
            out,
            "# keep me\ntitle: A   # comment\naliases: [z]\nweird:   {a: 1}\n"
        );
        let out = set_key(yaml, "kind", Some("kind: fact\n"));
        assert_eq!(
            out,
            "# keep me\ntitle: A   # comment\nkind: fact\naliases:\n- x\n- y\nweird:   {a: 1}\n"
        );
        let out = set_key(yaml, "weird", None);
        assert_eq!(out, "# keep me\ntitle: A   # comment\naliases:\n- x\n- y\n");
    }

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        assert_eq!(yaml_scalar("search index"), "search index");
        assert_eq!(yaml_scalar("yes"), "\"yes\"");
        assert_eq!(yaml_scalar("1.5"), "\"1.5\"");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(
            yaml_flow_list(&["a, b".into(), "c".into()]),
            "[\"a, b\", c]"
        );
    }

    #[test]
    fn half_lives() {
        assert_eq!(parse_half_life("30d"), Ok(Some(30.0)));
        assert_eq!(parse_half_life("6w"), Ok(Some(42.0)));
        assert_eq!(parse_half_life("1y"), Ok(Some(365.0)));
        assert_eq!(parse_half_life("never"), Ok(None));
        assert!(parse_half_life("0d").is_err());
        assert!(parse_half_life("soon").is_err());
        // See: issue 7 (a multi-byte last character panicked every command).
        assert!(parse_half_life("30é").is_err());
        assert!(parse_half_life("é").is_err());
        assert!(parse_half_life("").is_err());
        assert!(parse_half_life("１０d").is_err());
        assert!(parse_half_life("1e400d").is_err());
        assert!(parse_half_life("NaNd").is_err());
    }
}
