/*!
Throwaway PostgreSQL clusters for pgcopy's tests, demo and benchmarks.

[`Cluster::start`] runs `initdb` (once per machine, into a cached template that
later clusters copy) and `pg_ctl start` in a directory of its own under
[`cluster_dir`] (memory, where the machine has it) on a free
loopback port, with `fsync=off`; dropping the [`Cluster`] stops the server and
removes the directory, also when a test panics. As root, the server runs as the
`postgres` OS user, since `initdb` refuses root.

Superuser `postgres` logs in over the socket without a password and over TCP
with [`SUPERUSER_PASSWORD`], so tests exercise real password authentication.
*/
#![deny(missing_docs)]

pub mod every_type;
pub mod latency;
pub mod versions;

pub use versions::{bindir_for, VERSIONS};

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Password of the `postgres` superuser over TCP.
pub const SUPERUSER_PASSWORD: &str = "pgcopy-test-su";

/// The OS user servers run as when we are root.
const SERVER_OS_USER: &str = "postgres";

/// A running PostgreSQL cluster in a directory of its own.
#[derive(Debug)]
pub struct Cluster {
    /// Short name, for messages ("source", "destination").
    pub name: String,
    root: PathBuf,
    port: u16,
    bindir: PathBuf,
    keep: bool,
    running: bool,
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The server binaries: `$PG_BINDIR`, else `pg_config --bindir` of `$PG_CONFIG`
/// (default `pg_config`), else PostgreSQL 15's Debian location. Asked once a
/// process (the suite asked pg_config about a thousand times).
pub fn bindir() -> PathBuf {
    static BINDIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINDIR
        .get_or_init(|| {
            if let Ok(d) = std::env::var("PG_BINDIR") {
                return PathBuf::from(d);
            }
            let pg_config = std::env::var("PG_CONFIG").unwrap_or_else(|_| "pg_config".into());
            if let Ok(out) = Command::new(pg_config).arg("--bindir").output() {
                if out.status.success() {
                    let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                    if d.join("initdb").exists() {
                        return d;
                    }
                }
            }
            PathBuf::from("/usr/lib/postgresql/15/bin")
        })
        .clone()
}

/// Runs a server-side program, as the `postgres` OS user when we are root, and
/// without `RUST_BACKTRACE` (it would leak Rust backtraces into error details).
fn server_command(program: &Path) -> Command {
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", SERVER_OS_USER, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    c.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    c
}

fn run_ok(mut c: Command, what: &str) -> Output {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not run {c:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn chown_to_server_user(path: &Path) {
    if is_root() {
        let mut c = Command::new("chown");
        c.arg("-R")
            .arg(format!("{SERVER_OS_USER}:{SERVER_OS_USER}"))
            .arg(path);
        run_ok(c, "chown");
    }
}

/// A free TCP port on loopback (the OS picks one; we let it go right away).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Where clusters live: `$PGCOPY_CLUSTER_DIR`, else `/dev/shm` when it is a
/// memory file system with at least [`MEMORY_DIR_MIN_FREE_KB`] free, else the
/// temporary directory.
///
/// Memory, because on this kind of machine creating a file on disk costs
/// about a millisecond of system time: a cluster's template holds 966 files,
/// each `CREATE DATABASE` writes 300 more, every TRUNCATE and index build
/// another few; copying the templates alone took 172 of the integration
/// suite's 767 CPU seconds. The benchmarks start their clusters on disk
/// ([`Cluster::start_in`]), so they measure what a server writes. The
/// Makefile's `MEMORY_DIR` (the pgrx tests' server) follows the same rule.
pub fn cluster_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("PGCOPY_CLUSTER_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        let shm = PathBuf::from("/dev/shm");
        let free_kb = Command::new("df")
            .args(["-k", "--output=fstype,avail"])
            .arg(&shm)
            .output()
            .ok()
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                let line = text.lines().nth(1)?.to_owned();
                let mut words = line.split_whitespace();
                (words.next()? == "tmpfs").then_some(())?;
                words.next()?.parse::<u64>().ok()
            });
        match free_kb {
            Some(kb) if kb >= MEMORY_DIR_MIN_FREE_KB => shm,
            _ => std::env::temp_dir(),
        }
    })
    .clone()
}

/// The free space `/dev/shm` needs to hold the test clusters (4 GiB; a
/// container's default of 64 MiB does not qualify).
pub const MEMORY_DIR_MIN_FREE_KB: u64 = 4 << 20;

