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
        let mut args = vec!["--no-progress"];
        args.extend_from_slice(extra);
        copy(&s, &d, &args)
    }

    /// Gives the destination database to a new non-superuser `app`, which
    /// runs each of `scripts` there (its schema), each in a session of its
    /// own; returns `app`'s destination URL.
    pub fn give_destination_to_app(&self, scripts: &[&str]) -> String {
        self.dst.psql(
            "postgres",
            &format!(
                "CREATE ROLE app LOGIN PASSWORD 'app-pw'; ALTER DATABASE {} OWNER TO app;",
                self.db
            ),
        );
        for sql in scripts {
            self.dst
                .try_psql_as(&self.db, "app", sql)
                .expect("schema as app");
        }
        self.dst.url_for(&self.db, "app", "app-pw")
    }

    /// Asserts both sides hold the same rows in `tables` (`schema.name`).
    pub fn assert_same_data_in(&self, tables: &[&str]) {
        let (a, b) = (
            fingerprint(&self.src, &self.db),
            fingerprint(&self.dst, &self.db),
        );
        for t in tables {
            assert!(a.tables.contains_key(*t), "no table {t} on the source");
            assert_eq!(a.tables.get(*t), b.tables.get(*t), "{t} differs");
        }
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

/// The fixtures' tables are small: the tests defer the indexes of tables of
/// any size, as `--defer-indexes-above 0` would (unless a test sets the
/// variable itself), so every copy exercises the drop, save and rebuild of
/// indexes; `fks::small_tables_keep_their_indexes_by_default` runs the
/// default.
pub const DEFER_INDEXES_ABOVE: (&str, &str) = ("PGCOPY_DEFER_INDEXES_ABOVE", "0");

/// Runs the real pgcopy binary with a clean environment.
pub fn pgcopy(args: &[&str]) -> Run {
    pgcopy_env(args, &[])
}

/// `pgcopy copy -s SRC -d DST EXTRA...`.
pub fn copy(src: &str, dst: &str, extra: &[&str]) -> Run {
    copy_env(src, dst, extra, &[])
}

/// `pgcopy copy -s SRC -d DST EXTRA...` with extra environment variables.
pub fn copy_env(src: &str, dst: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec!["copy", "-s", src, "-d", dst];
    args.extend_from_slice(extra);
    pgcopy_env(&args, env)
}

/// How many foreign keys (and NOT VALID checks) jobs saved and have not put back
/// (`pgcopy.pending_fks`) on the pair's destination.
pub fn pending_fks(p: &Pair) -> String {
    scalar(&p.dst, &p.db, "SELECT count(*) FROM pgcopy.pending_fks")
}

/// How many saved foreign keys (and NOT VALID checks) are not back as
/// they were on the pair's destination: not restored, or restored with
/// another validity than they had.
pub fn keys_not_back(p: &Pair) -> String {
    scalar(
        &p.dst,
        &p.db,
        "SELECT count(*) FROM pgcopy.saved_fks WHERE restored_at IS NULL OR restored_valid <> was_validated",
    )
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
    c.env(DEFER_INDEXES_ABOVE.0, DEFER_INDEXES_ABOVE.1);
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
    let [tables, sequences] = c.psql_parts(db, [TABLES_SQL, SEQUENCES_SQL]);
    data_fingerprint(&tables, &sequences)
}

/// The rows of every table outside `pgcopy` as `name|count|digest` lines.
const TABLES_SQL: &str = r#"SELECT format('SELECT %L, count(*), md5(coalesce(string_agg(md5(t::text), '''' ORDER BY md5(t::text)), '''')) FROM ONLY %s t',
                         n.nspname || '.' || c.relname, c.oid::regclass)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pgcopy'
              AND n.nspname !~ '^pg_toast'
            ORDER BY 1 \gexec"#;

/// Every sequence's state outside `pgcopy` as `name|last_value|is_called`.
const SEQUENCES_SQL: &str = r#"SELECT format('SELECT %L, last_value, is_called FROM %s', n.nspname || '.' || c.relname, c.oid::regclass)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'S' AND n.nspname !~ '^pgcopy' ORDER BY 1 \gexec"#;

/// A [`Fingerprint`] from the answers of [`TABLES_SQL`] and [`SEQUENCES_SQL`].
fn data_fingerprint(tables: &str, sequences: &str) -> Fingerprint {
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

/// Asserts `db` on `c` has no state schema `pgcopy`: what was refused, or
/// only planned, created nothing, not even it.
pub fn assert_no_state_schema(c: &Cluster, db: &str) {
    assert_eq!(
        scalar(
            c,
            db,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgcopy'"
        ),
        "0",
        "the state schema was created"
    );
}

/// One value from a query.
pub fn scalar(c: &Cluster, db: &str, sql: &str) -> String {
    c.psql(db, sql).trim().to_string()
}

/// Everything that must match after a copy, constraints included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullFingerprint {
    /// Rows and sequences.
    pub data: Fingerprint,
    /// (table, name, definition, validated) of every FK.
    pub fks: String,
    /// (table, trigger, enabled) of every user trigger.
    pub triggers: String,
    /// Every index definition outside `pgcopy`.
    pub indexes: String,
}

