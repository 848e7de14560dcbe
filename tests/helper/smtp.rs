//! A real SMTP server for the tests: Python's aiosmtpd (Debian's python3-aiosmtpd, installed by
//! `.ci/run`) storing every message in a Maildir, started per test and killed on drop, plus
//! what reading those messages back takes (headers, quoted-printable). [`SmtpSink::refusing`]
//! starts one that refuses every recipient with a permanent 550 instead.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PYTHON: &str = "/usr/bin/python3";

/// An aiosmtpd server on 127.0.0.1 storing messages in `dir/new/`; killed on drop.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl SmtpSink {
    pub fn start(port: u16, dir: &Path) -> SmtpSink {
        // aiosmtpd creates the Maildir (new/, cur/, tmp/) only when the directory is absent.
        let maildir = dir.join("maildir");
        let handler = ["aiosmtpd.handlers.Mailbox".as_ref(), maildir.as_os_str()];
        Self::launch(port, &maildir, &handler, None)
    }

    /// A server that answers every RCPT with `550 5.1.1 ... User unknown` (a permanent
    /// refusal) and logs each refused address to `dir/refused`; see [`SmtpSink::refused`].
    pub fn refusing(port: u16, dir: &Path) -> SmtpSink {
        let module = dir.join("pymod");
        std::fs::create_dir_all(&module).unwrap();
        std::fs::write(
            module.join("refuse.py"),
            format!(
                "class Refuse:\n    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):\n        with open({:?}, 'a') as f:\n            f.write(address + '\\n')\n        return '550 5.1.1 <%s>: Recipient address rejected: User unknown' % address\n",
                dir.join("refused")
            ),
        )
        .unwrap();
        Self::launch(port, dir, &["refuse.Refuse".as_ref()], Some(&module))
    }

    /// How many recipients a [`SmtpSink::refusing`] server refused so far.
    pub fn refused(&self) -> usize {
        std::fs::read_to_string(self.dir.join("refused"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// Runs `aiosmtpd -n -l 127.0.0.1:PORT -c HANDLER...` (the handler class and its
    /// arguments), importing modules from `pythonpath` too.
    fn launch(
        port: u16,
        dir: &Path,
        handler: &[&std::ffi::OsStr],
        pythonpath: Option<&Path>,
    ) -> SmtpSink {
        let mut cmd = Command::new(PYTHON);
        if let Some(p) = pythonpath {
            cmd.env("PYTHONPATH", p);
        }
        let child = cmd
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-c")
            .args(handler)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start /usr/bin/python3 -m aiosmtpd");
        let mut sink = SmtpSink {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = sink.child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                sink.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .ok();
                panic!(
                    "aiosmtpd exited ({status}): {err}\n(install it with: apt-get install -y python3-aiosmtpd)"
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return sink;
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The stored messages, oldest first by name, quoted-printable bodies decoded.
    pub fn messages(&self) -> Vec<String> {
        messages(&self.dir)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn messages(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("new")) else {
        return vec![];
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort_by_key(|p| arrival(p));
    paths
        .iter()
        .map(|p| decode_qp(&std::fs::read_to_string(p).unwrap()))
        .collect()
}

/// The order a message arrived in, from Python's Maildir name `SECS.M<usec>P<pid>Q<n>.HOST`:
/// seconds, then the server's message counter `n` (the microseconds are not zero-padded, so
/// sorting the names as text swaps two messages of one second now and then).
fn arrival(path: &Path) -> (u64, u64, String) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut parts = name.split('.');
    let secs = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let counter = parts
        .next()
        .and_then(|u| u.rsplit_once('Q'))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0);
    (secs, counter, name)
}

/// Undoes quoted-printable (soft line breaks and `=XX`); text that is not QP passes through.
pub fn decode_qp(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b))
                if bytes[i + 1].is_ascii_uppercase() || bytes[i + 1].is_ascii_digit() =>
            {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A port nobody listens on (for now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A header's value (first occurrence, unfolded).
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}: ");
    message
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(prefix.as_str()))
}
