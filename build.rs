//! Build-time work:
//! - Rebuilds when a migration is added: `sqlx::migrate!` embeds `src/store/migrations` at
//!   compile time, and cargo does not otherwise notice a new file there.
//! - Generates the man pages and shell completions from the clap definitions the binaries
//!   parse with (`src/cli/args.rs`, included here), and dawgmond.toml(5) from the sample
//!   configuration `dist/config/dawgmond.toml` (the file that documents every key). They are
//!   written to `$OUT_DIR` and copied to `<target>/<profile>/dawgmon-doc/{man,completions}`,
//!   where `cargo deb` (`[package.metadata.deb]` assets) picks them up.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// The constants `src/cli/args.rs` uses from `src/paths.rs` (which needs `nix`, not a build
/// dependency). `cli::args` tests check that the two agree.
mod paths {
    pub const DEFAULT_SOCKET: &str = "/run/dawgmon/dawgmond.sock";
    pub const DEFAULT_CONFIG: &str = "/etc/dawgmon/dawgmond.toml";
}

#[path = "src/cli/args.rs"]
#[allow(dead_code)]
mod args;

fn main() {
    println!("cargo:rerun-if-changed=src/store/migrations");
    println!("cargo:rerun-if-changed=src/fleet/migrations");
    println!("cargo:rerun-if-changed=src/cli/args.rs");
    println!("cargo:rerun-if-changed=dist/config/dawgmond.toml");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let doc = out.join("dawgmon-doc");
    let man = doc.join("man");
    let completions = doc.join("completions");
    fs::create_dir_all(&man).expect("create man dir");
    fs::create_dir_all(&completions).expect("create completions dir");

    // dawgctl(1) and one page per subcommand (dawgctl-diff(1), ...).
    clap_mangen::generate_to(args::Args::command(), &man).expect("dawgctl man pages");
    append(&man.join("dawgctl.1"), DAWGCTL_EXTRA);
    // dawgmond(8).
    let daemon = clap_mangen::Man::new(args::DaemonArgs::command()).section("8");
    daemon.generate_to(&man).expect("dawgmond man page");
    append(&man.join("dawgmond.8"), DAWGMOND_EXTRA);
    // dawgmond.toml(5), from the sample configuration.
    let sample = fs::read_to_string("dist/config/dawgmond.toml").expect("read the sample config");
    fs::write(man.join("dawgmond.toml.5"), config_man_page(&sample)).expect("write config page");

    gzip_pages(&man).expect("gzip the man pages");

    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        for mut cmd in [args::Args::command(), args::DaemonArgs::command()] {
            let name = cmd.get_name().to_string();
            clap_complete::generate_to(shell, &mut cmd, name, &completions).expect("completions");
        }
    }

    // A fixed place for cargo-deb: OUT_DIR is <target>/<profile>/build/dawgmon-HASH/out.
    if let Some(profile_dir) = out.ancestors().nth(3) {
        let dest = profile_dir.join("dawgmon-doc");
        let _ = fs::remove_dir_all(&dest);
        copy_dir(&doc, &dest).expect("copy the generated documentation");
    }
}

/// Writes `PAGE.gz` beside every page in `dir`, as Debian policy wants them installed: best
/// compression, no file name and a zero time stamp in the header, so builds are reproducible.
fn gzip_pages(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "gz") {
            continue;
        }
        let mut gz = path.clone().into_os_string();
        gz.push(".gz");
        let out = fs::File::create(&gz)?;
        let mut enc = flate2::GzBuilder::new()
            .mtime(0)
            .write(out, flate2::Compression::best());
        enc.write_all(&fs::read(&path)?)?;
        enc.finish()?.sync_all()?;
    }
    Ok(())
}

