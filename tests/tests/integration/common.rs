//! Shared fixtures: a source and a destination cluster per test, the pgcopy
//! binary, and fingerprints (rows + order-independent digest per table,
//! sequences, triggers, FK definitions) to compare the two sides.

use pgcopy_tests::{fixture, pgcopy_bin, Cluster};
use std::collections::BTreeMap;
use std::process::{Command, Output};

/// Two real clusters and a database on each named after the test.
pub struct Pair {
    pub src: Cluster,
    pub dst: Cluster,
    pub db: String,
}

impl Pair {
    /// Starts both clusters and creates the test's database on each.
    pub fn new(db: &str) -> Pair {
        let (src, dst) = std::thread::scope(|s| {
            let a = s.spawn(|| Cluster::start("source"));
            let b = s.spawn(|| Cluster::start("destination"));
            (a.join().expect("source"), b.join().expect("destination"))
        });
        src.create_db(db);
        dst.create_db(db);
        Pair {
            src,
            dst,
            db: db.to_string(),
        }
    }

    /// Loads `schema` files on both sides and `data` files on the source.
    pub fn load(&self, schema: &[&str], data: &[&str]) {
        for f in schema {
            self.src.psql_file(&self.db, &fixture(f));
            self.dst.psql_file(&self.db, &fixture(f));
        }
        for f in data {
            self.src.psql_file(&self.db, &fixture(f));
        }
    }

    /// Superuser URLs of both sides.
    pub fn urls(&self) -> (String, String) {
        (self.src.url(&self.db), self.dst.url(&self.db))
    }

    /// `pgcopy copy -s SRC -d DST <extra>` as superuser.
    pub fn copy(&self, extra: &[&str]) -> Run {
        let (s, d) = self.urls();
        let mut args = vec!["copy", "-s", &s, "-d", &d, "--no-progress"];
        args.extend_from_slice(extra);
        pgcopy(&args)
    }

    /// Asserts both sides hold the same rows in every table (and sequences).
    pub fn assert_same_data(&self) {
        let a = fingerprint(&self.src, &self.db);
        let b = fingerprint(&self.dst, &self.db);
        assert!(!a.tables.is_empty(), "no tables to compare");
        assert_eq!(a.tables, b.tables, "table contents differ");
        assert_eq!(a.sequences, b.sequences, "sequences differ");
    }
}

/// Output of one pgcopy run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the full output unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    /// The `error:` lines of stderr.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }
}

/// Runs the real pgcopy binary with a clean environment.
pub fn pgcopy(args: &[&str]) -> Run {
    pgcopy_env(args, &[])
}

/// Runs pgcopy with extra environment variables.
pub fn pgcopy_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(pgcopy_bin());
    c.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("PG") || k == "RUST_LOG" {
            c.env_remove(&k);
        }
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out: Output = c.output().expect("run pgcopy");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// What is compared between source and destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// table -> (rows, digest of sorted row texts)
    pub tables: BTreeMap<String, (i64, String)>,
    /// sequence -> (last_value, is_called)
    pub sequences: BTreeMap<String, String>,
}

/// Rows and digest of every table, and every sequence's state.
pub fn fingerprint(c: &Cluster, db: &str) -> Fingerprint {
    let tables = c.psql(
        db,
        r#"SELECT format('SELECT %L, count(*), md5(coalesce(string_agg(md5(t::text), '''' ORDER BY md5(t::text)), '''')) FROM ONLY %s t',
                         n.nspname || '.' || c.relname, c.oid::regclass)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgcopy')
              AND n.nspname !~ '^pg_toast'
            ORDER BY 1 \gexec"#,
    );
    let sequences = c.psql(
        db,
        r#"SELECT format('SELECT %L, last_value, is_called FROM %s', n.nspname || '.' || c.relname, c.oid::regclass)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'S' AND n.nspname NOT IN ('pgcopy') ORDER BY 1 \gexec"#,
    );
    let mut fp = Fingerprint {
        tables: BTreeMap::new(),
        sequences: BTreeMap::new(),
    };
    for line in tables.lines().filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.rsplitn(3, '|').collect();
        fp.tables.insert(
            parts[2].to_string(),
            (parts[1].parse().expect("count"), parts[0].to_string()),
        );
    }
    for line in sequences.lines().filter(|l| !l.is_empty()) {
        let (name, rest) = line.split_once('|').expect("seq line");
        fp.sequences.insert(name.to_string(), rest.to_string());
    }
    fp
}

/// One value from a query.
pub fn scalar(c: &Cluster, db: &str, sql: &str) -> String {
    c.psql(db, sql).trim().to_string()
}
