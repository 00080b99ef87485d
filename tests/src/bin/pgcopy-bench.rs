//! `make bench`: pgcopy against the tools users would pick instead, on the same
//! data, in one run, alternating, several runs each; prints medians and ratios.
//!
//! Knobs: `BENCH_SCALE` (1.0: 200 small tables, a 2 GB table with a primary key
//! and three secondary indexes, pagila repeated 20 times, 100 parent and 100
//! child tables of 2,000 rows), `BENCH_RUNS` (3), `BENCH_PARALLEL` (4),
//! `BENCH_DATASETS` (comma list of small,large,mixed,linked), `BENCH_TOOLS`
//! (comma list of pgcopy,pgcopy-defer,pgcopy-best,pgcopy-subset (5% of each
//! table, `--where 'T: id % 20 = 0'`),psql,pgdump,pgdump-analyze,
//! pgcopydb, and pgcopy-baseline: the build `BENCH_BASELINE_BIN` names),
//! The dataset `oltp` (1M orders, 3M items, 43 foreign keys, 40 small
//! tables; its schema on the source only) is for the whole-move tools:
//! `move-pgcopy` (`pg_dump --schema-only | psql`, then `pgcopy copy`; as
//! superuser, and `move-pgcopy-owner` as the tables' owner `app`;
//! `move-pgcopy-owner-late` restores every key after the load;
//! `move-pgcopy-owner-granted` is the owner granted SET on
//! `session_replication_role`, as drop mode's log suggests),
//! `move-pgdump` (`pg_dump -Fd -j N` + `pg_restore -j N`) and
//! `move-pgcopydb` (`pgcopydb clone`), each timed as a whole into an empty
//! database and checked after (row counts, indexes, valid constraints).
//! `BENCH_LATENCY_MS` (comma list, default 0: with N > 0 every
//! tool reaches both clusters through a proxy that delays each direction by
//! N ms, `pgcopy_tests::latency`).

use pgcopy_tests::latency::LatencyProxy;
use pgcopy_tests::{fixture, pgcopy_bin, Cluster, SUPERUSER_PASSWORD};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Instant;

fn env_or<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn list_env(k: &str, d: &str) -> Vec<String> {
    std::env::var(k)
        .unwrap_or_else(|_| d.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect()
}

/// CPU seconds used so far by a cluster: its postmaster (with reaped children)
/// and every live child. Live processes are read in nanoseconds
/// (`schedstat`): in clock ticks, each would be truncated to 10 ms, as much
/// as a small copy's client spends in all.
fn server_cpu(c: &Cluster) -> f64 {
    let pid_file =
        std::fs::read_to_string(c.root().join("data/postmaster.pid")).unwrap_or_default();
    let Some(pm) = pid_file
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<u32>().ok())
    else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces).
    let fields = |stat: &str| -> Vec<String> {
        stat[stat.rfind(')').map(|i| i + 2).unwrap_or(0)..]
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let tick = |f: &[String], i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let on_cpu = |pid: &str| -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0.0, |ns| ns as f64 / 1e9)
    };
    // Reaped children: accumulated in nanoseconds, truncated to ticks once.
    let mut total = std::fs::read_to_string(format!("/proc/{pm}/stat"))
        .map(|s| {
            let f = fields(&s);
            (tick(&f, 13) + tick(&f, 14)) as f64 / 100.0
        })
        .unwrap_or(0.0)
        + on_cpu(&pm.to_string());
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        if fields(&stat).get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pm) {
            total += on_cpu(&e.file_name().to_string_lossy());
        }
    }
    total
}

