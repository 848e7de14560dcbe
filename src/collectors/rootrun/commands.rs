//! From a command line to the files it makes root run: the program; the script a known
//! interpreter is given (`/usr/bin/python3 -u /srv/app/main.py`, `/bin/sh /srv/job.sh`); the
//! program behind `env` (`/usr/bin/env python3 x.py`); and for every file executed directly,
//! the interpreter its `#!` line names (the kernel runs that one), `#!/usr/bin/env NAME` looked
//! up on a fixed search path, interpreters that are scripts themselves followed as the kernel
//! does (at most [`MAX_SHEBANG_DEPTH`] deep).
//!
//! The `#!` line is read from files anyone may have written: opened through the root's safe
//! open (symlinks followed inside the root only, anything but a regular file refused without
//! being opened, so a FIFO cannot block the scan), at most [`MAX_SHEBANG`] bytes, each file
//! once per scan, at most [`MAX_SCRIPTS`] files (more is an outage, not a partial list).
//! Words holding a specifier or variable (`%i`, `$X`) only the runner can expand end the
//! trace; a relative script path depends on a working directory the files do not fix, and is
//! skipped.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::CollectError;
use crate::host::{Host, escape_os};

/// Bytes of a file read to find its `#!` line (Linux reads 256).
pub const MAX_SHEBANG: u64 = 256;
/// How many interpreters deep a `#!` chain is followed (Linux's limit, BINPRM_MAX_RECURSION).
pub const MAX_SHEBANG_DEPTH: usize = 4;
/// Most files whose `#!` line one scan reads.
pub const MAX_SCRIPTS: usize = 20_000;
/// Where `#!/usr/bin/env NAME` and `env NAME` find NAME: a fixed, sane search path.
const ENV_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The words of a command line, unquoted (`'...'`, `"..."` with `\` escapes, `\` outside
/// quotes). `None` marks a word that holds a specifier or variable (`%i`, `$X`, a backquote).
pub fn words(command: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut quote: Option<char> = None;
    let mut chars = command.chars();
    let mut opaque = false;
    let mut end = |word: &mut String, started: &mut bool, opaque: &mut bool| {
        if *started {
            out.push((!*opaque).then(|| std::mem::take(word)));
        }
        word.clear();
        *started = false;
        *opaque = false;
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => end(&mut word, &mut started, &mut opaque),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None | Some('"'), '\\') => {
                started = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            (_, c) => {
                if matches!(c, '%' | '$' | '`') && quote != Some('\'') {
                    opaque = true;
                }
                started = true;
                word.push(c);
            }
        }
    }
    end(&mut word, &mut started, &mut opaque);
    out
}

/// The interpreter a program's file name names (`python3.11` → `python`), if it is one whose
/// first operand is a script file.
fn interpreter(name: &str) -> Option<&'static str> {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match stem {
        "sh" | "bash" | "dash" => "sh",
        "python" => "python",
        "perl" => "perl",
        "ruby" => "ruby",
        "node" | "nodejs" => "node",
        "php" => "php",
        _ => return None,
    })
}