/// Every table constraint (foreign keys, primary keys, unique, exclusion,
/// CHECK, and PostgreSQL 18's NOT NULL) with its definition, validity, the
/// index it uses and its comment, then every NOT NULL column; and user
/// trigger states (outside `pgcopy`).
pub fn constraints_and_triggers(c: &Cluster, db: &str) -> (String, String) {
    let [constraints, triggers] = c.psql_parts(db, [CONSTRAINTS_SQL, TRIGGERS_SQL]);
    (constraints, triggers)
}

/// Every table constraint and NOT NULL column ([`constraints_and_triggers`]).
const CONSTRAINTS_SQL: &str = "SELECT * FROM (
           SELECT conrelid::regclass::text AS rel, conname::text AS name, pg_get_constraintdef(oid), convalidated,
                  conindid::regclass, coalesce(obj_description(oid, 'pg_constraint'), '')
             FROM pg_constraint
            WHERE conrelid <> 0 AND connamespace::regnamespace::text !~ '^pgcopy'
           UNION ALL
           SELECT a.attrelid::regclass::text, a.attname::text, 'NOT NULL column', NULL, NULL, NULL
             FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid
            WHERE a.attnotnull AND a.attnum > 0 AND NOT a.attisdropped AND t.relkind IN ('r', 'p')
              AND t.relnamespace::regnamespace::text NOT IN ('pg_catalog', 'pg_toast', 'information_schema')
              AND t.relnamespace::regnamespace::text !~ '^pgcopy') x
          ORDER BY rel, name, 3";

/// Every user trigger's state ([`constraints_and_triggers`]).
const TRIGGERS_SQL: &str = "SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          WHERE NOT tgisinternal AND c.relnamespace::regnamespace::text !~ '^pgcopy'
          ORDER BY tgrelid::regclass::text, tgname";

/// The schema a copy must leave as it found it: constraints (with the index
/// each uses) and NOT NULL columns, indexes with what hangs on them, and
/// triggers.
pub fn schema_of(c: &Cluster, db: &str) -> (String, String, String) {
    let [constraints, indexes, triggers] =
        c.psql_parts(db, [CONSTRAINTS_SQL, INDEXES_SQL, TRIGGERS_SQL]);
    (constraints, indexes, triggers)
}

/// The full fingerprint of a database.
pub fn full_fingerprint(c: &Cluster, db: &str) -> FullFingerprint {
    let [fks, triggers, indexes, tables, sequences] = c.psql_parts(
        db,
        [
            CONSTRAINTS_SQL,
            TRIGGERS_SQL,
            INDEXES_SQL,
            TABLES_SQL,
            SEQUENCES_SQL,
        ],
    );
    FullFingerprint {
        data: data_fingerprint(&tables, &sequences),
        fks,
        triggers,
        indexes,
    }
}

/// A pair whose destination database belongs to the non-superuser `app`, who
/// created the `schema` files there; the source has the schema and `data`.
/// Returns the pair and `app`'s destination URL.
pub fn owner_pair(db: &str, schema: &[&str], data: &[&str]) -> (Pair, String) {
    let p = Pair::new(db);
    for f in schema.iter().chain(data) {
        p.src.psql_file(&p.db, &pgcopy_tests::fixture(f));
    }
    let sql: Vec<String> = schema
        .iter()
        .map(|f| std::fs::read_to_string(pgcopy_tests::fixture(f)).unwrap())
        .collect();
    let d = p.give_destination_to_app(&sql.iter().map(String::as_str).collect::<Vec<_>>());
    (p, d)
}

/// pagila on the source, and its schema on a destination database the
/// non-superuser `app` owns and created it in (without the superuser's
/// `OWNER TO` statements); returns the pair and `app`'s destination URL.
pub fn pagila_owner_pair(db: &str) -> (Pair, String) {
    let p = Pair::new(db);
    let schema = std::fs::read_to_string(fixture("pagila/pagila-schema.sql")).unwrap();
    let owned: String = schema
        .lines()
        .filter(|l| !l.contains("OWNER TO"))
        .collect::<Vec<_>>()
        .join("\n");
    for f in ["pagila/pagila-schema.sql", "pagila/pagila-data.sql"] {
        p.src.psql_file(&p.db, &fixture(f));
    }
    let d = p.give_destination_to_app(&[&owned]);
    (p, d)
}

/// [`owner_pair`] with the awkward and foreign-key fixtures, plus `extra_rows`
/// more rows in a partitioned table.
pub fn owner_pair_all_fixtures(db: &str, extra_rows: u32) -> (Pair, String) {
    let (p, d) = owner_pair(
        db,
        &["awkward-schema.sql", "fks-schema.sql"],
        &["awkward-data.sql", "fks-data.sql"],
    );
    p.src.psql(
        &p.db,
        &format!(
            "INSERT INTO measurement SELECT i, DATE '2024-01-01' + i % 700, 1 + i % 100 FROM generate_series(1000, {}) i; ANALYZE",
            1000 + extra_rows
        ),
    );
    (p, d)
}

