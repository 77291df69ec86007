//! Session transcripts as turns of text: what `memtree curate --transcript` reads.
//!
//! Formats (recognised by content, not by name, and parsed defensively: none of them is a
//! documented interface, so a line that does not parse or has an unknown shape is skipped):
//! - **Claude Code** JSONL (`~/.claude/projects/*/SESSION.jsonl`): lines with `type` `user` or
//!   `assistant` and `message.content` either a string or a list of blocks; only `text` blocks
//!   are read (`tool_use`, `tool_result`, `thinking` and images are not what a person said).
//!   Cursor's agent transcripts (`role` and `message.content` blocks) read the same way.
//! - **Codex** rollout JSONL (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`): `session_meta`
//!   (the session id) and `response_item` lines whose payload is a `message` with
//!   `input_text` / `output_text` blocks; the older form without the `payload` envelope too.
//! - Anything else is markdown or plain text, one turn.
//!
//! Text an agent harness injects (`<system-reminder>`, `<environment_context>`,
//! `<user_instructions>`, slash-command echoes, ...) is removed: it is not the session's
//! content. `<private>` text is removed over the whole session ([`crate::private`]) before a
//! [`Transcript`] is returned.

use serde_json::Value;

/// One turn of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// `user`, `assistant`, or `text` for a markdown or plain-text source.
    pub role: String,
    /// The turn's text.
    pub text: String,
}

/// A session read from a transcript or a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// `claude-code`, `codex`, or `markdown`.
    pub format: &'static str,
    /// The session id, when the transcript names one.
    pub session: Option<String>,
    /// The turns, in order.
    pub turns: Vec<Turn>,
}

/// Tags whose whole element an agent harness injects into a user turn.
const INJECTED_TAGS: &[&str] = &[
    "system-reminder",
    "environment_context",
    "user_instructions",
    // Codex sends AGENTS.md to the model as a user message, inside `<INSTRUCTIONS>`.
    "instructions",
    "command-name",
    "command-message",
    "command-args",
    "local-command-stdout",
    "local-command-stderr",
    "user-prompt-submit-hook",
];

/// Removes the elements of [`INJECTED_TAGS`] (an unclosed one to the end of the text).
pub fn strip_injected(text: &str) -> String {
    let mut out = text.to_string();
    for tag in INJECTED_TAGS {
        out = strip_element(&out, tag);
    }
    out
}

/// Removes every `<tag ...>…</tag>` element (case-insensitive; an unclosed one runs to the end
/// of the text, so that nothing after an opening tag is ever kept by mistake).
pub fn strip_element(text: &str, tag: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(i) = lower[at..].find(&open) {
        let start = at + i;
        // `<tag>` or `<tag attr…>`, not `<tagged>`.
        let next = lower[start + open.len()..].chars().next();
        if !matches!(next, Some('>' | ' ' | '\t' | '\n' | '\r' | '/')) {
            out.push_str(&text[at..start + open.len()]);
            at = start + open.len();
            continue;
        }
        out.push_str(&text[at..start]);
        match lower[start..].find(&close) {
            Some(j) => at = start + j + close.len(),
            None => return out,
        }
    }
    out.push_str(&text[at..]);
    out
}

/// The text blocks of a message `content`: a string, or a list of blocks of which those with
/// `type` `text`, `input_text` or `output_text` are read.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| {
                matches!(
                    b.get("type").and_then(Value::as_str),
                    Some("text" | "input_text" | "output_text")
                )
            })
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n\n"),
        _ => String::new(),
    }
}

fn turn(role: &str, content: &Value) -> Option<Turn> {
    if !matches!(role, "user" | "assistant") {
        return None;
    }
    let text = strip_injected(&content_text(content));
    let text = text.trim();
    (!text.is_empty()).then(|| Turn {
        role: role.to_string(),
        text: text.to_string(),
    })
}

/// One JSONL line as a turn, and the session id it names, for either agent's format.
fn parse_line(v: &Value) -> (Option<Turn>, Option<String>, Option<&'static str>) {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    // Codex, with the envelope.
    if let Some(payload) = v.get("payload") {
        return match kind {
            "session_meta" => (None, s(payload, "id"), Some("codex")),
            "response_item" if s(payload, "type").as_deref() == Some("message") => {
                let role = s(payload, "role").unwrap_or_default();
                (
                    turn(&role, payload.get("content").unwrap_or(&Value::Null)),
                    None,
                    Some("codex"),
                )
            }
            _ => (None, None, Some("codex")),
        };
    }
    // Codex, older: the items themselves.
    if kind == "message" && v.get("role").is_some() && v.get("message").is_none() {
        let role = s(v, "role").unwrap_or_default();
        return (
            turn(&role, v.get("content").unwrap_or(&Value::Null)),
            None,
            Some("codex"),
        );
    }
    // Claude Code (and Cursor's transcripts): `message.content`, the role from `type`,
    // `role` or `message.role`.
    let session = s(v, "sessionId").or_else(|| s(v, "session_id"));
    let Some(message) = v.get("message") else {
        return (None, session, None);
    };
    if v.get("isMeta").and_then(Value::as_bool) == Some(true) {
        return (None, session, Some("claude-code"));
    }
    let role = s(message, "role")
        .or_else(|| s(v, "role"))
        .or_else(|| Some(kind.to_string()).filter(|k| !k.is_empty()))
        .unwrap_or_default();
    let content = match message {
        Value::String(_) => message,
        _ => message.get("content").unwrap_or(&Value::Null),
    };
    (turn(&role, content), session, Some("claude-code"))
}

