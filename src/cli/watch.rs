//! `dawgctl watch -- COMMAND [ARGS]`: what did this installer do?
//!
//! A baseline under a temporary label (`watch-<pid>`), the command with the terminal as it is
//! (stdin, stdout and stderr are its own; dawgctl writes nothing to stdout), a scan, and the
//! report from the baseline to that scan on stderr (like time(1), so the command's stdout can
//! still be piped). The exit status is the command's (128 + N when a signal N killed it, as a
//! shell reports it). The label is removed afterwards: both scans stay in the history (and in
//! the daemon's mail) and age out like any other; only when the final scan fails is the label
//! kept, so that `dawgctl diff --since watch-<pid>` can be run by hand.

use std::io::{IsTerminal, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitCode;

use crate::error::Error;

use super::{Args, Backend, Format, render};

/// Runs `command` between a baseline and a scan through `backend`.
pub async fn run(backend: &Backend, args: &Args, command: &[String]) -> Result<ExitCode, Error> {
    let label = format!("watch-{}", std::process::id());
    let base = backend.scan(Some(label.clone()), &args.collectors).await?;
    render::note_denied(&base);
    eprintln!(
        "dawgctl watch: baseline {label:?} stored as scan {}; running {}",
        base.scan.id,
        command.join(" ")
    );

    // While the command runs, ^C and ^\ are for it (the terminal sends them to the whole
    // process group): dawgctl stays to scan and report what it did before it stopped.
    let interrupts = tokio::spawn(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut quit)) =
            (signal(SignalKind::interrupt()), signal(SignalKind::quit()))
        else {
            return;
        };
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = quit.recv() => {}
            }
        }
    });
    let status = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .status()
        .await;
    interrupts.abort();
    let code: u8 = match &status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => c as u8,
            (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
            (None, None) => 1,
        },
        Err(e) => {
            eprintln!("dawgctl watch: cannot run {}: {e}", command[0]);
            if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            }
        }
    };

    let result = async {
        let after = backend.scan(None, &args.collectors).await?;
        render::note_denied(&after);
        backend
            .diff(Some(&label), &after.scan, &args.collectors)
            .await
    }
    .await;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "dawgctl watch: the scan after the command failed; baseline {label:?} kept \
                 (dawgctl diff --since {label}, then dawgctl baseline {label} --delete)"
            );
            return Err(e);
        }
    };
    if let Err(e) = backend.delete_baseline(&label).await {
        eprintln!("dawgctl watch: could not remove the label {label:?}: {e}");
    }
    let rendered = super::render_report(
        &report,
        args,
        std::io::stderr().is_terminal(),
        &backend.package_root(),
        &backend.registry(),
    );
    let text = match args.format {
        Format::Text => format!(
            "dawgctl watch: {} changed (scan {} to scan {}):\n{rendered}",
            command[0], base.scan.id, report.to.id,
        ),
        _ => rendered,
    };
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    if code == 0 && args.exit_code && super::shown_changes(&report, args) {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::from(code))
}
