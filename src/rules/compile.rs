//! Rule and ignore specs compiled into matchers, every mistake an error naming the rule, the
//! key and the fix.

use super::*;

/// An error about one rule: its id, the key at fault, the problem and the fix.
pub(super) fn rule_error(id: &str, key: &str, problem: &str, fix: &str) -> String {
    format!("rule {id:?}: {key}: {problem}; {fix}")
}

pub(super) fn compile_fields(
    id: &str,
    key: &str,
    fields: &BTreeMap<String, String>,
) -> Result<Vec<(String, Glob)>, String> {
    fields
        .iter()
        .map(|(name, glob)| {
            Glob::new(glob).map(|g| (name.clone(), g)).map_err(|e| {
                rule_error(
                    id,
                    &format!("{key}.{name}"),
                    &format!("bad glob {glob:?} ({e})"),
                    "write a shell glob: * ? [abc] {a,b}, ! in front to negate",
                )
            })
        })
        .collect()
}

pub(super) fn compile_globs(id: &str, key: &str, globs: &[String]) -> Result<AnyGlob, String> {
    AnyGlob::new(globs).map_err(|(glob, e)| {
        rule_error(
            id,
            key,
            &format!("bad glob {glob:?} ({e})"),
            "write a shell glob: * ? [abc] {a,b}, ! in front to negate",
        )
    })
}

/// Checks one rule and compiles it.
pub(super) fn compile(spec: &RuleSpec) -> Result<Compiled, String> {
    let id = spec.id.as_str();
    let well_formed = id.split_once('.').is_some_and(|(a, w)| {
        !a.is_empty()
            && !w.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    });
    if !well_formed {
        return Err(rule_error(
            id,
            "id",
            "not of the form <area>.<what>",
            "use lowercase letters, digits, '-' and '_' around one or more dots, e.g. \"suid.unowned\"",
        ));
    }
    if spec.why.trim().is_empty() {
        return Err(rule_error(
            id,
            "why",
            "empty",
            "say in one line why the change matters this much",
        ));
    }
    let collector = Glob::new(&spec.collector).map_err(|e| {
        rule_error(
            id,
            "collector",
            &format!("bad glob {:?} ({e})", spec.collector),
            "name a collector (dawgctl collectors lists them) or write a glob",
        )
    })?;
    // A watch tree's collector (`watch:PATH`) exists only when configured: any glob that can
    // name one is accepted.
    let names_a_watch = spec.collector.starts_with(collectors::watch::PREFIX)
        || collector.is_match(&format!("{}/", collectors::watch::PREFIX));
    if !names_a_watch
        && !collectors::COLLECTORS
            .iter()
            .any(|c| collector.is_match(c.name()))
    {
        return Err(rule_error(
            id,
            "collector",
            &format!("{:?} matches no collector", spec.collector),
            "name one that `dawgctl collectors` lists",
        ));
    }
    for (key, list) in [
        ("missing", &spec.missing),
        ("changed", &spec.changed),
        ("grew", &spec.grew),
    ] {
        if list.iter().any(|f| f.is_empty()) {
            return Err(rule_error(
                id,
                key,
                "an empty field name",
                "list field names, e.g. [\"perm\"]",
            ));
        }
    }
    Ok(Compiled {
        kinds: if spec.kind.is_empty() {
            7
        } else {
            spec.kind.iter().map(|k| kind_bit(*k)).fold(0, |a, b| a | b)
        },
        collector,
        key: compile_globs(id, "key", &spec.key)?,
        item: compile_fields(id, "item", &spec.item)?,
        was: compile_fields(id, "was", &spec.was)?,
        has: compile_fields(id, "has", &spec.has)?,
        lost: compile_fields(id, "lost", &spec.lost)?,
        spec: spec.clone(),
    })
}

pub(super) fn compile_ignore(ig: &IgnoreSpec) -> Result<CompiledIgnore, String> {
    let at = format!("[[ignore]] collector = {:?}", ig.collector);
    let bad = |what: &str, glob: &str, e: String| {
        format!(
            "{at}: {what}: bad glob {glob:?} ({e}); write a shell glob: * ? [abc] {{a,b}}, ! in \
             front to negate"
        )
    };
    let collector = Glob::new(&ig.collector).map_err(|e| bad("collector", &ig.collector, e))?;
    // A watch tree's collector (`watch:PATH`) exists only when configured: any glob that can
    // name one is accepted.
    let names_a_watch = ig.collector.starts_with(collectors::watch::PREFIX)
        || collector.is_match(&format!("{}/", collectors::watch::PREFIX));
    if !names_a_watch
        && !collectors::COLLECTORS
            .iter()
            .any(|c| collector.is_match(c.name()))
    {
        return Err(format!(
            "{at}: collector matches no collector; name one that `dawgctl collectors` lists"
        ));
    }
    let key = AnyGlob::new(&ig.key).map_err(|(k, e)| bad("key", &k, e))?;
    Ok(CompiledIgnore {
        collector,
        key,
        fields: ig.fields.iter().cloned().collect(),
    })
}
