//! The markdown body, read with pulldown-cmark: links to other entries, the first heading, and
//! plain text for the index.
//!
//! Two link forms are edges of the link graph: wiki links `[[domain/topic/entry]]` and ordinary
//! relative markdown links to `.md` files (`[x](../storage/search-index.md)`). Links inside code
//! spans and code blocks are not links. Every link carries the byte range of its target in the
//! body, so `mv` can rewrite exactly that text and nothing else.

use std::ops::Range;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};

use crate::tree::id_of_rel;

/// A link from a body to another entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The target entry id.
    pub target: String,
    /// Byte range of the target text in the body (the id of a wiki link, the URL of a link).
    pub range: Range<usize>,
    /// `true` for `[[id]]`, `false` for a relative markdown link.
    pub wiki: bool,
}

fn options() -> Options {
    Options::ENABLE_WIKILINKS | Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

/// Every link to an entry in `body`. `file_rel` is the path of the file that holds the body,
/// relative to the root (`a/b/c.md`), against which relative links are resolved.
pub fn links(body: &str, file_rel: &str) -> Vec<Link> {
    let folder = file_rel.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out = Vec::new();
    for (event, range) in Parser::new_ext(body, options()).into_offset_iter() {
        let Event::Start(Tag::Link {
            link_type,
            dest_url,
            ..
        }) = event
        else {
            continue;
        };
        let source = &body[range.clone()];
        match link_type {
            LinkType::WikiLink { .. } => {
                let target = crate::tree::normalize_id(&dest_url);
                if let Some(at) = source.find(dest_url.as_ref()) {
                    let start = range.start + at;
                    out.push(Link {
                        target,
                        range: start..start + dest_url.len(),
                        wiki: true,
                    });
                }
            }
            LinkType::Inline => {
                let Some(target) = resolve_relative(folder, &dest_url) else {
                    continue;
                };
                if let Some(at) = source.rfind(dest_url.as_ref()) {
                    let start = range.start + at;
                    out.push(Link {
                        target,
                        range: start..start + dest_url.len(),
                        wiki: false,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Resolves a relative markdown link from `folder` to an entry id, or `None` when it does not
/// point at a `.md` file inside the tree.
pub fn resolve_relative(folder: &str, url: &str) -> Option<String> {
    if url.contains("://") || url.starts_with(['#', '/']) || url.starts_with("mailto:") {
        return None;
    }
    let path = url.split(['#', '?']).next()?;
    if !path.ends_with(".md") {
        return None;
    }
    let mut parts: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    id_of_rel(&parts.join("/"))
}

/// The relative URL from the folder of `from_file_rel` to the file of entry `to_id`.
pub fn relative_url(from_file_rel: &str, to_file_rel: &str) -> String {
    let from: Vec<&str> = from_file_rel.split('/').collect();
    let from = &from[..from.len().saturating_sub(1)];
    let to: Vec<&str> = to_file_rel.split('/').collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

/// The text of the first heading, if any.
pub fn first_heading(body: &str) -> Option<String> {
    let mut inside = false;
    let mut text = String::new();
    for event in Parser::new_ext(body, options()) {
        match event {
            Event::Start(Tag::Heading { .. }) => inside = true,
            Event::End(TagEnd::Heading(_)) if inside => {
                let t = text.trim().to_string();
                return (!t.is_empty()).then_some(t);
            }
            Event::Text(t) | Event::Code(t) if inside => text.push_str(&t),
            _ => {}
        }
    }
    None
}

/// A heading of a markdown text and where its section lies (`import` splits files by them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heading {
    /// 1 for `#`, 2 for `##`, ...
    pub level: usize,
    /// The heading's text, markup removed.
    pub text: String,
    /// Byte offset where the heading starts.
    pub start: usize,
    /// Byte offset just after the heading (its section's text starts here).
    pub end: usize,
}

/// Every heading of `text` up to `max_level` (`#` is 1), in order; headings inside code blocks
/// are not headings.
pub fn headings(text: &str, max_level: usize) -> Vec<Heading> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize, String)> = None;
    for (event, range) in Parser::new_ext(text, options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                current = Some((level as usize, range.start, String::new()));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, s)) = current.as_mut() {
                    s.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, start, s)) = current.take()
                    && level <= max_level
                {
                    out.push(Heading {
                        level,
                        text: s.trim().to_string(),
                        start,
                        end: range.end,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// The body as plain text (markup removed, code kept), for indexing and snippets.
pub fn plain_text(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    // A wiki link's target is text too (`[[a/b|Shown]]` is found by `a/b`), once: `[[a/b]]`
    // shows its target as its text.
    let mut wiki: Option<String> = None;
    for event in Parser::new_ext(body, options()) {
        match event {
            Event::Text(t) if wiki.as_deref() == Some(t.as_ref()) => {
                wiki = None;
                out.push_str(&t);
            }
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) | Event::DisplayMath(t) => {
                out.push_str(&t)
            }
            Event::Html(t) | Event::InlineHtml(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::End(TagEnd::Link) if wiki.is_some() => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&wiki.take().unwrap_or_default());
                out.push(' ');
            }
            Event::End(_) if !out.ends_with(' ') => {
                out.push(' ');
            }
            Event::Start(Tag::Link {
                dest_url,
                link_type: LinkType::WikiLink { .. },
                ..
            }) => wiki = Some(dest_url.to_string()),
            _ => {}
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_wiki_and_relative_links_but_not_code() {
        let body = "See [[a/b/c]] and [d](../e/f.md#x).\n\n`[[not/a/link]]`\n\n    [[no/t/this]]\n";
        let links = links(body, "a/g/h.md");
        let targets: Vec<_> = links.iter().map(|l| l.target.as_str()).collect();
        assert_eq!(targets, vec!["a/b/c", "a/e/f"]);
        assert_eq!(&body[links[0].range.clone()], "a/b/c");
        assert_eq!(&body[links[1].range.clone()], "../e/f.md#x");
    }

    #[test]
    fn relative_urls_walk_up_and_down() {
        assert_eq!(relative_url("a/b/c.md", "a/d/e.md"), "../d/e.md");
        assert_eq!(relative_url("a/b/c.md", "a/b/e.md"), "e.md");
        assert_eq!(relative_url("a/b/c/d.md", "x/y/z.md"), "../../../x/y/z.md");
        assert_eq!(
            resolve_relative("a/b", "../../x/y/z.md").as_deref(),
            Some("x/y/z")
        );
        assert_eq!(resolve_relative("a", "../../x.md"), None);
    }

    #[test]
    fn heading_and_plain_text() {
        let body = "intro\n\n# The *Title*\n\nSome `code_here` and [[x/y/z]].\n";
        assert_eq!(first_heading(body).as_deref(), Some("The Title"));
        let text = plain_text(body);
        assert!(text.contains("code_here"), "{text}");
        assert!(text.contains("x/y/z"), "{text}");
        // A wiki link's target once, and its shown text when it has one.
        let words = |s: &str| {
            plain_text(s)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(words("See [[a/b/c]] now."), "See a/b/c now.");
        assert_eq!(
            words("See [[a/b/c|the index]] now."),
            "See the index a/b/c now."
        );
    }
}
