//! A real PostgreSQL for the tests: Debian's postgresql-15 binaries, a cluster made by
//! `initdb` in a temporary directory (run as the `postgres` user: initdb refuses root), on a
//! UNIX socket in that directory, stopped and deleted on drop. Each test gets its own cluster,
//! so tests run in parallel. The cluster's superuser is `owner` (trusted on the socket); every
//! other role logs in with its SCRAM password. [`Pg::with_tls`] also listens on 127.0.0.1 with
//! a self-signed certificate made by the `openssl` command.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// Where Debian's postgresql-15 puts its programs.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";
/// The database the tests use.
pub const DB: &str = "dawgmon";

/// A running cluster; stopped and removed on drop.
pub struct Pg {
    dir: TempDir,
    pub port: u16,
    /// With TLS: the CA that signed the server's certificate.
    pub cert: Option<PathBuf>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn as_postgres(program: &str) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--", &format!("{BIN}/{program}")]);
    c
}

fn chown_postgres(path: &Path) {
    let st = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "chown {}", path.display());
}

impl Pg {
    /// A cluster on a UNIX socket only, with the database [`DB`].
    pub fn start() -> Pg {
        Self::launch(false)
    }

    /// A cluster that also listens on 127.0.0.1 with TLS (a self-signed certificate for
    /// `localhost`); TCP logins need a password and TLS.
    pub fn with_tls() -> Pg {
        Self::launch(true)
    }

    fn launch(tls: bool) -> Pg {
        assert!(
            Path::new(BIN).join("initdb").exists(),
            "PostgreSQL 15 is not installed (apt-get install postgresql-15)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        chown_postgres(dir.path());
        let out = as_postgres("initdb")
            .args(["-D"])
            .arg(&data)
            .args([
                "-U",
                "owner",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut hba = String::from("local all owner trust\nlocal all all scram-sha-256\n");
        let mut conf = format!(
            "unix_socket_directories = '{}'\nfsync = off\nfull_page_writes = off\n\
             synchronous_commit = off\nlisten_addresses = ''\n",
            dir.path().display()
        );
        let port = free_port();
        let mut cert = None;
        if tls {
            // A CA, and a server certificate for localhost that it signed (rustls refuses a
            // CA certificate as the server's own).
            let ca = dir.path().join("ca.crt");
            let ca_key = dir.path().join("ca.key");
            let crt = dir.path().join("server.crt");
            let key = dir.path().join("server.key");
            let csr = dir.path().join("server.csr");
            let ext = dir.path().join("server.ext");
            fs::write(
                &ext,
                "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\n",
            )
            .unwrap();
            let openssl = |args: &[&std::ffi::OsStr]| {
                let out = Command::new("openssl")
                    .args(args)
                    .output()
                    .expect("openssl (apt-get install openssl)");
                assert!(
                    out.status.success(),
                    "openssl: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            let s = |v: &str| std::ffi::OsString::from(v);
            openssl(&[
                &s("req"),
                &s("-x509"),
                &s("-newkey"),
                &s("rsa:2048"),
                &s("-nodes"),
                &s("-days"),
                &s("2"),
                &s("-subj"),
                &s("/CN=dawgmon test CA"),
                &s("-keyout"),
                ca_key.as_os_str(),
                &s("-out"),
                ca.as_os_str(),
            ]);
            openssl(&[
                &s("req"),
                &s("-newkey"),
                &s("rsa:2048"),
                &s("-nodes"),
                &s("-subj"),
                &s("/CN=localhost"),
                &s("-keyout"),
                key.as_os_str(),
                &s("-out"),
                csr.as_os_str(),
            ]);
            openssl(&[
                &s("x509"),
                &s("-req"),
                &s("-in"),
                csr.as_os_str(),
                &s("-CA"),
                ca.as_os_str(),
                &s("-CAkey"),
                ca_key.as_os_str(),
                &s("-CAcreateserial"),
                &s("-days"),
                &s("2"),
                &s("-extfile"),
                ext.as_os_str(),
                &s("-out"),
                crt.as_os_str(),
            ]);
            chown_postgres(&key);
            fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
            hba.push_str("hostssl all all 127.0.0.1/32 scram-sha-256\n");
            conf = conf.replace("listen_addresses = ''", "listen_addresses = '127.0.0.1'");
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                crt.display(),
                key.display()
            ));
            cert = Some(ca);
        }
        conf.push_str(&format!("port = {port}\n"));
        fs::write(data.join("pg_hba.conf"), hba).unwrap();
        let mut all = fs::read_to_string(data.join("postgresql.conf")).unwrap();
        all.push_str(&conf);
        fs::write(data.join("postgresql.conf"), all).unwrap();
        chown_postgres(&data);
        let pg = Pg { dir, port, cert };
        pg.start_again();
        let out = pg.psql("owner", "postgres", &format!("CREATE DATABASE {DB}"));
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg
    }

    /// The directory holding the socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The owner's URL over the socket (what `fleet init` and `add-host` take).
    pub fn owner_url(&self) -> String {
        format!(
            "postgres://owner@localhost/{DB}?host={}&port={}",
            self.dir.path().display(),
            self.port
        )
    }

    /// A role's URL over TLS on 127.0.0.1 (`localhost`, as the certificate names it).
    pub fn tls_url(&self, role: &str, extra: &str) -> String {
        format!("postgres://{role}@localhost:{}/{DB}{extra}", self.port)
    }

    /// Starts the (stopped) cluster and waits until it accepts connections.
    pub fn start_again(&self) {
        let out = as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
    }

    /// Stops the cluster (fast: open connections are cut).
    pub fn stop(&self) {
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .output();
    }

    /// Runs `sql` with psql as `user` (password from `password`, if any) on the socket.
    pub fn psql_as(&self, user: &str, password: Option<&str>, sql: &str) -> Output {
        let mut c = Command::new(format!("{BIN}/psql"));
        c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                user,
                "-d",
                DB,
                "-c",
                sql,
            ]);
        if let Some(p) = password {
            c.env("PGPASSWORD", p);
        }
        c.output().unwrap()
    }

    fn psql(&self, user: &str, db: &str, sql: &str) -> Output {
        Command::new(format!("{BIN}/psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                user,
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .unwrap()
    }

    /// The owner's answer to `sql`, trimmed; panics on an error.
    pub fn query(&self, sql: &str) -> String {
        let out = self.psql_as("owner", None, sql);
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
