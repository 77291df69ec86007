//! Front-matter round trip (proptest): what memtree writes reads back the same, the body is
//! kept byte for byte, and changing one key leaves every other line as it was.

use memtree::entry::{Document, Meta, parse_meta, render_key, render_meta, set_key};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    // Printable text including YAML's special characters, quotes, unicode and leading symbols.
    proptest::string::string_regex("[a-zA-Z0-9 _.,:;#&*!|>'\"%@`{}\\[\\]?/\\\\é中-]{1,24}").unwrap()
}

fn meta() -> impl Strategy<Value = Meta> {
    (
        text(),
        proptest::option::of(text()),
        proptest::collection::vec(text(), 0..4),
        proptest::collection::vec(text(), 0..3),
        proptest::option::of(0u32..=100),
        proptest::option::of(text()),
    )
        .prop_map(|(title, summary, aliases, tags, importance, why)| Meta {
            title: Some(title),
            kind: Some("fact".into()),
            summary,
            aliases,
            tags,
            importance: importance.map(|i| f64::from(i) / 100.0),
            why,
            ..Meta::default()
        })
}

fn body() -> impl Strategy<Value = String> {
    proptest::string::string_regex("(\n|\r\n|---\n|[ -~]|é){0,80}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn written_front_matter_reads_back_equal(m in meta()) {
        let yaml = render_meta(&m);
        let (back, problems) = parse_meta(&yaml).map_err(|e| TestCaseError::fail(format!("{e:?}\n{yaml}")))?;
        prop_assert!(problems.is_empty(), "{problems:?}\n{yaml}");
        prop_assert_eq!(back, m);
    }

    #[test]
    fn the_body_is_kept_byte_for_byte(m in meta(), b in body()) {
        let doc = Document::new(Some(render_meta(&m)), b.clone(), "\n");
        let text = doc.join();
        let split = Document::split(&text).unwrap();
        prop_assert_eq!(&split.body, &b);
        prop_assert_eq!(split.join(), text);
    }

    #[test]
    fn setting_one_key_keeps_every_other_line(m in meta(), new_title in text(), imp in 0u32..=100) {
        let yaml = format!("# a comment\n{}custom_key: {{keep: me}}\n", render_meta(&m));
        let mut changed = m.clone();
        changed.importance = Some(f64::from(imp) / 100.0);
        changed.title = Some(new_title);
        let mut out = set_key(&yaml, "importance", render_key(&changed, "importance").as_deref());
        out = set_key(&out, "title", render_key(&changed, "title").as_deref());
        let (back, _) = parse_meta(&out).map_err(|e| TestCaseError::fail(format!("{e:?}\n{out}")))?;
        prop_assert_eq!(back.importance, changed.importance);
        prop_assert_eq!(back.title, changed.title);
        prop_assert_eq!(back.aliases, m.aliases);
        let untouched = |s: &str| s.lines().filter(|l| !l.starts_with("importance:") && !l.starts_with("title:")).map(str::to_string).collect::<Vec<_>>();
        prop_assert_eq!(untouched(&out), untouched(&yaml));
    }
}
