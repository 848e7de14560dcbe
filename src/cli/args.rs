//! The command-line definitions of both binaries, and nothing else: `build.rs` includes this
//! file to generate the man pages (dawgctl(1), dawgmond(8)) and the shell completions from the
//! same clap definitions the binaries parse with. It may use only `clap`, `std` and
//! `crate::paths`'s constants (the build script provides those two).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::paths;

/// Attack-surface change monitor: snapshot setuid files, ports, users, units, packages... and
/// see what changed.
#[derive(Debug, Parser)]
#[command(name = "dawgctl", version, about, long_about = None)]
pub struct Args {
    /// Run in-process against the database instead of asking the dawgmond daemon.
    #[arg(long, global = true)]
    pub local: bool,
    /// Database file (with --local) [default: `database` in the daemon's config file; when it
    /// names none, /var/lib/dawgmon/dawgmon.db (the daemon's) as root, else
    /// $XDG_STATE_HOME/dawgmon/dawgmon.db].
    #[arg(long, global = true, env = "DAWGMON_DATABASE", value_name = "PATH")]
    pub database: Option<PathBuf>,
    /// The daemon's socket (without --local).
    #[arg(long, global = true, env = "DAWGMON_SOCKET", value_name = "PATH",
          default_value = paths::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// With --local: scan this directory as the root file system (a mounted image or container
    /// root) [default: `root` in the daemon's config file, else /]. Without --local the daemon
    /// scans the root set in its own config file.
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The daemon's config file. With --local every setting comes from it when it exists
    /// (database, root, collectors, retention, timeouts, max_hash_mib, rehash_every, rules,
    /// ignores, watch trees), so local and daemon scans of one database agree; the flags
    /// --database, --root, --retention, -c and --watch override it. `dawgctl rules` shows its
    /// rules.
    #[arg(long, global = true, env = "DAWGMOND_CONFIG", value_name = "PATH",
          default_value = paths::DEFAULT_CONFIG)]
    pub daemon_config: PathBuf,
    /// Output format (sarif: SARIF 2.1.0, for reports only: scan, baseline, diff, watch).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Leave out the changes below LEVEL; the summary still counts them and says how many
    /// were left out.
    #[arg(long, global = true, value_enum, value_name = "LEVEL", default_value_t = Level::Info)]
    pub min_severity: Level,
    /// Group the report's changes: `package` puts each under the package that brought it
    /// (the package field collectors set, else the package whose dpkg file list holds the
    /// item's file), with a one-line verdict per package and the
    /// package operation on top; changes no package owns come last.
    #[arg(long, global = true, value_enum, value_name = "WHAT")]
    pub by: Option<By>,
    /// Colour the text output by severity.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Do not print a timestamp in front of each change.
    #[arg(long, global = true)]
    pub no_timestamps: bool,
    /// Run or compare only this collector (repeatable; see `dawgctl collectors`). Without it a
    /// --local scan runs the config file's `collectors` (else the default set) and its trees.
    #[arg(short = 'c', long = "collector", global = true, value_name = "NAME")]
    pub collectors: Vec<String>,
    /// With --local: also watch the tree at this host path, file by file (repeatable; like a
    /// [[watch]] table with its defaults: hashed, one file system). Its collector is
    /// `watch:PATH`.
    #[arg(long, global = true, value_name = "PATH")]
    pub watch: Vec<String>,
    /// Exit with status 1 when changes were found (like `git diff --exit-code`); with
    /// --min-severity, only changes at or above that level count.
    #[arg(long, global = true)]
    pub exit_code: bool,
    /// Unlabelled scans to keep in the database (with --local; 0 keeps all). Default:
    /// `retention` in the daemon's config file when it exists, else the retention the daemon
    /// recorded in the database, else 64.
    #[arg(long, global = true, value_name = "N")]
    pub retention: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan now, store the scan, and print what changed since the previous one.
    Scan {
        /// Also print how long each collector ran, slowest first (to stderr; with
        /// `--format json`, as a "timings" list in the JSON).
        #[arg(long)]
        timings: bool,
    },
    /// Scan now and store it under a label, to compare against later.
    Baseline {
        /// Letters, digits, '.', '_' or '-'; reusing a label moves it to the new scan.
        name: String,
        /// Remove the label instead (the scan then ages out like any other).
        #[arg(long)]
        delete: bool,
    },
    /// List baselines (labelled scans), newest first.
    Baselines,
    /// Print the changes between two scans.
    Diff {
        /// Scan id or baseline label to compare from [default: newest baseline, else the
        /// scan before --to].
        #[arg(long, value_name = "LABEL|ID")]
        since: Option<String>,
        /// Scan id or label to compare to [default: a fresh scan, stored].
        #[arg(long, value_name = "LABEL|ID")]
        to: Option<String>,
    },
    /// List stored scans, newest first.
    History {
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// List the available collectors.
    Collectors,
    /// Show the daemon's state: schedule, last scan, scan in progress, mail, database (with
    /// --local: the database's).
    Status,
    /// Run COMMAND between a baseline and a scan and print what it changed. The command's
    /// stdin, stdout and stderr are its own; its exit status becomes dawgctl's; the report goes
    /// to stderr, like time(1).
    Watch {
        /// The command and its arguments (after `--`).
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Mailed reports (see docs/mail.md).
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Print the severity rules in effect: the [[rule]] tables of the daemon's config file
    /// (--daemon-config), then the built-in ones, minus disable_rules; first match wins.
    Rules,
    /// Noise control: [[ignore]] tables for the config file.
    Ignore {
        #[command(subcommand)]
        command: IgnoreCommand,
    },
    /// The sealed history (see docs/trust.md): `dawgctl seal init`.
    Seal {
        #[command(subcommand)]
        command: SealCommand,
    },
    /// Check a database (a copy, on any machine) against the verification key and checkpoints
    /// that left the host: every scan against the sealed log, the log against every seal and
    /// checkpoint, every seal against its epoch's key. Without --key it checks internal
    /// consistency only, which proves nothing against root. Exit status: 0 intact, else the
    /// sum of 1 altered, 2 removed or truncated, 4 a seal invalid or missing, 8 sealing
    /// stopped; 16 could not verify. Works on --database (or the config file's database).
    Verify {
        /// The verification key `dawgctl seal init` printed (repeatable: one per generation).
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
        /// A checkpoint line from a mail, the journal or `dawgctl status` (repeatable).
        #[arg(long = "checkpoint", value_name = "CP")]
        checkpoints: Vec<String>,
        /// When the copy was taken (RFC 3339), for "sealing stopped" [default: now].
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
    },
    /// The fleet store: many hosts' scans in one PostgreSQL, asked across hosts (README:
    /// "Many hosts: the fleet store").
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum SealCommand {
    /// Make the random seed of the sealed history, print the verification key once (store it
    /// off the host) and queue it for mail when mail is configured. Refuses when the history
    /// is sealed already.
    Init {
        /// Start a new key chain over an existing one (recorded in the log as an entry; the
        /// old verification key still checks the seals before it).
        #[arg(long)]
        reinit: bool,
    },
}

/// Where `dawgctl fleet` connects.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetConn {
    /// postgres://ROLE@HOST/DATABASE (a reader's, made by `fleet add-reader`) [default: the
    /// url of [fleet] in the daemon's config file, with its password].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// A file whose first line is the password for --url.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
}

/// Where the database owner connects (`fleet init`, `add-host`, `add-reader`).
#[derive(Debug, Clone, clap::Args)]
pub struct FleetOwner {
    /// postgres://OWNER@HOST/DATABASE, or over the socket:
    /// postgres://OWNER@localhost/DATABASE?host=/run/postgresql.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// A file whose first line is the owner's password (none: peer or trust authentication).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create or upgrade the schema and the roles dawgmon_host and dawgmon_reader (as the
    /// database owner, with CREATEROLE). Safe to run again.
    Init {
        #[command(flatten)]
        owner: FleetOwner,
    },
    /// Make a host's login role (it may only add rows about its own host) and print its
    /// [fleet] table once, to append to that host's dawgmond.toml.
    AddHost {
        /// 1-48 letters, digits, '.', '_' or '-'.
        name: String,
        #[command(flatten)]
        owner: FleetOwner,
    },
    /// Make a login role that may read everything (for `fleet hosts/changes/where`) and print
    /// its URL and password once.
    AddReader {
        name: String,
        #[command(flatten)]
        owner: FleetOwner,
    },
    /// Each host: last seen, last scan, the changes of that scan by severity; hosts silent
    /// for more than twice their schedule are STALE.
    Hosts {
        #[command(flatten)]
        conn: FleetConn,
    },
    /// Changes across hosts, host by host, in time order (-c NAME: only those collectors').
    Changes {
        /// How far back: a duration ("7d", "12h") or a time (RFC 3339).
        #[arg(long, default_value = "7d", value_name = "WHEN")]
        since: String,
        /// Only hosts whose name matches GLOB (`*`, `?`).
        #[arg(long, value_name = "GLOB")]
        host: Option<String>,
        /// Only added, removed or modified items.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Only changes at or above LEVEL.
        #[arg(long, value_enum, value_name = "LEVEL", default_value_t = Level::Info)]
        severity: Level,
        /// Only items whose key matches GLOB.
        #[arg(long, value_name = "GLOB")]
        key: Option<String>,
        #[command(flatten)]
        conn: FleetConn,
    },
    /// Which hosts have an item matching KEY-GLOB now, e.g. `fleet where /usr/bin/sudo
    /// --field 'package_digest=*differs'` (-c NAME: only those collectors' items).
    Where {
        #[arg(value_name = "KEY-GLOB")]
        key: String,
        /// Only items whose field NAME matches GLOB.
        #[arg(long, value_name = "NAME=GLOB")]
        field: Option<String>,
        #[command(flatten)]
        conn: FleetConn,
    },
}

/// A change kind, as `fleet changes --kind` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Added,
    Removed,
    Modified,
}

