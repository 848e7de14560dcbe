//! dawgmond: the dawgmon daemon (scheduled scans and the API arrive with the daemon work).

fn main() -> std::process::ExitCode {
    eprintln!("dawgmond: not implemented yet; use `dawgctl --local`");
    std::process::ExitCode::from(2)
}
