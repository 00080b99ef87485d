//! Chaos: copies stopped at a random moment of a random phase by a random
//! one of SIGINT, SIGTERM, SIGHUP, SIGKILL, a closed stdout or a closed
//! stderr. After each, the copy either ended identical, or the command it
//! (or, after a SIGKILL, the next copy) advises brings the destination back
//! identical: data, sequences, large objects, and the schema (keys, indexes,
//! foreign keys and their validity, triggers and their modes). No constraint
//! is lost and nothing panics. `PGCOPY_CHAOS_RUNS` (default 40; `make chaos` runs 100)
//! are shared by four tests; `PGCOPY_CHAOS_SEED` and one test's name replay
//! that test's runs.

use crate::common::{owner_pair, pgcopy_env, scalar, schema_of, Rng};
use pgcopy_tests::pgcopy_bin;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What stops a run.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Signal(&'static str),
    Kill,
    ClosedStdout,
    ClosedStderr,
}

const FAULTS: [Fault; 6] = [
    Fault::Signal("INT"),
    Fault::Signal("TERM"),
    Fault::Signal("HUP"),
    Fault::Kill,
    Fault::ClosedStdout,
    Fault::ClosedStderr,
];

/// The phases a run goes through, as `jobs.phase` names them.
const PHASES: [&str; 8] = [
    "setup",
    "before-load",
    "load",
    "indexes",
    "triggers",
    "large-objects",
    "sequences",
    "foreign-keys",
];

/// Slows each step a little, so every phase lasts long enough to be hit.
const SLOW: &str = "before-truncate:150,before-chunk-commit:120,index-build:150,fk-validation:150";

/// The runs are shared by this many tests, each with its own pair of
/// clusters: a run mostly waits (for a phase, a signal, a resume), so four
/// quarters side by side take a quarter of the time, not of the CPU.
const PARTS: u64 = 4;

#[test]
fn copies_stopped_at_random_end_identical_once_the_advice_is_followed_1() {
    stopped_at_random(1);
}

#[test]
fn copies_stopped_at_random_end_identical_once_the_advice_is_followed_2() {
    stopped_at_random(2);
}

#[test]
fn copies_stopped_at_random_end_identical_once_the_advice_is_followed_3() {
    stopped_at_random(3);
}

#[test]
fn copies_stopped_at_random_end_identical_once_the_advice_is_followed_4() {
    stopped_at_random(4);
}