/// What an interpreter's arguments make it run.
#[derive(Debug, PartialEq)]
enum Operand<'a> {
    /// A script file: the first word that is not an option (nor an option's argument).
    Script(&'a Option<String>),
    /// A shell command line (`sh -c 'CODE'`), itself traced as a command.
    Shell(&'a Option<String>),
    /// None: code from the command line or a module (`python -m`, `perl -e`, `ruby -e`,
    /// `node -e`, `php -r`), or standard input.
    Nothing,
}

fn script_operand<'a>(kind: &str, args: &'a [Option<String>]) -> Operand<'a> {
    // Options after which the code is not a file.
    let code: &[&str] = match kind {
        "sh" => &[],
        "python" => &["-c", "-m"],
        "perl" | "ruby" => &["-e", "-E"],
        "node" => &["-e", "--eval", "-p", "--print"],
        "php" => &["-r", "-a"],
        _ => &[],
    };
    // Options that take the next word as their value.
    let valued: &[&str] = match kind {
        "sh" => &["-o", "-O", "--rcfile", "--init-file"],
        "python" => &["-W", "-X", "--check-hash-based-pycs"],
        "perl" => &["-I"],
        "ruby" => &["-I", "-r", "-C", "-E", "--encoding"],
        "node" => &["-r", "--require", "--import", "--loader"],
        "php" => &["-c", "-d", "-z"],
        _ => &[],
    };
    let mut it = args.iter();
    let mut shell_code = false;
    while let Some(word) = it.next() {
        let Some(w) = word else {
            return Operand::Script(word);
        };
        let after = |it: &mut std::slice::Iter<'a, Option<String>>| {
            it.next().map_or(Operand::Nothing, Operand::Script)
        };
        if w == "--" || (kind == "php" && w == "-f") {
            return after(&mut it);
        }
        if !w.starts_with('-') || w == "-" {
            return match (shell_code, w == "-") {
                // `sh -c CODE [NAME ARGS]`: the first operand is the code.
                (true, _) => Operand::Shell(word),
                (false, true) => Operand::Nothing,
                (false, false) => Operand::Script(word),
            };
        }
        // `-c` inside a cluster (`sh -ec`, `bash -lc`) is code too.
        if kind == "sh" && !w.starts_with("--") && w[1..].contains('c') {
            shell_code = true;
            continue;
        }
        if code.contains(&w.as_str()) {
            return Operand::Nothing;
        }
        if valued.contains(&w.as_str()) {
            it.next();
        }
    }
    Operand::Nothing
}

/// Follows commands to the files they run, reading each file's `#!` line at most once.
#[derive(Default)]
pub struct Tracer {
    /// Host path → the interpreter its `#!` line names (resolved), if any.
    shebangs: HashMap<PathBuf, Option<PathBuf>>,
    /// How many `sh -c` levels deep the current command is.
    depth: usize,
}

impl Tracer {
    /// Every host path a command line makes its runner execute or read as code: the program
    /// (a bare name looked up in `search`), the script of a known interpreter, what `env` runs,
    /// and the `#!` interpreters of the files executed. `argv0`: the word after the program
    /// is the name it is run under (systemd's `@` prefix), not an argument.
    pub fn command(
        &mut self,
        host: &Host,
        command: &str,
        search: &str,
        argv0: bool,
    ) -> Result<Vec<PathBuf>, CollectError> {
        let words = words(command);
        let mut out = Vec::new();
        let Some(Some(first)) = words.first() else {
            return Ok(out);
        };
        let Some(mut program) = resolve(host, first, search) else {
            return Ok(out);
        };
        let mut rest = &words[1 + usize::from(argv0 && words.len() > 1)..];
        // `env [-i] [-u NAME] [NAME=value]... PROGRAM ARGS`: env runs PROGRAM.
        if base(&program) == "env" {
            out.push(program.clone());
            let mut it = rest.iter().enumerate();
            let mut next = None;
            while let Some((i, w)) = it.next() {
                let Some(w) = w else {
                    return Ok(out);
                };
                if w == "-u" || w == "--unset" || w == "-C" || w == "--chdir" {
                    it.next();
                } else if !w.starts_with('-') && !w.contains('=') {
                    next = Some((i, w));
                    break;
                }
            }
            let Some((i, name)) = next else {
                return Ok(out);
            };
            let Some(p) = resolve(host, name, ENV_PATH) else {
                return Ok(out);
            };
            program = p;
            rest = &rest[i + 1..];
        }
        out.extend(self.executed(host, &program)?);
        let Some(kind) = interpreter(&base(&program)) else {
            return Ok(out);
        };
        match script_operand(kind, rest) {
            Operand::Script(Some(script)) if script.starts_with('/') => {
                out.push(PathBuf::from(script));
            }
            // The shell runs the code's program with its own PATH: the runner's, here.
            Operand::Shell(Some(code)) if self.depth < MAX_SHEBANG_DEPTH => {
                self.depth += 1;
                let inner = self.command(host, code, search, false);
                self.depth -= 1;
                out.extend(inner?);
            }
            _ => {}
        }
        Ok(out)
    }

