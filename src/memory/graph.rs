//! `graph`: the entries of a subtree and the edges between them (relations, body links,
//! supersession), as data and as a Mermaid or Graphviz diagram, so that a reviewer can look at
//! a change to the memory instead of reading it (Mermaid renders in GitHub pull requests).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::Memory;
use crate::error::Result;
use crate::index::SearchIndex;
use crate::tree;

/// A diagram format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphFormat {
    /// A Mermaid `flowchart` (GitHub renders it in markdown).
    Mermaid,
    /// A Graphviz `digraph`.
    Dot,
}

/// One entry in a graph.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GraphNode {
    /// Entry id.
    pub id: String,
    /// Title; empty for a link target that does not exist.
    pub title: String,
    /// `active`, `superseded`, `archived`, `disputed`, or `missing` for a dangling target.
    pub status: String,
}

/// One edge: a relation (its type), a body link (`see-also`), or `superseded-by`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct GraphEdge {
    /// Source id.
    pub from: String,
    /// Target id.
    pub to: String,
    /// `depends-on`, `part-of`, `follows`, `refines`, `implements`, `contradicts`,
    /// `see-also` or `superseded-by`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// What `graph` returns (`memtree.graph/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct GraphReport {
    /// Always `memtree.graph/v1`.
    pub schema: &'static str,
    /// The subtree (empty: the whole tree).
    pub prefix: String,
    /// Entries under the prefix, then the targets of their edges outside it, by id.
    pub nodes: Vec<GraphNode>,
    /// Edges from entries under the prefix, sorted.
    pub edges: Vec<GraphEdge>,
    /// The diagram in the format asked for.
    pub format: GraphFormat,
    /// The diagram text.
    pub text: String,
}

impl Memory {
    /// The graph of the entries under `prefix` (all when empty): every relation, body link and
    /// supersession from them, with the entries they point to, rendered as `format`.
    ///
    /// # Errors
    /// An invalid prefix; cache failures.
    pub fn graph(&self, prefix: &str, format: GraphFormat) -> Result<GraphReport> {
        let prefix = tree::normalize_id(prefix);
        tree::validate_prefix(&prefix)?;
        let (index, _) = SearchIndex::open_synced(&self.tree, None, self.freshness())?;
        let all = index.all();
        let by_id: BTreeMap<&str, _> = all.iter().map(|m| (m.id.as_str(), m)).collect();
        let within =
            |id: &str| prefix.is_empty() || id == prefix || id.starts_with(&format!("{prefix}/"));
        let mut nodes: BTreeMap<String, GraphNode> = BTreeMap::new();
        let mut edges: BTreeSet<GraphEdge> = BTreeSet::new();
        let node = |id: &str| match by_id.get(id) {
            Some(m) => GraphNode {
                id: id.to_string(),
                title: m.title.clone(),
                status: m.status.clone(),
            },
            None => GraphNode {
                id: id.to_string(),
                title: String::new(),
                status: "missing".into(),
            },
        };
        for m in all.iter().filter(|m| within(&m.id)) {
            nodes.insert(m.id.clone(), node(&m.id));
            let supersession = m
                .superseded_by
                .iter()
                .map(|to| (to.as_str(), "superseded-by"));
            let relations = m.edges.iter().map(|e| (e.to.as_str(), e.kind.as_str()));
            for (to, kind) in relations.chain(supersession) {
                edges.insert(GraphEdge {
                    from: m.id.clone(),
                    to: to.to_string(),
                    kind: kind.to_string(),
                });
            }
        }
        for e in &edges {
            if !nodes.contains_key(&e.to) {
                nodes.insert(e.to.clone(), node(&e.to));
            }
        }
        let nodes: Vec<GraphNode> = nodes.into_values().collect();
        let edges: Vec<GraphEdge> = edges.into_iter().collect();
        let text = match format {
            GraphFormat::Mermaid => mermaid(&nodes, &edges),
            GraphFormat::Dot => dot(&nodes, &edges),
        };
        Ok(GraphReport {
            schema: "memtree.graph/v1",
            prefix,
            nodes,
            edges,
            format,
            text,
        })
    }
}

/// Text for a quoted label in either format: quotes and angle brackets replaced, so a title
/// cannot break out of its label.
fn label(s: &str) -> String {
    s.replace('"', "'").replace(['<', '>'], " ")
}

fn mermaid(nodes: &[GraphNode], edges: &[GraphEdge]) -> String {
    let key: BTreeMap<&str, String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), format!("n{i}")))
        .collect();
    let mut s = String::from("flowchart LR\n");
    for n in nodes {
        let text = if n.title.is_empty() {
            format!("{} (missing)", n.id)
        } else {
            format!("{}<br/>{}", label(&n.title), n.id)
        };
        let class = match n.status.as_str() {
            "superseded" | "archived" | "missing" => format!(":::{}", n.status),
            _ => String::new(),
        };
        let _ = writeln!(s, "  {}[\"{text}\"]{class}", key[n.id.as_str()]);
    }
    for e in edges {
        let arrow = if e.kind == "superseded-by" {
            "-.->"
        } else {
            "-->"
        };
        let _ = writeln!(
            s,
            "  {} {arrow}|{}| {}",
            key[e.from.as_str()],
            e.kind,
            key[e.to.as_str()]
        );
    }
    s.push_str("  classDef superseded stroke-dasharray: 5 5,color:#888\n");
    s.push_str("  classDef archived color:#888\n");
    s.push_str("  classDef missing stroke:#c00,color:#c00\n");
    s
}

fn dot(nodes: &[GraphNode], edges: &[GraphEdge]) -> String {
    let mut s = String::from("digraph memtree {\n  rankdir=LR;\n  node [shape=box];\n");
    for n in nodes {
        let style = match n.status.as_str() {
            "superseded" | "archived" => ", style=dashed, fontcolor=gray40",
            "missing" => ", color=red, fontcolor=red",
            _ => "",
        };
        let text = if n.title.is_empty() {
            format!("{}\\n(missing)", n.id)
        } else {
            format!("{}\\n{}", label(&n.title), n.id)
        };
        let _ = writeln!(s, "  \"{}\" [label=\"{text}\"{style}];", n.id);
    }
    for e in edges {
        let style = if e.kind == "superseded-by" {
            ", style=dashed"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  \"{}\" -> \"{}\" [label=\"{}\"{style}];",
            e.from, e.to, e.kind
        );
    }
    s.push_str("}\n");
    s
}