/// The CPU seconds of a command's processes, from bash's `times` (to the
/// millisecond: GNU time's are truncated to 10 ms).
fn children_cpu(times: &str) -> Option<f64> {
    let secs = |v: &str| -> Option<f64> {
        let (m, s) = v.trim_end_matches('s').split_once('m')?;
        Some(m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
    };
    let children = times.lines().nth(1)?;
    let mut it = children.split_whitespace();
    Some(secs(it.next()?)? + secs(it.next()?)?)
}

struct Sample {
    wall: f64,
    cpu: Option<f64>,
    rss_mb: Option<f64>,
    server_cpu: f64,
}

/// Runs a shell command under GNU time; returns wall seconds, CPU (from
/// bash's `times`) and peak RSS (from GNU time).
fn timed(cmd: &str, src: &Cluster, dst: &Cluster) -> Sample {
    let tf = std::env::temp_dir().join(format!("pgcopy-bench-time-{}", std::process::id()));
    let times = std::env::temp_dir().join(format!("pgcopy-bench-times-{}", std::process::id()));
    let script = format!("{cmd}\nrc=$?; times > '{}'; exit $rc", times.display());
    let cpu0 = server_cpu(src) + server_cpu(dst);
    let start = Instant::now();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&tf)
        .args(["bash", "-o", "pipefail", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run benchmark command");
    let wall = start.elapsed().as_secs_f64();
    if !status.status.success() {
        panic!(
            "benchmark command failed: {cmd}\n{}",
            String::from_utf8_lossy(&status.stderr)
        );
    }
    let cpu1 = server_cpu(src) + server_cpu(dst);
    let rss_kb: Option<f64> = std::fs::read_to_string(&tf)
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok());
    Sample {
        wall,
        cpu: children_cpu(&std::fs::read_to_string(&times).unwrap_or_default()),
        rss_mb: rss_kb.map(|kb| kb / 1024.0),
        server_cpu: cpu1 - cpu0,
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Where the tools reach a cluster: its own port (psql through its socket),
/// or a latency proxy's.
struct Route<'a> {
    cluster: &'a Cluster,
    proxy: Option<LatencyProxy>,
}

impl Route<'_> {
    fn port(&self) -> u16 {
        self.proxy
            .as_ref()
            .map_or(self.cluster.port(), LatencyProxy::port)
    }
}

fn psql(r: &Route, db: &str) -> String {
    match &r.proxy {
        None => format!(
            "psql -X -q -h '{}' -p {} -U postgres -d {db}",
            r.cluster.socket_dir().display(),
            r.cluster.port()
        ),
        Some(p) => format!(
            "PGPASSWORD={SUPERUSER_PASSWORD} psql -X -q -h 127.0.0.1 -p {} -U postgres -d {db}",
            p.port()
        ),
    }
}

fn generate(name: &str, scale: f64, src: &Cluster, dst: &Cluster) {
    src.create_db(name);
    dst.create_db(name);
    let started = Instant::now();
    match name {
        "small" => {
            let mut schema = String::from(
                "CREATE TABLE t000 (id int PRIMARY KEY, v text, n numeric, at timestamptz);\n",
            );
            for i in 1..200 {
                schema.push_str(&format!(
                    "CREATE TABLE t{i:03} (id int PRIMARY KEY, parent int REFERENCES t{:03}, v text, n numeric, at timestamptz);\n",
                    (i - 1) / 2
                ));
            }
            src.psql(name, &schema);
            dst.psql(name, &schema);
            let rows = (5000.0 * scale).max(100.0) as u32;
            let mut data = format!(
                "INSERT INTO t000 SELECT g, md5(g::text), g * 1.5, now() FROM generate_series(1, {rows}) g;\n"
            );
            for i in 1..200 {
                data.push_str(&format!(
                    "INSERT INTO t{i:03} SELECT g, g, md5(g::text), g * 1.5, now() FROM generate_series(1, {rows}) g;\n"
                ));
            }
            src.psql(name, &data);
        }
        "large" => {
            let schema = "CREATE TABLE big (id bigint PRIMARY KEY, account int, label text, amount numeric(12,2),
                                            created timestamptz, payload text);
                          CREATE INDEX big_account ON big (account);
                          CREATE INDEX big_created ON big (created);
                          CREATE INDEX big_label ON big (label);";
            src.psql(name, schema);
            dst.psql(name, schema);
            // About 215 bytes a row on disk: 10M rows ~ 2 GB of heap.
            let rows = (10_000_000.0 * scale) as u64;
            let step = 1_000_000u64;
            let mut from = 1;
            while from <= rows {
                let to = (from + step - 1).min(rows);
                src.psql(
                    name,
                    &format!(
                        "INSERT INTO big SELECT g, (g * 7919) % 100000, 'label-' || (g % 5000), (g % 100000) / 7.0,
                                '2020-01-01'::timestamptz + g * interval '1 second', repeat(md5(g::text), 4)
                           FROM generate_series({from}::bigint, {to}) g"
                    ),
                );
                from = to + 1;
            }
        }
        "linked" => {
            // Small tables linked by FKs: what a copy between regions pays
            // in round trips per table.
            let mut schema = String::new();
            for i in 0..100 {
                schema.push_str(&format!(
                    "CREATE TABLE parent{i:03} (id int PRIMARY KEY, v text, at timestamptz);
                     CREATE TABLE child{i:03} (id int PRIMARY KEY, parent int NOT NULL REFERENCES parent{i:03}, v text);
                     CREATE INDEX ON child{i:03} (parent);\n"
                ));
            }
            src.psql(name, &schema);
            dst.psql(name, &schema);
            let rows = (2000.0 * scale).max(100.0) as u32;
            let mut data = String::new();
            for i in 0..100 {
                data.push_str(&format!(
                    "INSERT INTO parent{i:03} SELECT g, md5(g::text), now() FROM generate_series(1, {rows}) g;
                     INSERT INTO child{i:03} SELECT g, 1 + g % {rows}, md5(g::text) FROM generate_series(1, {rows}) g;\n"
                ));
            }
            src.psql(name, &data);
        }
        "mixed" => {
            src.psql_file(name, &fixture("pagila/pagila-schema.sql"));
            dst.psql_file(name, &fixture("pagila/pagila-schema.sql"));
            src.psql_file(name, &fixture("pagila/pagila-data.sql"));
            // Repeat the big tables' rows with new keys, keeping references valid.
            let times = (20.0 * scale).max(1.0) as u32;
            src.psql(
                name,
                &format!(
                    "SET session_replication_role = replica;
                     INSERT INTO rental (rental_id, rental_date, inventory_id, customer_id, return_date, staff_id, last_update)
                       SELECT rental_id + k * 100000, rental_date + k * interval '1 day', inventory_id, customer_id,
                              return_date + k * interval '1 day', staff_id, last_update
                         FROM rental, generate_series(1, {times}) k WHERE rental_id < 100000;
                     INSERT INTO payment (payment_id, customer_id, staff_id, rental_id, amount, payment_date)
                       SELECT payment_id + k * 100000, customer_id, staff_id, rental_id + k * 100000, amount, payment_date
                         FROM payment, generate_series(1, {times}) k WHERE payment_id < 100000;
                     INSERT INTO film_actor (actor_id, film_id, last_update)
                       SELECT a.actor_id, f.film_id, now() FROM actor a, film f
                        WHERE (a.actor_id * 31 + f.film_id) % 13 = 0
                       ON CONFLICT DO NOTHING;"
                ),
            );
        }
        "oltp" => {
            // The whole move of the issue: an OLTP database whose schema is
            // on the source only. Orders and their items (1M and 3M rows at
            // scale 1), customers and products, keys, secondary indexes,
            // 43 foreign keys and 40 small tables.
            let mut schema = String::from(
                "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, created timestamptz);
                 CREATE TABLE products (id int PRIMARY KEY, sku text NOT NULL UNIQUE, title text, price numeric(10,2));
                 CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
                                      created timestamptz NOT NULL, status text NOT NULL, total numeric(12,2));
                 CREATE INDEX orders_customer ON orders (customer_id);
                 CREATE INDEX orders_created ON orders (created);
                 CREATE TABLE order_items (order_id bigint NOT NULL REFERENCES orders, line int NOT NULL,
                                           product_id int NOT NULL REFERENCES products, quantity int NOT NULL,
                                           price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, line));
                 CREATE INDEX order_items_product ON order_items (product_id);\n",
            );
            for i in 0..40 {
                let target = if i % 2 == 0 { "customers" } else { "products" };
                schema.push_str(&format!(
                    "CREATE TABLE lookup{i:02} (id int PRIMARY KEY, ref int NOT NULL REFERENCES {target}, label text, at timestamptz);\n"
                ));
            }
            src.psql(name, &schema);
            let orders = (1_000_000.0 * scale).max(1000.0) as u64;
            let customers = (orders / 10).max(100);
            let products = 10_000;
            let mut data = format!(
                "INSERT INTO customers SELECT g, 'c' || g || '@example.com', md5(g::text), '2020-01-01'::timestamptz + g * interval '1 minute'
                   FROM generate_series(1, {customers}) g;
                 INSERT INTO products SELECT g, 'sku-' || g, md5(g::text), (g % 1000) / 3.0 FROM generate_series(1, {products}) g;
                 INSERT INTO orders SELECT g, 1 + (g * 7919) % {customers}, '2021-01-01'::timestamptz + g * interval '10 seconds',
                        (ARRAY['new','paid','shipped','returned'])[1 + g % 4], (g % 10000) / 7.0
                   FROM generate_series(1::bigint, {orders}) g;
                 INSERT INTO order_items SELECT o, l, 1 + (o * 31 + l) % {products}, 1 + (o + l) % 5, ((o + l) % 1000) / 3.0
                   FROM generate_series(1, {orders}) o, generate_series(1, 3) l;\n"
            );
            for i in 0..40 {
                let refs = if i % 2 == 0 { customers } else { products };
                data.push_str(&format!(
                    "INSERT INTO lookup{i:02} SELECT g, 1 + g % {refs}, md5(g::text), now() FROM generate_series(1, 2000) g;\n"
                ));
            }
            src.psql(name, &data);
            // Its owner, an application role (`move-pgcopy-owner` copies as it).
            for c in [src, dst] {
                c.psql(
                    "postgres",
                    &format!("DO $$ BEGIN CREATE ROLE {OWNER} LOGIN PASSWORD '{SUPERUSER_PASSWORD}'; EXCEPTION WHEN duplicate_object THEN NULL; END $$"),
                );
            }
            src.psql(
                name,
                &format!(
                    "DO $$ DECLARE t text; BEGIN
                       FOR t IN SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public' LOOP
                         EXECUTE 'ALTER TABLE ' || t || ' OWNER TO {OWNER}';
                       END LOOP;
                     END $$"
                ),
            );
            // The move starts from an empty database: the tools bring the schema.
            dst.psql("postgres", &format!("DROP DATABASE {name}"));
        }
        other => panic!("unknown dataset {other}"),
    }
    src.psql(name, "VACUUM ANALYZE");
    let size = src.psql(
        name,
        "SELECT pg_size_pretty(pg_database_size(current_database()))",
    );
    eprintln!(
        "dataset {name}: {size} generated in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// The role that owns the `oltp` dataset's tables.
const OWNER: &str = "app";

/// An empty destination database for a whole move, its owner's (not timed).
fn empty_dest(dst: &Cluster, db: &str) {
    dst.psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
    );
    dst.psql("postgres", &format!("CREATE DATABASE {db} OWNER {OWNER}"));
}

