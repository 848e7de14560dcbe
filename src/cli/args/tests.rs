use super::*;
use clap::CommandFactory;

/// What build.rs generated from these definitions (`$OUT_DIR/dawgmon-doc`).
fn generated(rel: &str) -> String {
    let path = format!("{}/dawgmon-doc/{rel}", env!("OUT_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn man_pages_and_completions_follow_the_clap_definitions() {
    let page = generated("man/dawgctl.1");
    assert!(page.contains(".TH dawgctl 1 "), "{page}");
    for sub in Args::command().get_subcommands() {
        let name = sub.get_name();
        assert!(page.contains(name), "dawgctl(1) lacks {name}");
        generated(&format!("man/dawgctl-{name}.1"));
        for shell in ["completions/dawgctl.bash", "completions/_dawgctl"] {
            assert!(generated(shell).contains(name), "{shell} lacks {name}");
        }
        assert!(generated("completions/dawgctl.fish").contains(&format!("-a \"{name}\"")));
    }
    for arg in Args::command().get_arguments() {
        if let Some(long) = arg.get_long() {
            let escaped = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(page.contains(&escaped), "dawgctl(1) lacks --{long}");
            assert!(generated("completions/dawgctl.bash").contains(&format!("--{long}")));
        }
    }
    assert!(page.contains(".SH \"EXIT STATUS\""));
    let daemon = generated("man/dawgmond.8");
    assert!(daemon.contains(".TH dawgmond 8"), "{daemon}");
    for arg in DaemonArgs::command().get_arguments() {
        if let Some(long) = arg.get_long() {
            assert!(
                daemon.contains(&format!("\\-\\-{long}")),
                "dawgmond(8) lacks --{long}"
            );
        }
    }
    assert!(generated("completions/dawgmond.bash").contains("--check"));
}

/// The package installs the gzipped pages (Debian policy): each is the plain page, whole.
#[test]
fn every_man_page_has_an_identical_gzipped_copy() {
    let dir = format!("{}/dawgmon-doc/man", env!("OUT_DIR"));
    let mut pages = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "gz") {
            continue;
        }
        let gz = format!("{}.gz", path.display());
        let out = std::process::Command::new("gzip")
            .args(["-dc", &gz])
            .output()
            .unwrap();
        assert!(out.status.success(), "{gz}: {out:?}");
        assert_eq!(out.stdout, std::fs::read(&path).unwrap(), "{gz}");
        pages += 1;
    }
    assert!(pages >= 3, "{pages} pages in {dir}");
}

/// build.rs gives this file its own copy of the two paths it uses (src/paths.rs needs nix).
#[test]
fn build_script_paths_are_the_real_ones() {
    let build = include_str!("../../../build.rs");
    for value in [crate::paths::DEFAULT_SOCKET, crate::paths::DEFAULT_CONFIG] {
        assert!(
            build.contains(&format!("= \"{value}\";")),
            "build.rs lacks {value}"
        );
    }
}