#[derive(Debug, Subcommand)]
pub enum IgnoreCommand {
    /// Compare each of the newest stored scans with the one before it and print ready-to-paste
    /// [[ignore]] tables for the items that changed, each with how often it churned. Run it on
    /// an idle host: what changes there on its own is noise.
    Suggest {
        /// How many of the newest stored scans to compare (at least 2).
        #[arg(long, default_value_t = 24, value_name = "N")]
        scans: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send a test message now through the daemon's mail configuration and print the
    /// server's answer, or the exact failure. With --local, dawgctl reads the daemon's config
    /// file and sends it itself (as the user running dawgctl, outside the daemon's sandbox).
    Test {
        /// The daemon's config file (with --local).
        #[arg(long, value_name = "PATH", env = "DAWGMOND_CONFIG",
              default_value = paths::DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// SARIF 2.1.0, for security dashboards (reports only).
    Sarif,
}

/// How `--by` groups a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    Package,
}

/// A severity level, as `--min-severity` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Level {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// Scheduled attack-surface scans and the dawgctl API on a UNIX socket. Runs in the
/// foreground (systemd Type=notify). SIGTERM stops it; SIGHUP re-reads the configuration.
#[derive(Debug, Parser)]
#[command(name = "dawgmond", version)]
pub struct DaemonArgs {
    /// Configuration file [default: /etc/dawgmon/dawgmond.toml; built-in defaults when absent].
    #[arg(long, env = "DAWGMOND_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The API socket (overrides `socket` in the file).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The database (overrides `database` in the file).
    #[arg(long, value_name = "PATH")]
    pub database: Option<PathBuf>,
    /// Check the configuration as start-up does (values, groups, the SMTP password file), print
    /// it as the daemon would run it, and exit; a refused file exits 2, naming the key.
    #[arg(long)]
    pub check: bool,
}

#[cfg(test)]
mod tests;
