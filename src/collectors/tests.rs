mod hostile_text;
mod rules_facts;

use super::*;

#[test]
fn names_are_unique_snake_case() {
    let mut seen = std::collections::HashSet::new();
    for c in COLLECTORS {
        let n = c.name();
        assert!(
            !n.is_empty()
                && n.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
            "{n} is not snake_case"
        );
        assert!(seen.insert(n), "{n} registered twice");
        assert!(!c.description().is_empty(), "{n} has no description");
    }
}

#[test]
fn select_rejects_unknown_names_and_keeps_registry_order() {
    let err = Registry::default()
        .select(&["no_such".into()])
        .err()
        .unwrap();
    assert!(
        err.contains("no_such") && err.contains("list_suids"),
        "{err}"
    );
    let picked = Registry::default()
        .select(&["list_suids".into(), "check_boot".into()])
        .unwrap();
    let names: Vec<_> = picked.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["check_boot", "list_suids"]);
    let default = Registry::default().select(&[]).unwrap();
    assert!(default.iter().all(|c| c.default_enabled()));
}
