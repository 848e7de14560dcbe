//! dawgctl: the dawgmon client. All the work is in the library (`dawgmon::cli`).

fn main() -> std::process::ExitCode {
    // Like every Unix filter: `dawgctl rules | head` ends quietly when `head` exits, instead of
    // panicking on the broken pipe (Rust ignores SIGPIPE by default).
    // SAFETY: called first, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    dawgmon::cli::main()
}
