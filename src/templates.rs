//! Files compiled into the binary from `templates/`: the `init` scaffold and one body template
//! per entry kind (used by `add` when no body is given).

/// `.memory/memtree.yaml` written by `init`.
pub const CONFIG: &str = include_str!("../templates/memtree.yaml");
/// `.memory/.gitignore` written by `init`.
pub const GITIGNORE: &str = include_str!("../templates/gitignore");
/// `.memory/README.md` written by `init`.
pub const README: &str = include_str!("../templates/README.md");

/// The body template of an entry kind (the fact template for unknown kinds).
pub fn body_for(kind: &str) -> &'static str {
    match kind {
        "decision" => include_str!("../templates/kinds/decision.md"),
        "convention" => include_str!("../templates/kinds/convention.md"),
        "procedure" => include_str!("../templates/kinds/procedure.md"),
        "pitfall" => include_str!("../templates/kinds/pitfall.md"),
        "preference" => include_str!("../templates/kinds/preference.md"),
        "reference" => include_str!("../templates/kinds/reference.md"),
        "question" => include_str!("../templates/kinds/question.md"),
        _ => include_str!("../templates/kinds/fact.md"),
    }
}

/// The prompt of tier 5 (`templates/llm/query.md`): `{{question}}`, `{{outline}}` and
/// `{{candidates}}` are filled in. A trusted tree may override it with `.memory/.llm-prompt.md`
/// (see [`crate::trust`]).
pub const LLM_QUERY: &str = include_str!("../templates/llm/query.md");