    /// A file the kernel executes, and the chain of `#!` interpreters it leads to.
    pub fn executed(&mut self, host: &Host, path: &Path) -> Result<Vec<PathBuf>, CollectError> {
        let mut out = vec![path.to_path_buf()];
        let mut at = path.to_path_buf();
        for _ in 0..MAX_SHEBANG_DEPTH {
            let Some(next) = self.interpreter_of(host, &at)? else {
                break;
            };
            if out.contains(&next) {
                break;
            }
            out.push(next.clone());
            at = next;
        }
        Ok(out)
    }

    /// The interpreter the `#!` line of the file at `path` names, resolved (`env NAME` on
    /// [`ENV_PATH`]); `None` for a file without one, or one that cannot be read.
    fn interpreter_of(
        &mut self,
        host: &Host,
        path: &Path,
    ) -> Result<Option<PathBuf>, CollectError> {
        if let Some(known) = self.shebangs.get(path) {
            return Ok(known.clone());
        }
        if host.cancelled() {
            return Err(CollectError::Unavailable("scan abandoned".into()));
        }
        if self.shebangs.len() >= MAX_SCRIPTS {
            return Err(CollectError::Unavailable(format!(
                "more than {MAX_SCRIPTS} files to read a #! line from: not listed"
            )));
        }
        let line = match first_line(host, path) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                host.note_denied(&escape_os(path.as_os_str()));
                None
            }
            // Missing, not a regular file, a symlink leading nowhere, unreadable: no `#!` line
            // to follow (the path itself is still traced).
            Err(_) => None,
        };
        let found = line.as_deref().and_then(|l| parse_shebang(host, l));
        self.shebangs.insert(path.to_path_buf(), found.clone());
        Ok(found)
    }
}

/// The first line of a file, when it starts with `#!`, read as the kernel reads it: at most
/// [`MAX_SHEBANG`] bytes.
fn first_line(host: &Host, path: &Path) -> io::Result<Option<String>> {
    let (file, _) = host.open_file(path)?;
    let mut head = Vec::with_capacity(MAX_SHEBANG as usize);
    file.take(MAX_SHEBANG).read_to_end(&mut head)?;
    let Some(rest) = head.strip_prefix(b"#!") else {
        return Ok(None);
    };
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    Ok(Some(String::from_utf8_lossy(&rest[..end]).into_owned()))
}

/// The interpreter of a `#!` line (the text after `#!`): its first word, absolute; for `env`,
/// the program it names (the kernel passes the rest as one argument: `env -S a b` splits it).
fn parse_shebang(host: &Host, line: &str) -> Option<PathBuf> {
    let mut parts = line.split([' ', '\t']).filter(|w| !w.is_empty());
    let interp = parts.next()?;
    if !interp.starts_with('/') {
        return None;
    }
    if base(Path::new(interp)) != "env" {
        return Some(PathBuf::from(interp));
    }
    let name = parts.find(|w| !w.starts_with('-') && !w.contains('='))?;
    resolve(host, name, ENV_PATH)
}

fn base(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A command word as a host path: absolute as it is, a bare name looked up in `search` (the
/// first directory holding it). A relative path with a slash is not something these runners
/// accept: `None`.
pub fn resolve(host: &Host, word: &str, search: &str) -> Option<PathBuf> {
    if word.starts_with('/') {
        return Some(PathBuf::from(word));
    }
    if word.contains('/') || word.is_empty() {
        return None;
    }
    search
        .split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join(word))
        .find(|p| host.lstat(p).is_ok())
}