/// Starts `pgcopy copy` in the background with extra arguments and environment.
pub fn spawn_copy(
    src: &str,
    dst: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Child {
    let mut c = Command::new(pgcopy_bin());
    c.args(["copy", "-s", src, "-d", dst]).args(extra);
    for (k, _) in std::env::vars() {
        if k.starts_with("PG") || k == "RUST_LOG" {
            c.env_remove(&k);
        }
    }
    c.env(DEFER_INDEXES_ABOVE.0, DEFER_INDEXES_ABOVE.1);
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pgcopy")
}

/// A small seeded pseudo-random generator (xorshift64*), so fault tests print a
/// seed that replays them.
pub struct Rng(u64);

impl Rng {
    /// From `$var` if set, else from the clock; prints the seed.
    pub fn from_env(var: &str) -> Rng {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{var}={seed}");
        Rng(seed.max(1))
    }
    /// Part `part` of a test split in several: from `$var` if set, else
    /// from the clock, then told apart by the part; prints the seed.
    pub fn from_env_part(var: &str, part: u64) -> Rng {
        let Rng(seed) = Rng::from_env(var);
        Rng((seed ^ part.wrapping_mul(0x9E37_79B9_7F4A_7C15)).max(1))
    }
    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        lo + self.0.wrapping_mul(0x2545F4914F6CDD1D) % (hi - lo).max(1)
    }
}

/// `pg_get_indexdef` of every index outside `pgcopy`, with its validity, the
/// partitioned index it is attached to, and what hangs on it (replica
/// identity, CLUSTER ON, comment, statistics targets, tablespace), plus each
/// table's replica identity setting where it is not the default; sorted.
pub fn index_set(c: &Cluster, db: &str) -> String {
    c.psql(db, INDEXES_SQL)
}

/// Every index and what hangs on it ([`index_set`]).
const INDEXES_SQL: &str = "SELECT pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' (invalid)' END
                || coalesce(' attached to ' || (SELECT h.inhparent::regclass::text FROM pg_inherits h
                                                  WHERE h.inhrelid = i.indexrelid), '')
                || CASE WHEN i.indisreplident THEN ' (replica identity)' ELSE '' END
                || CASE WHEN i.indisclustered THEN ' (clustered)' ELSE '' END
                || coalesce(' comment ' || obj_description(i.indexrelid, 'pg_class'), '')
                || coalesce(' statistics ' || (SELECT string_agg(a.attnum || '=' || a.attstattarget, ','
                                                                ORDER BY a.attnum)
                                                 FROM pg_attribute a
                                                WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0), '')
                || coalesce(' tablespace ' || (SELECT spcname FROM pg_tablespace WHERE oid = c.reltablespace), '')
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE c.relnamespace::regnamespace::text NOT IN ('pg_catalog', 'pg_toast', 'information_schema')
            AND c.relnamespace::regnamespace::text !~ '^pgcopy'
         UNION ALL
         SELECT t.oid::regclass::text || ' replica identity ' || t.relreplident::text
           FROM pg_class t
          WHERE t.relkind IN ('r', 'p') AND t.relreplident <> 'd'
            AND t.relnamespace::regnamespace::text NOT IN ('pg_catalog', 'pg_toast', 'information_schema')
            AND t.relnamespace::regnamespace::text !~ '^pgcopy'
          ORDER BY 1";

/// Reads the child's stderr until a line contains `pattern`, then SIGKILLs it.
pub fn kill_after(child: &mut std::process::Child, pattern: &str) {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(child.stderr.take().expect("stderr piped"));
    let mut line = String::new();
    let mut seen = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            panic!("pgcopy ended ({status}) before `{pattern}`; its stderr:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains(pattern) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// What pgcopy records of the index `index` (a qualified name) when it drops
/// it (`pgcopy_core::bindings`), as JSON text: for tests that write a saved
/// row by hand, as a member of the job's creator may.
pub fn index_bindings(c: &Cluster, db: &str, index: &str) -> String {
    let sql = pgcopy_core::bindings::bindings_sql(
        "'pg_catalog.pg_class'::pg_catalog.regclass",
        &format!(
            "{}::pg_catalog.regclass::pg_catalog.oid",
            pgcopy_core::quote::quote_literal(index)
        ),
    );
    scalar(c, db, &format!("SELECT {sql}"))
}

/// [`index_bindings`] of the constraint `name` on `table` (a qualified name).
pub fn constraint_bindings(c: &Cluster, db: &str, table: &str, name: &str) -> String {
    let sql = pgcopy_core::bindings::bindings_sql(
        "'pg_catalog.pg_constraint'::pg_catalog.regclass",
        &format!(
            "(SELECT oid FROM pg_catalog.pg_constraint WHERE conrelid = {}::pg_catalog.regclass AND conname = {})",
            pgcopy_core::quote::quote_literal(table),
            pgcopy_core::quote::quote_literal(name)
        ),
    );
    scalar(c, db, &format!("SELECT {sql}"))
}
