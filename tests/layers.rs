//! The layering of `src/`: no module names a module above its layer in [`dawgmon::LAYERS`], and
//! no check under `collectors/` names another check. Read from the source text: every
//! `crate::x` path (in `use` lines and in code) and every `super::` path that leaves the
//! module's own tree, outside comments and test code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every upward edge under `src` as "FILE:LINE: FROM (layer N) names TO (layer M)", and every
/// check that borrows another check's code.
fn violations(src: &Path) -> Vec<String> {
    let layer = |m: &str| dawgmon::LAYERS.iter().position(|l| l.contains(&m));
    let mut out = Vec::new();
    for m in top_modules(src) {
        if layer(&m).is_none() {
            out.push(format!(
                "src/lib.rs: module {m} is in no layer of dawgmon::LAYERS"
            ));
        }
    }
    let checks = submodules(&src.join("collectors"));
    let mut sideways = BTreeSet::new();
    for (file, module) in source_files(src) {
        let shown = file.strip_prefix(src.parent().unwrap()).unwrap().display();
        let from = &module[0];
        for (line, target) in named_paths(&std::fs::read_to_string(&file).unwrap(), &module) {
            let to = &target[0];
            if from != to && layer(from).is_some() && layer(from) == layer(to) {
                sideways.insert((from.clone(), to.clone()));
            }
            if let (Some(a), Some(b)) = (layer(from), layer(to))
                && b > a
            {
                out.push(format!(
                    "{shown}:{line}: {from} (layer {a}) names {to} (layer {b}), above it"
                ));
            }
            if from == "collectors"
                && to == "collectors"
                && module.len() > 1
                && let Some(other) = target.get(1)
                && checks.contains(other)
                && *other != module[1]
            {
                out.push(format!(
                    "{shown}:{line}: check {} borrows check {other}'s code (move it to sources/)",
                    module[1]
                ));
            }
        }
    }
    // Within one layer, modules may name each other one way only: no circle.
    for (a, b) in &sideways {
        if a < b && sideways.contains(&(b.clone(), a.clone())) {
            out.push(format!(
                "{a} and {b} name each other: one must move down a layer"
            ));
        }
    }
    out
}

/// The global collector list and its lookup, which the layers that judge and word changes must
/// not reach for: they receive the engine's `collectors::Registry` (its configured watch trees
/// included) as a parameter.
const GLOBALS: &[&str] = &["COLLECTORS", "by_name"];
const RECEIVERS: &[&str] = &["diff", "rules", "report"];

/// Every place under `src` where a module of [`RECEIVERS`] names one of [`GLOBALS`], as
/// "FILE:LINE: MODULE names collectors::NAME ...".
fn globals_named(src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (file, module) in source_files(src) {
        if !RECEIVERS.contains(&module[0].as_str()) {
            continue;
        }
        let shown = file.strip_prefix(src.parent().unwrap()).unwrap().display();
        for (line, code) in code_lines(&std::fs::read_to_string(&file).unwrap()) {
            for word in code.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                if GLOBALS.contains(&word) {
                    out.push(format!(
                        "{shown}:{line}: {} names collectors::{word}: take a &collectors::Registry \
                         from the caller instead",
                        module[0]
                    ));
                }
            }
        }
    }
    out
}

/// The modules `lib.rs` declares.
fn top_modules(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| {
            l.strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))
        })
        .map(|l| l.trim_end_matches(';').to_string())
        .collect()
}

/// The names of the modules with a file or directory in `dir`.
fn submodules(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect()
}

/// Every library file with its module path (`src/collectors/pam.rs` → collectors, pam),
/// leaving out test files: `tests.rs`, anything under a `tests/` directory, and the files of
/// modules declared under `#[cfg(test)]`.
fn source_files(src: &Path) -> Vec<(PathBuf, Vec<String>)> {
    let mut out = Vec::new();
    let mut todo = vec![src.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(src).unwrap();
            let parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_str().unwrap().trim_end_matches(".rs").to_string())
                .collect();
            if parts[0] == "bin" || parts.iter().any(|p| p == "tests") {
                continue;
            }
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && parts != ["lib"] {
                out.push((path, parts));
            }
        }
    }
    let tests_only: BTreeSet<PathBuf> = out
        .iter()
        .flat_map(|(file, _)| {
            let dir = file.with_extension("");
            test_modules(&std::fs::read_to_string(file).unwrap())
                .into_iter()
                .map(move |m| dir.join(format!("{m}.rs")))
        })
        .collect();
    out.retain(|(file, _)| !tests_only.contains(file));
    out.sort();
    out
}