fn append(path: &Path, text: &str) {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open man page");
    f.write_all(text.as_bytes()).expect("append to man page");
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

const DAWGCTL_EXTRA: &str = r#".SH "EXIT STATUS"
0 success; 1 changes were found and \fB\-\-exit\-code\fR was given; 2 an error (one line naming
the problem and the fix).
.SH FILES
.TP
\fI/var/lib/dawgmon/dawgmon.db\fR
the database (as root; otherwise \fI$XDG_STATE_HOME/dawgmon/dawgmon.db\fR with \fB\-\-local\fR)
.TP
\fI/run/dawgmon/dawgmond.sock\fR
the daemon's socket
.TP
\fI/usr/lib/dawgmon/apt\-hook\fR
run by apt around every package operation (\fI/etc/apt/apt.conf.d/80dawgmon\fR): a baseline
\fBapt\-pre\fR before dpkg runs, and \fBdawgctl diff \-\-since apt\-pre\fR after it
.SH "SEE ALSO"
\fBdawgmond\fR(8), \fBdawgmond.toml\fR(5)
"#;

const DAWGMOND_EXTRA: &str = r#".SH SIGNALS
SIGTERM stops the daemon (a running scan gets 5 seconds, then is abandoned, never half
stored). SIGHUP re\-reads the configuration file and checks it as start\-up does (values,
groups, the SMTP password file, a new database or socket); a file that fails is refused, the
configuration in use is kept, and \fBdawgctl status\fR shows why until a reload succeeds.
.SH "EXIT STATUS"
0 stopped by SIGTERM; 1 a failure; 2 the configuration was refused (at start or by
\fB\-\-check\fR, naming the key at fault); 65 the database is
damaged (the message says how to move it aside and recover it).
.SH FILES
.TP
\fI/etc/dawgmon/dawgmond.toml\fR
the configuration, see \fBdawgmond.toml\fR(5)
.TP
\fI/var/lib/dawgmon/dawgmon.db\fR
the database
.TP
\fI/run/dawgmon/dawgmond.sock\fR
the API socket
.TP
\fI/usr/lib/systemd/system/dawgmond.service\fR
the systemd unit
.SH "SEE ALSO"
\fBdawgctl\fR(1), \fBdawgmond.toml\fR(5), \fBsystemctl\fR(1)
"#;

/// Roff-escapes one line of text.
fn roff(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// A `key = value` line (a key and its default or example) or a `[table]` header, once the
/// leading `#` and one space are removed.
fn is_setting(line: &str) -> bool {
    if line.starts_with("[mail") {
        return true;
    }
    line.split_once(" = ").is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    })
}

/// dawgmond.toml(5) from the sample configuration: its `# --- Title ---` lines become
/// sections, each `#key = value` line an entry (the key with its default) explained by the
/// comment paragraph above it; the file's opening comment is the description.
pub fn config_man_page(sample: &str) -> String {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let mut page = format!(
        ".TH DAWGMOND.TOML 5 \"\" \"dawgmon {version}\" \"File Formats\"\n\
         .SH NAME\ndawgmond.toml \\- configuration file of dawgmond(8)\n\
         .SH SYNOPSIS\n\\fI/etc/dawgmon/dawgmond.toml\\fR\n.SH DESCRIPTION\n"
    );
    let mut pending: Vec<String> = Vec::new();
    let flush = |page: &mut String, pending: &mut Vec<String>| {
        if !pending.is_empty() {
            page.push_str(".PP\n");
            for l in pending.drain(..) {
                page.push_str(&roff(&l));
                page.push('\n');
            }
        }
    };
    for (n, line) in sample.lines().enumerate() {
        if n == 0 {
            continue; // "# dawgmond configuration: /etc/dawgmon/dawgmond.toml"
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            flush(&mut page, &mut pending);
            continue;
        }
        let Some(body) = trimmed.strip_prefix('#') else {
            continue; // no uncommented settings in the sample
        };
        if body.starts_with(" ---") {
            flush(&mut page, &mut pending);
            let title = body.trim().trim_matches('-').trim();
            page.push_str(&format!(".SH \"{}\"\n", roff(&title.to_uppercase())));
            continue;
        }
        let body = body.strip_prefix(' ').unwrap_or(body);
        if body.is_empty() {
            flush(&mut page, &mut pending);
        } else if is_setting(body) {
            if body.starts_with('[') {
                page.push_str(&format!(".SS \"{}\"\n", roff(body)));
                flush(&mut page, &mut pending);
            } else {
                page.push_str(&format!(".TP\n\\fB{}\\fR\n", roff(body)));
                for l in pending.drain(..) {
                    page.push_str(&roff(&l));
                    page.push('\n');
                }
            }
        } else {
            pending.push(body.to_string());
        }
    }
    flush(&mut page, &mut pending);
    page.push_str(
        ".SH FILES\n.TP\n\\fI/usr/share/doc/dawgmon/examples/dawgmond.toml\\fR\nthe file as \
         shipped, every key at its default\n.SH \"SEE ALSO\"\n\\fBdawgmond\\fR(8), \\fBdawgctl\\fR(1)\n",
    );
    page
}