/// Part `part` of [`PARTS`]: its share of `PGCOPY_CHAOS_RUNS`.
fn stopped_at_random(part: u64) {
    let all: u64 = std::env::var("PGCOPY_CHAOS_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    let runs = all / PARTS + u64::from(part <= all % PARTS);
    let mut rng = Rng::from_env_part("PGCOPY_CHAOS_SEED", part);
    // As the destination's owner (drop mode: keys, deferred indexes and
    // foreign keys all go and come back), with large objects, a
    // materialized view, sequences and a trigger.
    let (p, app) = owner_pair(
        &format!("chaos{part}"),
        &["fks-schema.sql"],
        &["fks-data.sql"],
    );
    let extra = "CREATE TABLE page (id int PRIMARY KEY, body oid, note text);
                 CREATE INDEX page_note ON page (note);
                 CREATE MATERIALIZED VIEW page_count AS SELECT count(*) AS n FROM page;
                 CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
                 CREATE TRIGGER page_touch BEFORE INSERT ON page FOR EACH ROW EXECUTE FUNCTION touch();";
    p.src.psql(&p.db, extra);
    p.dst
        .try_psql_as(&p.db, "app", extra)
        .expect("extra as app");
    p.src.psql(
        &p.db,
        "INSERT INTO page SELECT g, lo_from_bytea(0, convert_to('page ' || g, 'UTF8')), 'n' || g % 50
           FROM generate_series(1, 300) g;
         INSERT INTO measurement SELECT i, DATE '2024-01-01' + i % 700, 1 + i % 100
           FROM generate_series(1000, 40000) i;",
    );
    p.src
        .psql(&p.db, "REFRESH MATERIALIZED VIEW page_count; ANALYZE");
    // The large objects belong to app on the source too, so app may copy
    // them.
    p.src.psql("postgres", "CREATE ROLE app NOLOGIN");
    p.src.psql(
        &p.db,
        "DO $$ DECLARE o oid; BEGIN FOR o IN SELECT oid FROM pg_largeobject_metadata LOOP
             EXECUTE format('ALTER LARGE OBJECT %s OWNER TO app', o); END LOOP; END $$;",
    );
    let before = schema_of(&p.dst, &p.db);
    let (s, _) = p.urls();
    let mut tally: std::collections::BTreeMap<String, u32> = Default::default();
    // Every look at the phase goes through one psql: a psql and a backend
    // for each look, every 50 ms, cost more than the copies watched.
    let mut look = p.dst.psql_session(&p.db);
    for run in 0..runs {
        let fault = FAULTS[rng.range(0, FAULTS.len() as u64) as usize];
        let phase = PHASES[rng.range(0, PHASES.len() as u64) as usize];
        let wait_ms = rng.range(0, 250);
        let mut child = Command::new(pgcopy_bin())
            .args([
                "copy",
                "-s",
                &s,
                "-d",
                &app,
                "--no-progress",
                "-p",
                "2",
                "--split-larger-than",
                "512kB",
            ])
            .env("PGCOPY_DEFER_INDEXES_ABOVE", "0")
            .env("PGCOPY_FAILPOINT", SLOW)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pgcopy");
        // Until the phase comes (or the run ends first).
        let deadline = Instant::now() + Duration::from_secs(30);
        let phase_now =
            "SELECT coalesce((SELECT j.phase FROM pgcopy.jobs j WHERE j.state = 'running' \
                          ORDER BY j.job_id DESC LIMIT 1), '')";
        // Before the state schema exists the look fails, and answers
        // nothing.
        let reached = loop {
            if child.try_wait().expect("try_wait").is_some() {
                break false;
            }
            if (phase == "setup" && Instant::now() + Duration::from_secs(29) > deadline)
                || look.query(phase_now) == phase
            {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(wait_ms));
        let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
        match fault {
            Fault::Signal(sig) => {
                Command::new("kill")
                    .arg(format!("-{sig}"))
                    .arg(child.id().to_string())
                    .stderr(Stdio::null())
                    .status()
                    .expect("kill");
            }
            Fault::Kill => child.kill().expect("kill -9"),
            Fault::ClosedStdout => drop(out.take()),
            Fault::ClosedStderr => drop(err.take()),
        }
        let mut text = String::new();
        if let Some(mut e) = err {
            e.read_to_string(&mut text).ok();
        }
        if let Some(mut o) = out {
            let mut stdout = String::new();
            o.read_to_string(&mut stdout).ok();
            text.push_str(&stdout);
        }
        let status = child.wait().expect("wait");
        let code = status.code();
        assert!(
            !text.contains("panicked"),
            "run {run} ({fault:?} in {phase}): a panic:\n{text}"
        );
        // Follow the advice until the copy ends identical.
        let advised = match (fault, code) {
            (_, Some(0)) => "none",
            (Fault::Signal(_), Some(129 | 130 | 143)) => {
                assert!(
                    text.contains("pgcopy copy --resume")
                        || text.contains("nothing was changed on the destination"),
                    "run {run} ({fault:?} in {phase}): no advice:\n{text}"
                );
                "resume"
            }
            (Fault::Kill, None) => "resume",
            _ => panic!("run {run} ({fault:?} in {phase}): exit {code:?}:\n{text}"),
        };
        if advised == "resume" {
            // A job recorded before the stop continues; one never recorded
            // (a stop during setup) leaves nothing to resume, and a new copy
            // runs.
            let resumable = scalar(
                &p.dst,
                &p.db,
                "SELECT count(*) FROM pg_namespace n WHERE n.nspname = 'pgcopy'",
            ) == "1"
                && scalar(
                    &p.dst,
                    &p.db,
                    "SELECT count(*) FROM pgcopy.jobs WHERE state NOT IN ('succeeded', 'discarded')",
                ) != "0";
            let args = [
                "copy",
                "-s",
                &s,
                "-d",
                &app,
                "--no-progress",
                "-p",
                "2",
                "--split-larger-than",
                "512kB",
            ];
            let mut args = args.to_vec();
            if resumable {
                args.push("--resume");
            }
            // A job killed while running holds its backend a moment after.
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let r = pgcopy_env(&args, &[("PGCOPY_DEFER_INDEXES_ABOVE", "0")]);
                if r.code == 0 {
                    break;
                }
                assert!(
                    Instant::now() < deadline
                        && r.stderr.contains("is running on the destination right now"),
                    "run {run} ({fault:?} in {phase}): the advised command failed:\n{}{}",
                    r.stdout,
                    r.stderr
                );
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        *tally
            .entry(format!(
                "{fault:?} in {phase}{}",
                if reached { "" } else { " (ended first)" }
            ))
            .or_default() += 1;
        p.assert_same_data();
        assert_eq!(
            schema_of(&p.dst, &p.db),
            before,
            "run {run} ({fault:?} in {phase}): the schema differs"
        );
        assert_eq!(
            scalar(
                &p.dst,
                &p.db,
                "SELECT (SELECT count(*) FROM pgcopy.saved_fks WHERE restored_at IS NULL)
                      + (SELECT count(*) FROM pgcopy.saved_indexes WHERE restored_at IS NULL)"
            ),
            "0",
            "run {run}: something saved is not back"
        );
        assert_eq!(
            scalar(&p.dst, &p.db, "SELECT n FROM page_count"),
            scalar(&p.src, &p.db, "SELECT n FROM page_count"),
            "run {run}: the materialized view"
        );
        assert_eq!(
            crate::copy::large_objects(&p.dst, &p.db),
            crate::copy::large_objects(&p.src, &p.db),
            "run {run}: large objects"
        );
    }
    eprintln!("chaos part {part}: {runs} runs, each ending identical: {tally:?}");
}