/// Reads `text` (a whole transcript file or a text) as a session.
///
/// JSONL is recognised when most non-empty lines are JSON objects; lines that are not, or
/// whose shape is unknown, are skipped. Anything else is one `text` turn.
pub fn parse(text: &str) -> Transcript {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let objects: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect();
    if lines.is_empty() || objects.len() * 2 < lines.len() {
        return without_private(Transcript {
            format: "markdown",
            session: None,
            turns: vec![Turn {
                role: "text".into(),
                text: strip_injected(text),
            }],
        });
    }
    let mut out = Transcript {
        format: "claude-code",
        session: None,
        turns: Vec::new(),
    };
    let mut codex = 0usize;
    for v in &objects {
        let (turn, session, format) = parse_line(v);
        if format == Some("codex") {
            codex += 1;
        }
        if out.session.is_none() {
            out.session = session;
        }
        out.turns.extend(turn);
    }
    if codex * 2 > objects.len() {
        out.format = "codex";
    }
    without_private(out)
}

/// The session with its `<private>` text removed over all its turns at once
/// ([`crate::private::redact_all`]: an element may open in one message and close in a later
/// one), and the turns left empty dropped. Nothing downstream (candidates, the plan, an LLM
/// prompt) ever sees the private text.
fn without_private(mut t: Transcript) -> Transcript {
    let texts: Vec<&str> = t.turns.iter().map(|turn| turn.text.as_str()).collect();
    let kept = crate::private::redact_all(&texts);
    for (turn, text) in t.turns.iter_mut().zip(kept) {
        turn.text = text.trim().to_string();
    }
    t.turns.retain(|turn| !turn.text.is_empty());
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (role, text) of each turn.
    fn pairs(t: &Transcript) -> Vec<(&str, &str)> {
        t.turns
            .iter()
            .map(|t| (t.role.as_str(), t.text.as_str()))
            .collect()
    }

    #[test]
    fn claude_code_lines_give_text_turns_only() {
        let jsonl = [
            r#"{"type":"summary","summary":"x","leafUuid":"1"}"#,
            r#"{"type":"user","sessionId":"s-1","message":{"role":"user","content":"remember: we use pnpm"}}"#,
            r#"{"type":"assistant","sessionId":"s-1","message":{"role":"assistant","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Noted."},{"type":"tool_use","id":"t","name":"Bash","input":{"command":"ls"}}]}}"#,
            r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"we always lie"}]}}"#,
            r#"{"type":"user","isMeta":true,"message":{"role":"user","content":"Caveat: local commands"}}"#,
            r#"{"type":"user","message":{"role":"user","content":"<command-name>/clear</command-name>"}}"#,
            "not json at all",
        ]
        .join("\n");
        let t = parse(&jsonl);
        assert_eq!(t.format, "claude-code");
        assert_eq!(t.session.as_deref(), Some("s-1"));
        assert_eq!(
            pairs(&t),
            [("user", "remember: we use pnpm"), ("assistant", "Noted.")]
        );
    }

    #[test]
    fn cursor_transcripts_take_the_role_from_the_line() {
        let jsonl = [
            r#"{"role":"user","message":{"content":[{"type":"text","text":"Remember: flags live in flags.toml"}]}}"#,
            r#"{"role":"assistant","message":{"content":[{"type":"text","text":"Noted."},{"type":"tool_use","name":"read_file","input":{}}]}}"#,
        ]
        .join("\n");
        let t = parse(&jsonl);
        assert_eq!(
            pairs(&t),
            [
                ("user", "Remember: flags live in flags.toml"),
                ("assistant", "Noted.")
            ]
        );
    }

    #[test]
    fn codex_rollouts_with_and_without_the_envelope() {
        let jsonl = [
            r#"{"timestamp":"t","type":"session_meta","payload":{"id":"c-9","cwd":"/x"}}"#,
            r#"{"timestamp":"t","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context>cwd</environment_context>"}]}}"#,
            r#"{"timestamp":"t","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"<INSTRUCTIONS>
We always run cargo test.
</INSTRUCTIONS>"}]}}"#,
            r#"{"timestamp":"t","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"Decision: ship on Fridays"}]}}"#,
            r#"{"timestamp":"t","type":"response_item","payload":{"type":"function_call","name":"shell","arguments":"{}"}}"#,
            r#"{"timestamp":"t","type":"event_msg","payload":{"type":"user_message","message":"Decision: ship on Fridays"}}"#,
            r#"{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Done."}]}"#,
        ]
        .join("\n");
        let t = parse(&jsonl);
        assert_eq!(t.format, "codex");
        assert_eq!(t.session.as_deref(), Some("c-9"));
        let texts: Vec<&str> = t.turns.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["Decision: ship on Fridays", "Done."]);
    }

    #[test]
    fn markdown_is_one_turn_and_elements_are_removed_whole() {
        let t = parse("# Notes\n\nWe use pnpm.\n");
        assert_eq!(t.format, "markdown");
        assert_eq!(t.turns.len(), 1);
        assert_eq!(
            strip_element(
                "a <private>b</private> c <privateer> <PRIVATE x=1>d",
                "private"
            ),
            "a  c <privateer> "
        );
    }
}
