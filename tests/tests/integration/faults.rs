//! Fault injection on real clusters: the client killed at random points and
//! resumed, the destination restarted mid-copy, source connections cut. Zero lost
//! or duplicated rows, zero lost constraints. `FAULT_ITERATIONS` (default 10)
//! runs more kills; `FAULT_SEED` replays a run.

use crate::common::{full_fingerprint, owner_pair_all_fixtures, scalar, spawn_copy, Rng};
use std::time::{Duration, Instant};

fn has_unfinished_job(c: &pgcopy_tests::Cluster, db: &str) -> bool {
    scalar(c, db, "SELECT to_regclass('pgcopy.jobs') IS NOT NULL") == "t"
        && scalar(
            c,
            db,
            "SELECT count(*) FROM pgcopy.jobs WHERE state NOT IN ('succeeded', 'discarded')",
        ) != "0"
}

#[test]
fn random_kills_then_resume_lose_and_duplicate_nothing() {
    let iterations: u32 = std::env::var("FAULT_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let mut rng = Rng::from_env("FAULT_SEED");
    let (p, d) = owner_pair_all_fixtures("faultkills", 30_000);
    let (s, _) = p.urls();
    let before = full_fingerprint(&p.dst, &p.db);
    let mut kills = 0;
    let mut finished_early = 0;
    // Keep going until `iterations` kills landed mid-run (bounded): a run that
    // finishes before its kill time starts the next one fresh.
    let mut attempts = 0;
    while kills < iterations && attempts < iterations * 4 {
        attempts += 1;
        let unfinished = has_unfinished_job(&p.dst, &p.db);
        let mut args = vec!["-p", "2", "--split-larger-than", "64kB", "--no-analyze"];
        if unfinished {
            args.push("--resume");
        }
        let mut child = spawn_copy(
            &s,
            &d,
            &args,
            &[("PGCOPY_FAILPOINT", "before-chunk-commit:80")],
        );
        std::thread::sleep(Duration::from_millis(rng.range(50, 1800)));
        if child.try_wait().unwrap().is_some() {
            finished_early += 1;
        } else {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    // Finish whatever is left.
    let resume: &[&str] = if has_unfinished_job(&p.dst, &p.db) {
        &["--resume"]
    } else {
        &[]
    };
    let mut child = spawn_copy(&s, &d, resume, &[]);
    assert!(child.wait().unwrap().success(), "the final run failed");
    let src = full_fingerprint(&p.src, &p.db);
    let dst = full_fingerprint(&p.dst, &p.db);
    assert_eq!(src.data, dst.data, "rows lost or duplicated");
    assert_eq!(dst.fks, before.fks, "a constraint was lost or changed");
    assert_eq!(dst.triggers, before.triggers, "a trigger was left disabled");
    assert_eq!(crate::common::pending_fks(&p), "0");
    eprintln!(
        "fault suite: survived {kills} kills ({finished_early} runs finished before their kill)"
    );
    assert_eq!(kills, iterations, "too few kills landed in {attempts} runs");
}

#[test]
fn destination_restart_mid_copy_is_survived() {
    let (mut p, d) = owner_pair_all_fixtures("faultrestart", 30_000);
    let (s, _) = p.urls();
    let before = full_fingerprint(&p.dst, &p.db);
    let mut child = spawn_copy(
        &s,
        &d,
        &["-p", "2", "--split-larger-than", "64kB", "--retries", "8"],
        &[("PGCOPY_FAILPOINT", "before-chunk-commit:100")],
    );
    // Wait until some chunks are committed, then crash the destination.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let done = p.dst.try_psql_as(
            &p.db,
            "postgres",
            "SELECT count(*) FROM pgcopy.job_chunks WHERE state = 'done'",
        );
        if done.is_ok_and(|n| n.trim().parse::<i64>().unwrap_or(0) >= 3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    p.dst.stop_with("immediate");
    std::thread::sleep(Duration::from_millis(1500));
    p.dst.restart();
    let status = child.wait().unwrap();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "copy did not survive the restart:\n{err}");
    assert!(err.contains("retrying"), "{err}");
    let src = full_fingerprint(&p.src, &p.db);
    let dst = full_fingerprint(&p.dst, &p.db);
    assert_eq!(src.data, dst.data);
    assert_eq!(dst.fks, before.fks);
    assert_eq!(dst.triggers, before.triggers);
    eprintln!(
        "fault suite: survived 1 destination restart (pg_ctl -m immediate){}",
        if err.contains("were lost by it") {
            ", re-copying chunks whose commits the crash lost"
        } else {
            ""
        }
    );
}

#[test]
fn source_connections_cut_mid_chunk_are_survived() {
    let (p, d) = owner_pair_all_fixtures("faultcut", 30_000);
    let (s, _) = p.urls();
    let before = full_fingerprint(&p.dst, &p.db);
    let mut child = spawn_copy(
        &s,
        &d,
        &["-p", "2", "--split-larger-than", "64kB"],
        &[("PGCOPY_FAILPOINT", "before-chunk-commit:100")],
    );
    let mut terminated = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while terminated < 3 && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        let n: i64 = scalar(
            &p.src,
            &p.db,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE application_name LIKE 'pgcopy worker%' AND state <> 'idle'",
        )
        .parse()
        .unwrap();
        terminated += n;
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(terminated > 0, "no worker connection was cut");
    assert!(
        status.success(),
        "copy did not survive {terminated} cut connections:\n{err}"
    );
    let src = full_fingerprint(&p.src, &p.db);
    let dst = full_fingerprint(&p.dst, &p.db);
    assert_eq!(src.data, dst.data);
    assert_eq!(dst.fks, before.fks);
    eprintln!("fault suite: survived {terminated} source connection terminations");
}

/// A pair whose table `t` (`schema` on both sides) holds 500 rows on the
/// source.
fn table_of_500(db: &str, schema: &str) -> crate::common::Pair {
    let p = crate::common::Pair::new(db);
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g",
    );
    p
}

/// The destination counts the rows a load inserts and the COMMIT goes out
/// with that check: when the count is not the source's, nothing of the
/// chunk is committed or marked done, the run fails with the reason, and a
/// resume copies the table exactly once.
#[test]
fn a_count_the_server_rejects_commits_nothing() {
    let p = table_of_500("miscount", "CREATE TABLE t (id int PRIMARY KEY, v text)");
    let (s, d) = p.urls();
    let run = crate::common::pgcopy_env(
        &["copy", "-s", &s, "-d", &d, "--no-progress"],
        &[("PGCOPY_FAILPOINT", "miscount")],
    );
    run.expect_code(3);
    assert!(
        run.stderr.contains(
            "row count mismatch: the source sent 500 rows, and the destination counted another number \
             inserted by the load; nothing of this chunk was committed"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        crate::common::scalar(&p.dst, &p.db, "SELECT count(*) FROM t"),
        "0"
    );
    assert_eq!(
        crate::common::scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FILTER (WHERE state = 'done') FROM pgcopy.job_chunks"
        ),
        "0"
    );
    crate::common::copy(&s, &d, &["--resume", "--no-progress"]).expect_code(0);
    p.assert_same_data();
}

/// A chunk committed by an attempt whose client lost its connection (the
/// server still had the COMMIT queued, behind the COPY's tail) is never
/// loaded again by the retry: the retry's mark of the chunk waits for that
/// transaction, finds the chunk done, and its own transaction rolls back.
/// Here psql plays the lost attempt: it marks the chunk done in a
/// transaction it keeps open while the copy's own transaction reaches its
/// mark, and commits no rows, so a second load would show.
#[test]
fn a_retry_never_commits_a_chunk_an_earlier_attempt_committed() {
    let p = table_of_500("zombie", "CREATE TABLE t (id int, v text)");
    let (s, d) = p.urls();
    let child = spawn_copy(
        &s,
        &d,
        &["-p", "1", "--no-progress"],
        &[("PGCOPY_FAILPOINT", "before-chunk-commit:3000")],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while scalar(
        &p.dst,
        &p.db,
        "SELECT to_regclass('pgcopy.job_chunks') IS NOT NULL",
    ) != "t"
        || scalar(&p.dst, &p.db, "SELECT count(*) FROM pgcopy.job_chunks") == "0"
    {
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    p.dst.psql(
        &p.db,
        "BEGIN; UPDATE pgcopy.job_chunks SET state = 'done', rows_copied = 0 WHERE table_name = 't'; \
         SELECT pg_sleep(4); COMMIT",
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the chunk was committed by an earlier attempt"),
        "{stderr}"
    );
    assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM t"), "0");
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT state FROM pgcopy.job_chunks"),
        "done"
    );
}
