//! memtree: a project memory for coding agents, kept as markdown files in `.memory/`.
//!
//! Knowledge lives as one markdown file per entry with YAML front matter
//! (`.memory/domain/topic/[subtopic/]entry.md`). Agents ask through the `memtree` binary
//! (or this library); developers edit the files by hand; git keeps every version.
//!
//! The modules, in the order data flows through them:
//! - [`tree`]: finding the root, ids, the walk, the one safe-path routine every file operation
//!   goes through, atomic writes and the write lock;
//! - [`entry`]: front matter parsed leniently and rewritten surgically (body byte for byte);
//! - [`markdown`]: links, headings and plain text from the body (pulldown-cmark);
//! - [`record`]: one file as the index and the tiers see it;
//! - [`index`]: the derived tantivy index in `.memory/.cache`, kept fresh on every use;
//! - [`retrieve`]: the tiers (path, alias, scope, BM25, semantic, graph), lifecycle weighting,
//!   bundles;
//! - [`semantic`]: static word embeddings (Model2Vec format) for the semantic tier;
//! - [`changeset`]: the planned file changes of one command, validated before any is written;
//! - [`git`]: commits of changesets (under the git index lock), per-entry history following
//!   moves, old versions;
//! - [`memory`]: the [`Memory`] facade every frontend calls;
//! - [`lifecycle`]: decay, promotion, demotion and archiving proposals (pure);
//! - [`usage`]: per-machine usage signals in `.cache` (never in tracked files);
//! - [`merge`]: the field-by-field merge of one entry (the git merge driver);
//! - [`hooks`]: git hooks and the merge driver's registration;
//! - [`secrets`]: secrets and hidden instructions that do not belong in entry text;
//! - [`private`]: `<private>` text, removed over a whole session and never written;
//! - [`layers`]: the project, user and shared trees one query reads, and qualified ids;
//! - [`trust`]: which settings may run programs or reach the network, and `memtree trust`;
//! - [`config`], [`templates`], [`text`], [`error`]: settings, embedded files, string measures,
//!   and the one error type.
//!
//! ```no_run
//! use memtree::{Memory, Query, Tree};
//! let tree = Tree::discover(std::path::Path::new("."))?;
//! let memory = Memory::open(tree, jiff::Timestamp::now())?;
//! let answer = memory.query(&Query { text: "how is the index built?".into(), ..Query::default() })?;
//! for hit in answer.hits {
//!     println!("{} {} {:?}", hit.score, hit.id, hit.matched);
//! }
//! # Ok::<(), memtree::Error>(())
//! ```
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod changeset;
pub mod config;
pub mod curate;
pub mod entry;
pub mod error;
mod failpoint;
pub mod git;
pub mod hooks;
pub mod import;
pub mod index;
pub mod layers;
pub mod lifecycle;
pub mod llm;
pub mod markdown;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod memory;
pub mod merge;
pub mod private;
pub mod progress;
pub mod record;
pub mod retrieve;
pub mod secrets;
pub mod semantic;
pub mod setup;
pub mod templates;
pub mod text;
pub mod tree;
pub mod trust;
pub mod usage;

pub use config::Config;
pub use error::{Error, Result};
pub use memory::{BodyChange, Memory, NewEntry};
pub use retrieve::{Hit, Query, QueryResult};
pub use tree::Tree;
