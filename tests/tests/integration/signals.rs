//! Never worse than a kill -9: signals heard in every phase, no panic on a
//! closed pipe, a role taken on, or a silent server.

use crate::common::{
    assert_no_state_schema, pagila_owner_pair, pgcopy, pgcopy_env, scalar, schema_of, Pair,
};
use pgcopy_tests::pgcopy_bin;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A table of `rows` rows with three indexes, on both sides (rows on the
/// source).
fn indexed(p: &Pair, rows: u32) {
    let ddl = "CREATE TABLE big (id int PRIMARY KEY, a int, b text, c timestamptz);
               CREATE INDEX big_a ON big (a); CREATE INDEX big_b ON big (b); CREATE INDEX big_c ON big (c);
               CREATE TABLE side (id int PRIMARY KEY, big_id int REFERENCES big);";
    p.src.psql(&p.db, ddl);
    p.dst.psql(&p.db, ddl);
    p.src.psql(
        &p.db,
        &format!(
            "INSERT INTO big SELECT g, g % 97, md5(g::text), now() - g * interval '1 minute'
               FROM generate_series(1, {rows}) g;
             INSERT INTO side SELECT g, g FROM generate_series(1, 100) g;"
        ),
    );
}

/// `pgcopy copy` as the superuser in the background, stderr read by the
/// test, with `env`.
fn spawn(p: &Pair, extra: &[&str], env: &[(&str, &str)]) -> Child {
    let (s, d) = p.urls();
    let mut c = Command::new(pgcopy_bin());
    c.args(["copy", "-s", &s, "-d", &d, "--no-progress"])
        .args(extra);
    for (k, _) in std::env::vars() {
        if k.starts_with("PG") || k == "RUST_LOG" {
            c.env_remove(&k);
        }
    }
    c.env("PGCOPY_DEFER_INDEXES_ABOVE", "0");
    for (k, v) in env {
        c.env(k, v);
    }
    c.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pgcopy")
}

/// Waits until the job's phase is `phase` (from psql), then sends `signal`
/// (`INT`, `TERM`, `HUP`) and returns the exit code, everything the run
/// wrote on stderr, and how long it took to end after the signal.
fn signal_in_phase(
    p: &Pair,
    mut child: Child,
    phase: &str,
    signal: &str,
) -> (i32, String, Duration) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let phase_now =
        "SELECT coalesce((SELECT phase FROM pgcopy.jobs ORDER BY job_id DESC LIMIT 1), '')";
    // One psql for every look (before the state schema exists, the look
    // fails and answers nothing).
    let mut look = p.dst.psql_session(&p.db);
    loop {
        if look.query(phase_now) == phase {
            break;
        }
        assert!(Instant::now() < deadline, "the copy never reached {phase}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    let mut err = String::new();
    for line in std::io::BufReader::new(child.stderr.take().expect("stderr")).lines() {
        err.push_str(&line.unwrap_or_default());
        err.push('\n');
    }
    let status = child.wait().expect("wait");
    (status.code().unwrap_or(-1), err, sent.elapsed())
}

/// SIGINT while the indexes are rebuilt after the load: the builds are
/// cancelled, the run says what it did and the one command that finishes
/// it, and ends with 130 in seconds; the resume does only what is left
/// (drops nothing again) and ends identical.
#[test]
fn sigint_during_the_index_builds_stops_at_once_and_the_resume_ends_identical() {
    let p = Pair::new("sigindexes");
    indexed(&p, 20_000);
    let before = schema_of(&p.dst, &p.db);
    let child = spawn(
        &p,
        &["--defer-indexes"],
        &[("PGCOPY_FAILPOINT", "index-build:4000")],
    );
    let (code, err, took) = signal_in_phase(&p, child, "indexes", "INT");
    assert_eq!(code, 130, "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}:\n{err}");
    assert!(
        err.contains("stopped by SIGINT: job 1 copied 2 of 2 chunks")
            && err.contains("finish it with `pgcopy copy --resume`"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT state FROM pgcopy.jobs WHERE job_id = 1"
        ),
        "interrupted"
    );
    let resumed = p.copy(&["--resume"]);
    resumed.expect_code(0);
    assert!(
        !resumed.stderr.contains("saved and dropped"),
        "{}",
        resumed.stderr
    );
    p.assert_same_data();
    assert_eq!(schema_of(&p.dst, &p.db), before);
}

/// SIGTERM during the load ends with 143, SIGHUP (a closed terminal) with
/// 129; each leaves a job the resume finishes identical.
#[test]
fn sigterm_and_sighup_leave_a_resumable_job() {
    let p = Pair::new("sigtermhup");
    indexed(&p, 20_000);
    let before = schema_of(&p.dst, &p.db);
    for (signal, expected, phase, delay) in [
        ("TERM", 143, "load", "before-chunk-commit:3000"),
        ("HUP", 129, "indexes", "index-build:4000"),
    ] {
        let child = spawn(
            &p,
            &["--split-larger-than", "256kB", "-p", "2"],
            &[("PGCOPY_FAILPOINT", delay)],
        );
        let (code, err, took) = signal_in_phase(&p, child, phase, signal);
        assert_eq!(code, expected, "SIG{signal}:\n{err}");
        assert!(took < Duration::from_secs(15), "took {took:?}:\n{err}");
        assert!(err.contains(&format!("stopped by SIG{signal}")), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        p.copy(&["--resume"]).expect_code(0);
        p.assert_same_data();
        assert_eq!(schema_of(&p.dst, &p.db), before);
    }
}

/// A reader that goes away (`2>&1 | head`, a closed terminal) ends the
/// output, never the run: no panic, the job ends as it would have, and
/// every command's output may be cut short.
#[test]
fn closed_stdout_or_stderr_never_panics_and_never_fails_the_job() {
    let p = Pair::new("closedpipes");
    indexed(&p, 5_000);
    let (s, d) = p.urls();
    for closed in ["stderr", "stdout"] {
        let mut c = Command::new(pgcopy_bin());
        c.args(["copy", "-s", &s, "-d", &d, "--no-progress", "-v"]);
        let (out, err) = match closed {
            "stderr" => (Stdio::null(), Stdio::piped()),
            _ => (Stdio::piped(), Stdio::null()),
        };
        let mut child = c.stdout(out).stderr(err).spawn().expect("spawn");
        // Closed before pgcopy writes a byte.
        drop(child.stderr.take());
        drop(child.stdout.take());
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(0), "{closed} closed");
        assert_eq!(
            scalar(
                &p.dst,
                &p.db,
                "SELECT state FROM pgcopy.jobs ORDER BY job_id DESC LIMIT 1"
            ),
            "succeeded",
            "{closed} closed"
        );
    }
    p.assert_same_data();
    // Every command, its stdout closed at once.
    for args in [
        vec!["completions", "zsh"],
        vec!["completions", "bash"],
        vec!["--help"],
        vec!["list", "-s", &s],
        vec!["copy", "-s", &s, "-d", &d, "--dry-run"],
        vec!["status", "-d", &d],
        vec!["jobs", "list", "-d", &d],
        vec!["restore-fks", "-d", &d],
        vec!["verify", "-s", &s, "-d", &d],
        vec!["version"],
    ] {
        let mut child = Command::new(pgcopy_bin())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// A superuser session acting as the tables' owner (`-c role=app`): the
/// copy goes as that role would, ends identical, and nothing panics (the
/// progress poll read a NULL for sessions the role may not see).
#[test]
fn a_superuser_acting_as_the_owner_copies_as_the_owner() {
    let (p, _) = pagila_owner_pair("actingrole");
    let before = schema_of(&p.dst, &p.db);
    let (s, _) = p.urls();
    let d = format!("{}?options=-c%20role%3Dapp", p.dst.url(&p.db));
    let run = pgcopy_env(
        &["copy", "-s", &s, "-d", &d, "--no-progress"],
        &[("PGCOPY_DEFER_INDEXES_ABOVE", "0")],
    );
    run.expect_code(0);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    p.assert_same_data();
    assert_eq!(schema_of(&p.dst, &p.db), before);
}

/// `connect_timeout` bounds each host's whole attempt, as libpq's does: a
/// server that accepts the connection and never answers fails the run in
/// about that time.
#[test]
fn connect_timeout_bounds_a_server_that_never_answers() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(2) {
            conns.push(c);
            std::thread::sleep(Duration::from_secs(1));
        }
        std::thread::sleep(Duration::from_secs(10));
        drop(conns);
    });
    let url = format!("postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=2&sslmode=disable");
    let started = Instant::now();
    let run = pgcopy(&["list", "-s", &url]);
    let took = started.elapsed();
    run.expect_code(1);
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(
        run.stderr.contains("no answer within connect_timeout (2s)"),
        "{}",
        run.stderr
    );
    drop(held);
}

/// Starts a session on the destination that holds `mode` on `table` for
/// `secs` seconds, and returns once it holds it.
fn hold_lock(p: &Pair, table: &str, mode: &str, secs: u32) -> Child {
    let holder = p.dst.psql_in_background(
        &p.db,
        &format!("BEGIN; LOCK TABLE {table} IN {mode} MODE; SELECT pg_sleep({secs}); COMMIT"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while scalar(
        &p.dst,
        &p.db,
        &format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
              WHERE a.application_name = 'lock holder' AND l.granted
                AND l.relation = '{table}'::regclass"
        ),
    ) != "1"
    {
        assert!(
            Instant::now() < deadline,
            "the lock holder never got its lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    holder
}

#[test]
fn a_lock_wait_is_logged_with_its_holder_and_the_copy_goes_on_once_it_ends() {
    let p = Pair::new("lockwait");
    indexed(&p, 2000);
    let before = schema_of(&p.dst, &p.db);
    let mut holder = hold_lock(&p, "big", "ACCESS SHARE", 4);
    let child = spawn(&p, &[], &[]);
    let out = child.wait_with_output().expect("wait");
    holder.wait().ok();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("for a lock on public.big, held by session")
            && err.contains("(lock holder)")
            && err.contains("--lock-wait-timeout"),
        "{err}"
    );
    assert_eq!(schema_of(&p.dst, &p.db), before);
    p.assert_same_data();
}

#[test]
fn lock_wait_timeout_fails_the_copy_and_names_the_table_and_the_way_back() {
    let p = Pair::new("locktimeout");
    indexed(&p, 2000);
    // Rows to truncate: the load needs the table to itself.
    p.dst.psql(
        &p.db,
        "INSERT INTO big SELECT g, 0, 'old' FROM generate_series(1, 10) g",
    );
    let before = schema_of(&p.dst, &p.db);
    let rows_before = scalar(&p.dst, &p.db, "SELECT count(*) FROM big");
    let mut holder = hold_lock(&p, "big", "ACCESS SHARE", 60);
    let started = Instant::now();
    let child = spawn(&p, &["--lock-wait-timeout", "2s"], &[]);
    let out = child.wait_with_output().expect("wait");
    let took = started.elapsed();
    holder.kill().ok();
    holder.wait().ok();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(took < Duration::from_secs(30), "took {took:?}: {err}");
    assert!(
        err.contains("lock on public.big, held by session")
            && err.contains("error: truncating the destination tables: canceling statement due to lock timeout: another session held a lock"),
        "{err}"
    );
    // Nothing of the destination is lost: what the copy took apart is back,
    // or waits in the state schema for the command the error names.
    assert_eq!(schema_of(&p.dst, &p.db), before, "{err}");
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM big"),
        rows_before
    );
    // A bad value is refused before anything is done.
    let (s, d) = p.urls();
    let run = crate::common::copy(&s, &d, &["--lock-wait-timeout", "soon"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--lock-wait-timeout \"soon\" is not a duration"),
        "{}",
        run.stderr
    );
}

/// Ctrl-C while a server keeps the copy waiting at connect: exit 130 at
/// once, nothing changed, and `--summary-json` says so.
#[test]
fn sigint_while_connecting_stops_at_once_and_the_summary_says_stopped() {
    let p = Pair::new("sigconnect");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(20));
        drop(conns);
    });
    let source = format!("postgresql://postgres@127.0.0.1:{port}/x?sslmode=disable");
    let (_, d) = p.urls();
    let path =
        std::env::temp_dir().join(format!("pgcopy-summary-stop-{}.json", std::process::id()));
    let mut c = Command::new(pgcopy_bin());
    c.args(["copy", "-s", &source, "-d", &d, "--summary-json"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(sent.elapsed() < Duration::from_secs(5), "{err}");
    assert!(
        err.contains("stopped by SIGINT while connecting and setting up: nothing was changed"),
        "{err}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("summary")).expect("json");
    std::fs::remove_file(&path).ok();
    assert_eq!(doc["state"], "stopped");
    assert_eq!(doc["exit_code"], 130);
    assert_eq!(doc["job_id"], serde_json::Value::Null);
    assert_no_state_schema(&p.dst, &p.db);
    drop(held);
}
