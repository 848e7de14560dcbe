use super::*;

#[test]
fn names_are_lowercase_and_match_serde() {
    for t in [
        Trigger::Schedule,
        Trigger::Request,
        Trigger::Event,
        Trigger::Overflow,
        Trigger::Startup,
        Trigger::Poll,
    ] {
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            format!("\"{}\"", t.as_str())
        );
    }
}