/// Runs `initdb` once into a cached template directory and returns it.
fn template(bindir: &Path) -> PathBuf {
    let version = Command::new(bindir.join("postgres"))
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .replace([' ', '(', ')'], "_")
        })
        .unwrap_or_default();
    let base = cluster_dir().join(format!("pgcopy-initdb-template-{version}-v1"));
    if base.join("PG_VERSION").exists() {
        return base;
    }
    let staging = cluster_dir().join(format!(
        "pgcopy-initdb-staging-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).expect("create template dir");
    let pwfile = staging.join("pwfile");
    std::fs::write(&pwfile, SUPERUSER_PASSWORD).expect("write pwfile");
    let data = staging.join("data");
    chown_to_server_user(&staging);
    let mut c = server_command(&bindir.join("initdb"));
    c.arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ])
        .args(["--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        .arg(format!("--pwfile={}", pwfile.display()));
    run_ok(c, "initdb");
    // Another process may have won the race: then use its template.
    if std::fs::rename(&data, &base).is_err() && !base.join("PG_VERSION").exists() {
        panic!("could not install initdb template at {}", base.display());
    }
    let _ = std::fs::remove_dir_all(&staging);
    base
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Cluster {
    /// Starts a fresh cluster in a new directory under [`cluster_dir`],
    /// removed on drop.
    pub fn start(name: &str) -> Cluster {
        let root = cluster_dir().join(format!(
            "pgcopy-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        Self::start_in(name, &root, false)
    }

    /// The server's major version (15 for 15.4).
    pub fn major(&self) -> u32 {
        self.psql("postgres", "SHOW server_version_num")
            .trim()
            .parse::<u32>()
            .expect("server_version_num")
            / 10_000
    }

    /// Starts a fresh cluster of PostgreSQL `major` (see [`bindir_for`]).
    pub fn start_version(name: &str, major: u32) -> Cluster {
        let root = cluster_dir().join(format!(
            "pgcopy-{name}{major}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        Self::start_with(name, &root, false, bindir_for(major))
    }

    /// Starts a cluster in `root` (created from the template if it holds none),
    /// kept on drop when `keep` (for `make demo`).
    pub fn start_in(name: &str, root: &Path, keep: bool) -> Cluster {
        Self::start_with(name, root, keep, bindir())
    }

    fn start_with(name: &str, root: &Path, keep: bool, bindir: PathBuf) -> Cluster {
        let data = root.join("data");
        if !data.join("PG_VERSION").exists() {
            let tpl = template(&bindir);
            std::fs::create_dir_all(root).expect("create cluster dir");
            let mut c = Command::new("cp");
            c.arg("-a").arg(&tpl).arg(&data);
            run_ok(c, "copy template");
        }
        std::fs::create_dir_all(root.join("socket")).expect("socket dir");
        chown_to_server_user(root);
        let mut cluster = Cluster {
            name: name.to_string(),
            root: root.to_path_buf(),
            port: 0,
            bindir,
            keep,
            running: false,
        };
        cluster.start_server();
        cluster
    }

    fn start_server(&mut self) {
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let opts = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=60 \
                 -c shared_buffers=64MB -c log_min_messages=warning -c max_wal_size=2GB",
                self.root.join("socket").display()
            );
            let mut c = server_command(&self.bindir.join("pg_ctl"));
            c.arg("-D")
                .arg(self.root.join("data"))
                .arg("-l")
                .arg(self.root.join("server.log"))
                .args(["-w", "-t", "60", "-o", &opts, "start"])
                .stdout(Stdio::null());
            let out = c.output().expect("run pg_ctl");
            if out.status.success() {
                self.port = port;
                self.running = true;
                let _ = std::fs::write(self.root.join("port"), port.to_string());
                return;
            }
            last_err = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
            );
        }
        panic!(
            "cluster {}: pg_ctl start failed 5 times:\n{last_err}",
            self.name
        );
    }

    /// Stops the server: `mode` is `pg_ctl`'s `-m` (smart, fast, immediate).
    pub fn stop_with(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        let mut c = server_command(&self.bindir.join("pg_ctl"));
        c.arg("-D")
            .arg(self.root.join("data"))
            .args(["-m", mode, "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = c.status();
        self.running = false;
    }

    /// Starts the server again on the same port after a stop.
    pub fn restart(&mut self) {
        let port = self.port;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=60 -c shared_buffers=64MB",
            self.root.join("socket").display()
        );
        let mut c = server_command(&self.bindir.join("pg_ctl"));
        c.arg("-D")
            .arg(self.root.join("data"))
            .arg("-l")
            .arg(self.root.join("server.log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"])
            .stdout(Stdio::null());
        run_ok(c, "pg_ctl restart");
        self.running = true;
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> PathBuf {
        self.root.join("socket")
    }

    /// The cluster's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A TCP connection URL for `user` with `password` to `db`.
    pub fn url_for(&self, db: &str, user: &str, password: &str) -> String {
        format!(
            "postgresql://{user}:{password}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// A TCP connection URL for the superuser to `db`.
    pub fn url(&self, db: &str) -> String {
        self.url_for(db, "postgres", SUPERUSER_PASSWORD)
    }

    /// `psql` as the superuser over the socket: unaligned, tuples only, stops at
    /// the first error. Returns stdout, or stderr as the error.
    pub fn try_psql_as(&self, db: &str, user: &str, sql: &str) -> Result<String, String> {
        let out = self
            .psql_command(db, user)
            .args(["-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(sql.as_bytes())?;
                child.wait_with_output()
            })
            .expect("run psql");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// `psql` as the superuser in the background (a session that holds a
    /// lock while a test runs); the caller kills or waits for it.
    pub fn psql_in_background(&self, db: &str, sql: &str) -> std::process::Child {
        self.psql_command(db, "postgres")
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGAPPNAME", "lock holder")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn psql")
    }

    /// psql (the system's, or this cluster's own where its major ships one)
    /// as `user` to `db` over the socket, without psqlrc or a password from
    /// the environment; the caller adds its output options and its SQL.
    fn psql_command(&self, db: &str, user: &str) -> Command {
        // The npm builds carry no psql: the system's talks to every major.
        let psql = Some(self.bindir.join("psql"))
            .filter(|p| p.exists())
            .unwrap_or_else(|| bindir().join("psql"));
        let mut c = Command::new(psql);
        c.arg("-X")
            .arg("-h")
            .arg(self.socket_dir())
            .args(["-p", &self.port.to_string(), "-U", user, "-d", db])
            .env_remove("PGPASSWORD");
        c
    }

    /// One psql kept open as the superuser, for a test that looks many
    /// times (a poll every 50 ms): a psql and a backend started for each
    /// look cost more CPU than the copy being watched.
    pub fn psql_session(&self, db: &str) -> PsqlSession {
        let mut child = self
            .psql_command(db, "postgres")
            .args(["-A", "-t", "-q"])
            .env("PGAPPNAME", "test poll")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn psql");
        let stdin = child.stdin.take().expect("psql stdin");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("psql stdout"));
        PsqlSession {
            child,
            stdin,
            stdout,
        }
    }

    /// [`Cluster::try_psql_as`] as superuser, panicking on error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql_as(db, "postgres", sql)
            .unwrap_or_else(|e| panic!("psql on {} ({db}) failed: {e}\nSQL: {sql}", self.name))
    }

    /// Several queries through one psql as the superuser, each answer as
    /// [`Cluster::psql`] gives it: a fingerprint of five parts is one psql
    /// and one backend, not five. A query ends with `;` added, unless it
    /// ends with a psql meta-command (`\gexec`).
    pub fn psql_parts<const N: usize>(&self, db: &str, queries: [&str; N]) -> [String; N] {
        const PART_END: &str = "--pgcopy-test-part--";
        let mut script = String::new();
        for q in queries {
            let q = q.trim_end();
            script.push_str(q);
            if !q.ends_with("\\gexec") {
                script.push(';');
            }
            script.push_str(&format!("\n\\echo {PART_END}\n"));
        }
        let out = self.psql(db, &script);
        let mut parts = Vec::with_capacity(N);
        let mut part = String::new();
        for line in out.lines() {
            if line == PART_END {
                parts.push(part.trim_end().to_string());
                part.clear();
            } else {
                part.push_str(line);
                part.push('\n');
            }
        }
        parts
            .try_into()
            .unwrap_or_else(|p: Vec<String>| panic!("psql answered {} parts of {N}", p.len()))
    }

    /// Runs a SQL file with psql as superuser.
    pub fn psql_file(&self, db: &str, path: &Path) {
        let sql = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        self.psql(db, &sql);
    }

    /// Creates a database.
    pub fn create_db(&self, db: &str) {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE \"{}\"", db.replace('"', "\"\"")),
        );
    }

    /// Turns TLS on with this certificate and key, and makes TCP logins require
    /// it (`hostssl` only), by editing the cluster's files and reloading.
    pub fn require_ssl(&self, cert_pem: &Path, key_pem: &Path) {
        let data = self.root.join("data");
        std::fs::copy(cert_pem, data.join("server.crt")).expect("copy cert");
        std::fs::copy(key_pem, data.join("server.key")).expect("copy key");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod key");
        let hba = std::fs::read_to_string(data.join("pg_hba.conf")).expect("read pg_hba.conf");
        let hba: String = hba
            .lines()
            .map(|l| {
                if l.starts_with("host ") {
                    l.replacen("host ", "hostssl ", 1)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(data.join("pg_hba.conf"), hba + "\n").expect("write pg_hba.conf");
        chown_to_server_user(&data);
        self.psql(
            "postgres",
            "ALTER SYSTEM SET ssl = on; SELECT pg_reload_conf();",
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Lets `user` log in over TLS with a client certificate signed by the CA
    /// in `ca_pem` (pg_hba `cert`, ahead of every other line), and only so.
    pub fn trust_client_certs(&self, ca_pem: &Path, user: &str) {
        let data = self.root.join("data");
        std::fs::copy(ca_pem, data.join("root.crt")).expect("copy CA");
        let hba = std::fs::read_to_string(data.join("pg_hba.conf")).expect("read pg_hba.conf");
        std::fs::write(
            data.join("pg_hba.conf"),
            format!("hostssl all {user} 127.0.0.1/32 cert\n{hba}"),
        )
        .expect("write pg_hba.conf");
        chown_to_server_user(&data);
        self.psql(
            "postgres",
            &format!(
                "ALTER SYSTEM SET ssl_ca_file = 'root.crt'; CREATE ROLE {user} LOGIN; \
                 GRANT pg_read_all_data TO {user}; SELECT pg_reload_conf();"
            ),
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Waits until the server accepts connections (after a restart).
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.try_psql_as("postgres", "postgres", "SELECT 1").is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// A psql session kept open ([`Cluster::psql_session`]): each query goes to
/// its stdin, and its answer is read back up to a marker line. A query that
/// fails answers nothing (its error goes nowhere): a poll reads that as "not
/// yet".
pub struct PsqlSession {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl PsqlSession {
    /// The rows `sql` (one statement) returns, unaligned, one a line,
    /// trimmed; empty when it fails or returns none.
    pub fn query(&mut self, sql: &str) -> String {
        use std::io::{BufRead, Write};
        const END: &str = "--pgcopy-test-end--";
        write!(
            self.stdin,
            "{};\n\\echo {END}\n",
            sql.trim_end().trim_end_matches(';')
        )
        .and_then(|()| self.stdin.flush())
        .expect("write to psql");
        let mut answer = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            let read = self.stdout.read_line(&mut line).expect("read from psql");
            assert!(read > 0, "psql ended: the server went away?");
            if line.trim_end() == END {
                return answer.trim().to_string();
            }
            answer.push_str(&line);
        }
    }
}

impl Drop for PsqlSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops a kept cluster in `root` (started by [`Cluster::start_in`] with `keep`)
/// and removes its directory.
pub fn stop_dir(root: &Path) {
    if root.join("data").exists() {
        let mut c = server_command(&bindir().join("pg_ctl"));
        c.arg("-D")
            .arg(root.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = c.status();
    }
    let _ = std::fs::remove_dir_all(root);
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        self.stop_with("immediate");
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `pgcopy` binary under test: `$PGCOPY_BIN`, else `target/debug/pgcopy`.
pub fn pgcopy_bin() -> PathBuf {
    if let Ok(p) = std::env::var("PGCOPY_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    let p = target.join("debug").join("pgcopy");
    assert!(
        p.exists(),
        "{} not found: build it first with `cargo build -p pgcopy-cli` (make test does)",
        p.display()
    );
    p
}

/// A fixture file under `tests/fixtures`.
pub fn fixture(rel: &str) -> PathBuf {
    repo_root().join("tests").join("fixtures").join(rel)
}