/// The `mod NAME;` declarations under `#[cfg(test)]`.
fn test_modules(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "#[cfg(test)]")
        .filter_map(|w| {
            let rest = w[1].strip_prefix("pub(crate) ").unwrap_or(w[1]);
            let name = rest
                .strip_prefix("pub ")
                .unwrap_or(rest)
                .strip_prefix("mod ")?;
            Some(name.strip_suffix(';')?.to_string())
        })
        .collect()
}

/// The code of `text` outside comments and `#[cfg(test)]` items, one entry per line (a test
/// item ends at its `;` or at the closing brace at its own indentation).
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut skip: Option<Option<usize>> = None; // Some(None): until `;` or `{`; Some(Some(i)): until `}` at indent i
    for (n, raw) in text.lines().enumerate() {
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        match skip {
            Some(None) if line.starts_with("#[") => continue,
            Some(None) => {
                skip = (line.ends_with('{')).then_some(Some(indent));
                continue;
            }
            Some(Some(i)) => {
                if indent == i && line.starts_with('}') {
                    skip = None;
                }
                continue;
            }
            None => {}
        }
        if line == "#[cfg(test)]" {
            skip = Some(None);
            continue;
        }
        // Doc comments count: an intra-doc link names its target as much as a `use` does.
        if line.starts_with("//") && !line.starts_with("///") && !line.starts_with("//!") {
            continue;
        }
        let code = line.split(" // ").next().unwrap_or(line);
        out.push((n + 1, code.to_string()));
    }
    out
}

/// The crate paths `text` names, as module paths from the crate root (`crate::store::Store` →
/// store, Store; `use crate::{a::b, c}` → both; `super::x` resolved against `module`).
fn named_paths(text: &str, module: &[String]) -> Vec<(usize, Vec<String>)> {
    let lines = code_lines(text);
    let joined: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    let line_of = |pos: usize| lines[joined[..pos].matches('\n').count()].0;
    let mut out = Vec::new();
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|p| {
                p.trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|p| !p.is_empty())
            .collect()
    };
    for (pos, _) in joined.match_indices("crate::") {
        if joined[..pos].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &joined[pos + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut part = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push((line_of(pos), ident(&std::mem::take(&mut part))));
                        continue;
                    }
                    _ => {}
                }
                part.push(c);
            }
            out.push((line_of(pos), ident(&part)));
        } else {
            out.push((line_of(pos), ident(rest)));
        }
    }
    // `super::` climbs one module per use; only a climb to the crate root leaves this tree.
    for (pos, _) in joined.match_indices("super::") {
        if joined[..pos].ends_with("super::")
            || joined[..pos].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = &joined[pos..];
        let ups = rest.matches("super::").count().min(
            rest.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or("")
                .matches("super::")
                .count(),
        );
        let path = ident(rest.trim_start_matches("super::"));
        if ups >= module.len() {
            out.push((line_of(pos), path));
        } else if ups == module.len() - 1 {
            let mut full = module[..module.len() - ups].to_vec();
            full.extend(path);
            out.push((line_of(pos), full));
        }
    }
    out.retain(|(_, p)| !p.is_empty());
    out
}