/// After a whole move: every table has the source's row count and the
/// destination has as many indexes and valid constraints (not timed).
fn check_move(src: &Cluster, dst: &Cluster, db: &str, tool: &str) {
    let census = "SELECT (SELECT string_agg(format('%s %s', c.relname, (xpath('/row/n/text()',
                                query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass), false, true, '')))[1]), ',' ORDER BY c.relname)
                           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.relkind = 'r' AND n.nspname = 'public')
                   || ' | ' || (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public')
                   || ' | ' || (SELECT count(*) FROM pg_constraint WHERE convalidated AND connamespace = 'public'::regnamespace)";
    let (a, b) = (src.psql(db, census), dst.psql(db, census));
    assert_eq!(a, b, "{tool}: the destination differs from the source");
}

/// Empties every user table on the destination (not timed).
fn reset_dest(dst: &Cluster, db: &str) {
    dst.psql(
        db,
        "DO $$ DECLARE t text; BEGIN
           SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO t
             FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'pgcopy');
           IF t IS NOT NULL THEN EXECUTE 'TRUNCATE ' || t; END IF;
           EXECUTE 'DROP SCHEMA IF EXISTS pgcopy CASCADE';
         END $$",
    );
}

fn tables_of(src: &Cluster, db: &str) -> Vec<String> {
    src.psql(
        db,
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgcopy')
          ORDER BY pg_relation_size(c.oid) DESC",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

fn command(
    tool: &str,
    db: &str,
    src: &Route,
    dst: &Route,
    par: u32,
    work: &std::path::Path,
) -> Option<String> {
    let s = format!(
        "postgresql://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{db}",
        src.port()
    );
    let d = format!(
        "postgresql://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{db}",
        dst.port()
    );
    let bin = pgcopy_bin();
    Some(match tool {
        "pgcopy" => format!("{} copy -q -s '{s}' -d '{d}' -p {par}", bin.display()),
        // Another build (BENCH_BASELINE_BIN), to measure a change in one run.
        "pgcopy-baseline" => match std::env::var("BENCH_BASELINE_BIN") {
            Ok(old) => format!("{old} copy -q -s '{s}' -d '{d}' -p {par}"),
            Err(_) => {
                eprintln!("BENCH_BASELINE_BIN is not set: pgcopy-baseline skipped");
                return None;
            }
        },
        "pgcopy-defer" => format!("{} copy -q -s '{s}' -d '{d}' -p {par} --defer-indexes", bin.display()),
        // A 5% subset of every table (`id % 20 = 0`, each filtered table's
        // rows read in the same COPY, chunked): what it costs against the
        // whole copy.
        "pgcopy-subset" => {
            let filters: String = tables_of(src.cluster, db)
                .iter()
                .map(|t| format!(" --where '{t}: id % 20 = 0'"))
                .collect();
            format!(
                "{} copy -q -s '{s}' -d '{d}' -p {par} --no-follow-fks{filters}",
                bin.display()
            )
        }
        "pgcopy-best" => format!(
            "{} copy -q -s '{s}' -d '{d}' -p {par} --no-analyze --split-larger-than 64MB --defer-indexes",
            bin.display()
        ),
        "psql" => {
            // The limit: one psql pair per table, binary COPY piped, N at a time.
            let list = work.join(format!("tables-{db}"));
            std::fs::write(&list, tables_of(src.cluster, db).join("\n")).ok()?;
            // Replica mode on the destination, as pgcopy has it as superuser, so
            // tables load in any order.
            format!(
                "xargs -P {par} -I{{}} bash -o pipefail -c \"{} -c 'COPY {{}} TO STDOUT (FORMAT binary)' | \
                 {} -c 'SET session_replication_role = replica' -c 'COPY {{}} FROM STDIN (FORMAT binary)'\" < {}",
                psql(src, db),
                psql(dst, db),
                list.display()
            )
        }
        "pgdump" => {
            let dir = work.join(format!("dump-{db}"));
            format!(
                "rm -rf {dir} && PGPASSWORD={SUPERUSER_PASSWORD} pg_dump -h 127.0.0.1 -p {sp} -U postgres -Fd -j {par} --data-only -f {dir} {db} && \
                 PGPASSWORD={SUPERUSER_PASSWORD} pg_restore -h 127.0.0.1 -p {dp} -U postgres -j {par} --data-only --disable-triggers -d {db} {dir}",
                dir = dir.display(),
                sp = src.port(),
                dp = dst.port()
            )
        }
        "pgdump-analyze" => {
            // The same, then what pg_restore's documentation asks for next
            // ("run ANALYZE on each restored table"), as pgcopy does by default.
            let tables: String = tables_of(src.cluster, db)
                .iter()
                .map(|t| format!(" -t '{t}'"))
                .collect();
            format!(
                "{} && PGPASSWORD={SUPERUSER_PASSWORD} vacuumdb -q -h 127.0.0.1 -p {} -U postgres -j {par} --analyze-only{tables} {db}",
                command("pgdump", db, src, dst, par, work)?,
                dst.port()
            )
        }
        "pgcopydb" => {
            if Command::new("pgcopydb").arg("--version").output().is_err() {
                eprintln!("pgcopydb is not installed (apt-get install pgcopydb): skipped");
                return None;
            }
            let dir = work.join(format!("pgcopydb-{db}"));
            format!(
                "rm -rf {dir} && pgcopydb copy table-data --source '{s}' --target '{d}' --table-jobs {par} --dir {dir} >/dev/null 2>&1",
                dir = dir.display()
            )
        }
        // A whole move into an empty database: the schema, the data, keys,
        // indexes and foreign keys, each as its users run it.
        "move-pgcopy" => format!(
            "PGPASSWORD={SUPERUSER_PASSWORD} pg_dump -h 127.0.0.1 -p {sp} -U postgres --schema-only {db} | \
             PGPASSWORD={SUPERUSER_PASSWORD} psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p {dp} -U postgres -d {db} >/dev/null && \
             {bin} copy -q -s '{s}' -d '{d}' -p {par}",
            sp = src.port(),
            dp = dst.port(),
            bin = bin.display()
        ),
        // The same, pgcopy connecting as the tables' owner: no replica mode,
        // so the foreign keys go for the load and are validated after it.
        "move-pgcopy-owner" => format!(
            "PGPASSWORD={SUPERUSER_PASSWORD} pg_dump -h 127.0.0.1 -p {sp} -U postgres --schema-only {db} | \
             PGPASSWORD={SUPERUSER_PASSWORD} psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p {dp} -U postgres -d {db} >/dev/null && \
             {bin} copy -q -s '{so}' -d '{do_}' -p {par}",
            sp = src.port(),
            dp = dst.port(),
            bin = bin.display(),
            so = s.replace("postgres:", &format!("{OWNER}:")),
            do_ = d.replace("postgres:", &format!("{OWNER}:")),
        ),
        // The same, the owner granted SET on session_replication_role (the
        // grant drop mode's log names): replica mode, no key validated again.
        // Revoked after, so the other tools run as they would without it.
        "move-pgcopy-owner-granted" => {
            let as_super = format!(
                "PGPASSWORD={SUPERUSER_PASSWORD} psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p {dp} -U postgres -d postgres -c",
                dp = dst.port()
            );
            format!(
                "{as_super} 'GRANT SET ON PARAMETER session_replication_role TO {OWNER}' && \
                 {{ {}; rc=$?; {as_super} 'REVOKE SET ON PARAMETER session_replication_role FROM {OWNER}'; exit $rc; }}",
                command("move-pgcopy-owner", db, src, dst, par, work)?
            )
        }
        // The same with another build (BENCH_BASELINE_BIN), to measure a
        // change to the move in one run.
        "move-pgcopy-owner-baseline" => match std::env::var("BENCH_BASELINE_BIN") {
            Ok(old) => command("move-pgcopy-owner", db, src, dst, par, work)?
                .replace(&bin.display().to_string(), &old),
            Err(_) => {
                eprintln!("BENCH_BASELINE_BIN is not set: move-pgcopy-owner-baseline skipped");
                return None;
            }
        },
        // The same with every key restored after the load (as before the
        // early restore): what restoring keys during the load saves.
        "move-pgcopy-owner-late" => format!(
            "PGCOPY_EARLY_FOREIGN_KEYS=off {}",
            command("move-pgcopy-owner", db, src, dst, par, work)?
        ),
        "move-pgdump" => {
            let dir = work.join(format!("move-dump-{db}"));
            format!(
                "rm -rf {dir} && PGPASSWORD={SUPERUSER_PASSWORD} pg_dump -h 127.0.0.1 -p {sp} -U postgres -Fd -j {par} -f {dir} {db} && \
                 PGPASSWORD={SUPERUSER_PASSWORD} pg_restore -h 127.0.0.1 -p {dp} -U postgres -j {par} -d {db} {dir}",
                dir = dir.display(),
                sp = src.port(),
                dp = dst.port()
            )
        }
        "move-pgcopydb" => {
            if Command::new("pgcopydb").arg("--version").output().is_err() {
                eprintln!("pgcopydb is not installed (apt-get install pgcopydb): skipped");
                return None;
            }
            let dir = work.join(format!("move-pgcopydb-{db}"));
            format!(
                "rm -rf {dir} && pgcopydb clone --source '{s}' --target '{d}' --table-jobs {par} --index-jobs {par} --dir {dir} >/dev/null 2>&1",
                dir = dir.display()
            )
        }
        other => panic!("unknown tool {other}"),
    })
}

fn print_table(
    ds: &str,
    tools: &[String],
    results: &BTreeMap<(String, String), Vec<Sample>>,
    header: bool,
) {
    if header {
        println!("| dataset | tool | median wall s | ratio to pgcopy | client CPU s | client peak RSS MiB | servers' CPU s | client CPU / servers' CPU | servers' CPU / (2 cores × wall) |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    }
    let base = results
        .get(&(ds.to_string(), "pgcopy".into()))
        .or_else(|| results.get(&(ds.to_string(), "move-pgcopy".into())))
        .map(|v| median(&mut v.iter().map(|s| s.wall).collect::<Vec<_>>()))
        .unwrap_or(f64::NAN);
    for tool in tools {
        let Some(samples) = results.get(&(ds.to_string(), tool.clone())) else {
            continue;
        };
        let wall = median(&mut samples.iter().map(|s| s.wall).collect::<Vec<_>>());
        let cpu = median(&mut samples.iter().filter_map(|s| s.cpu).collect::<Vec<_>>());
        let rss = samples.iter().filter_map(|s| s.rss_mb).fold(0.0, f64::max);
        let scpu = median(&mut samples.iter().map(|s| s.server_cpu).collect::<Vec<_>>());
        println!(
            "| {ds} | {tool} | {wall:.2} | {:.2} | {cpu:.2} | {rss:.1} | {scpu:.1} | {:.1}% | {:.0}% |",
            wall / base,
            100.0 * cpu / scpu.max(0.001),
            100.0 * scpu / (2.0 * wall)
        );
    }
}

fn main() {
    let scale: f64 = env_or("BENCH_SCALE", 1.0);
    let runs: usize = env_or("BENCH_RUNS", 3);
    let par: u32 = env_or("BENCH_PARALLEL", 4);
    let datasets = list_env("BENCH_DATASETS", "small,large,mixed");
    let tools = list_env(
        "BENCH_TOOLS",
        "pgcopy,pgcopy-defer,pgcopy-best,psql,pgdump,pgdump-analyze,pgcopydb",
    );
    eprintln!("pgcopy bench: scale {scale}, {runs} runs, -p {par}, datasets {datasets:?}, tools {tools:?}");
    let work = std::env::temp_dir().join(format!("pgcopy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    // On disk, not in memory where the tests' clusters live: a benchmark
    // measures what a server writes.
    let (src, dst) = (
        Cluster::start_in("bench-source", &work.join("source"), false),
        Cluster::start_in("bench-destination", &work.join("destination"), false),
    );
    // Autovacuum would analyze what a tool loaded (or leave for it) during
    // whichever tool runs next, charging it for another's work: each tool's
    // own ANALYZE, or none, is what is timed.
    for c in [&src, &dst] {
        c.psql("postgres", "ALTER SYSTEM SET autovacuum = off");
        c.psql("postgres", "SELECT pg_reload_conf()");
    }
    let latencies: Vec<u64> = list_env("BENCH_LATENCY_MS", "0")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    let mut results: BTreeMap<(String, String), Vec<Sample>> = BTreeMap::new();
    let mut first = true;
    for ds in &datasets {
        generate(ds, scale, &src, &dst);
        for &ms in &latencies {
            let route = |c| Route {
                cluster: c,
                proxy: (ms > 0)
                    .then(|| LatencyProxy::start(c.port(), std::time::Duration::from_millis(ms))),
            };
            let (s, d) = (route(&src), route(&dst));
            let label = match ms {
                0 => ds.clone(),
                ms => format!("{ds} at {ms} ms each way"),
            };
            for run in 0..runs {
                // Alternate the order from run to run so no tool always runs first.
                let mut order = tools.clone();
                order.rotate_left(run % tools.len().max(1));
                for tool in &order {
                    let whole_move = tool.starts_with("move-");
                    match whole_move {
                        true => empty_dest(&dst, ds),
                        false => reset_dest(&dst, ds),
                    }
                    dst.psql(ds, "CHECKPOINT");
                    src.psql(ds, "CHECKPOINT");
                    let Some(cmd) = command(tool, ds, &s, &d, par, &work) else {
                        continue;
                    };
                    let sample = timed(&cmd, &src, &dst);
                    if whole_move {
                        check_move(&src, &dst, ds, tool);
                    }
                    eprintln!("  {label} run {} {tool}: {:.2} s", run + 1, sample.wall);
                    results
                        .entry((label.clone(), tool.clone()))
                        .or_default()
                        .push(sample);
                }
            }
            print_table(&label, &tools, &results, first);
            first = false;
        }
        dst.psql("postgres", &format!("DROP DATABASE IF EXISTS {ds}"));
        src.psql("postgres", &format!("DROP DATABASE {ds}"));
    }
    let _ = std::fs::remove_dir_all(&work);
}
