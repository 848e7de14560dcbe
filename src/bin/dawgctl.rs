//! dawgctl: the dawgmon client. All the work is in the library (`dawgmon::cli`).

fn main() -> std::process::ExitCode {
    dawgmon::cli::main()
}
