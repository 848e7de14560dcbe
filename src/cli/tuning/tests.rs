use super::*;

#[test]
fn readme_severity_table_is_generated_from_the_rules_file() {
    let readme = include_str!("../../../README.md");
    let (begin, end) = ("<!-- rules-table:begin -->\n", "<!-- rules-table:end -->");
    let expected = readme_table(&Rules::builtin());
    let found = readme
        .split_once(begin)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(table, _)| table);
    assert!(
        found == Some(expected.as_str()),
        "README.md's severity table differs from dist/config/rules.toml; paste this \
         between {begin:?} and {end:?}:\n{expected}"
    );
}

#[test]
fn rules_table_lists_every_rule_in_order() {
    let rules = Rules::builtin();
    let text = render_rules(&rules, Format::Text);
    let ids: Vec<&str> = rules.specs().map(|r| r.id.as_str()).collect();
    let mut at = 0;
    for id in &ids {
        let pos = text[at..]
            .find(&format!("{id} "))
            .unwrap_or_else(|| panic!("{id}"));
        at += pos;
    }
    assert!(
        text.contains("if kind [added]; item {package=none}"),
        "{text}"
    );
    let json: Vec<RuleSpec> = serde_json::from_str(&render_rules(&rules, Format::Json)).unwrap();
    assert_eq!(json.len(), ids.len());
    assert_eq!(json[0].id, ids[0]);
}

#[test]
fn literal_globs_match_only_their_key() {
    let g = |k: &str| {
        globset::GlobBuilder::new(&literal_glob(k))
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .unwrap()
            .compile_matcher()
    };
    for key in ["/etc/a[1]*?{x,y}", "!neg", "tcp6 [::1]:631", "back\\slash"] {
        assert!(g(key).is_match(key), "{key}");
    }
    assert!(!g("/etc/a*").is_match("/etc/ab"));
    assert_eq!(toml_str("a\"b\u{1b}"), "\"a\\\"b\\u001B\"");
}