/// The tree the checks read: `src/`, or `DAWGMON_LAYERS_SRC` (another checkout's, to show that
/// a check fails there).
fn src_dir() -> PathBuf {
    std::env::var_os("DAWGMON_LAYERS_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn no_module_names_a_layer_above_its_own() {
    let src = src_dir();
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "{} upward edges:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn diff_rules_and_report_receive_the_registry() {
    let src = src_dir();
    let found = globals_named(&src);
    assert!(
        found.is_empty(),
        "{} uses of the global registry:\n{}",
        found.len(),
        found.join("\n")
    );
}

/// The registry check itself: a use of either global in code or in a `use` line of diff, rules
/// or report (submodules included) is found; comments, test code and other layers are not read.
#[test]
fn the_registry_check_finds_each_global() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let write = |rel: &str, text: &str| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "lib.rs",
        "pub mod diff;\npub mod report;\npub mod engine;\n",
    );
    write(
        "diff.rs",
        "use crate::collectors::{self, COLLECTORS};\n// collectors::by_name in a comment\n\
         fn f() { collectors::by_name(n) }\n#[cfg(test)]\nmod tests {\n    use crate::collectors::by_name;\n}\n",
    );
    write(
        "report/by_package.rs",
        "fn g() { let n = COLLECTORS.len(); }\n",
    );
    write("engine.rs", "use crate::collectors::COLLECTORS;\n");
    let found = globals_named(&src);
    let tail = ": take a &collectors::Registry from the caller instead";
    let want = [
        format!("src/diff.rs:1: diff names collectors::COLLECTORS{tail}"),
        format!("src/diff.rs:3: diff names collectors::by_name{tail}"),
        format!("src/report/by_package.rs:1: report names collectors::COLLECTORS{tail}"),
    ];
    assert_eq!(found, want, "{found:#?}");
}

/// The check itself: an upward `use`, a grouped one, a path in code, a `super::` path out of a
/// top-level module and a check borrowing a check are each found, naming file, line and edge;
/// comments and test code are not read.
#[test]
fn the_layer_check_finds_each_kind_of_upward_edge() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let write = |rel: &str, text: &str| {
        let p = src.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "lib.rs",
        "pub mod model;\npub mod error;\npub mod collectors;\npub mod store;\n",
    );
    write("error.rs", "use crate::model::Item;\n");
    write(
        "model.rs",
        "use crate::store::Store;\nuse crate::error::E;\n// crate::store in a comment\nfn f() { crate::collectors::X }\n\
         #[cfg(test)]\nmod tests {\n    use crate::store::Anything;\n}\n#[cfg(test)]\nmod more;\n",
    );
    write("model/more.rs", "use crate::store::Fine;\n");
    write("model/tests.rs", "use crate::store::Fine;\n");
    write("store.rs", "use crate::{model::Item, collectors};\n");
    write("collectors.rs", "mod a;\nmod b;\nuse super::store;\n");
    write(
        "collectors/a.rs",
        "use crate::collectors::b::helper;\nuse crate::collectors::Collector;\n",
    );
    write(
        "collectors/b.rs",
        "use super::a::x;\nuse super::Collector;\n",
    );
    let found = violations(&src);
    let want = [
        "src/collectors/a.rs:1: check a borrows check b's code (move it to sources/)",
        "src/collectors/b.rs:1: check b borrows check a's code (move it to sources/)",
        "src/collectors.rs:3: collectors (layer 4) names store (layer 6), above it",
        "src/model.rs:1: model (layer 0) names store (layer 6), above it",
        "src/model.rs:4: model (layer 0) names collectors (layer 4), above it",
        "error and model name each other: one must move down a layer",
    ];
    assert_eq!(found, want, "{found:#?}");
}

/// The places outside `src/daemon/scans.rs` that start a post-scan effect themselves: a call of
/// the mail report, the hooks or the fleet push after a scan (`after_scan(`), in code, outside
/// the modules that define one.
fn post_scan_calls_outside_scans(src: &Path) -> Vec<String> {
    let daemon = src.join("daemon");
    let mut found = Vec::new();
    for (path, _) in source_files(src) {
        if !path.starts_with(&daemon) || path.ends_with("daemon/scans.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The effects' own modules (mail, hooks, fleet) define `after_scan` and may delegate.
        if text.contains("fn after_scan(") {
            continue;
        }
        for (n, line) in code_lines(&text) {
            if line.contains("after_scan(") {
                found.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    found
}

/// One post-scan path: store → seal → hooks → fleet → mail happen in `Scans`, for every scan
/// whoever asked for it (the schedule, a route, a targeted request); no caller adds its own.
#[test]
fn post_scan_effects_happen_in_one_place() {
    let src = src_dir();
    let found = post_scan_calls_outside_scans(&src);
    assert!(
        found.is_empty(),
        "post-scan effects started outside daemon/scans.rs:\n{}",
        found.join("\n")
    );
}
