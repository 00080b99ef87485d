//! Resuming an interrupted job: exactly once, at chunk granularity.

use crate::common::{
    copy, full_fingerprint, kill_after, owner_pair_all_fixtures, pgcopy, scalar, spawn_copy,
};

#[test]
fn killed_job_is_refused_then_resumed_exactly_once() {
    let (p, d) = owner_pair_all_fixtures("resumeonce", 40_000);
    let (s, _) = p.urls();
    let before_dst = full_fingerprint(&p.dst, &p.db);
    let mut child = spawn_copy(
        &s,
        &d,
        &["-p", "2", "--split-larger-than", "64kB"],
        // Every key after the load: all nine are still saved at the kill
        // (the early restore's cuts are tested in fks.rs and chaos.rs).
        &[
            ("PGCOPY_FAILPOINT", "before-chunk-commit:150"),
            ("PGCOPY_EARLY_FOREIGN_KEYS", "off"),
        ],
    );
    kill_after(&mut child, "copied public.");
    // A COMMIT sent before the kill still ends on the server: read the
    // chunks done once the killed run's sessions are gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while scalar(
        &p.dst,
        &p.db,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgcopy%' \
            AND datname = current_database()",
    ) != "0"
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let done_before: i64 = scalar(
        &p.dst,
        &p.db,
        "SELECT count(*) FROM pgcopy.job_chunks WHERE state = 'done'",
    )
    .parse()
    .unwrap();
    assert!(done_before > 0);
    // Triggers are disabled and recorded; FKs are saved.
    assert_ne!(
        scalar(&p.dst, &p.db, "SELECT disabled_triggers FROM pgcopy.jobs"),
        ""
    );
    assert_eq!(crate::common::pending_fks(&p), "9");

    // A plain copy refuses, and says how to go on.
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(1);
    // One problem, one next step: its saved keys are the job's own, which
    // a resume or a discard puts back.
    assert_eq!(
        run.error_lines(),
        ["error: preflight failed, nothing was changed: job 1 did not finish (its client died): continue it \
          with `pgcopy copy --resume --job 1` (the same source and destination), or give it up with `pgcopy \
          jobs discard 1`, which puts back what it dropped and disabled"],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("pgcopy jobs discard 1"),
        "{}",
        run.stderr
    );
    // A resume that contradicts the job's selection is refused.
    let run = copy(&s, &d, &["--resume", "--include-tables", "book"]);
    run.expect_code(2);
    assert!(run.stderr.contains("contradicts job 1"), "{}", run.stderr);
    // So is one that asks to load otherwise (it would be quietly ignored:
    // the job goes on as it started), before anything changes.
    let interrupted = full_fingerprint(&p.dst, &p.db);
    for (flags, said) in [
        (
            &["--split-larger-than", "1MB"][..],
            "--split-larger-than 1.0 MB contradicts job 1, which was started with \
             --split-larger-than 64.0 kB: resume it without --split-larger-than",
        ),
        (
            &["--no-defer-indexes"][..],
            "--no-defer-indexes contradicts job 1, which was started with --defer-indexes",
        ),
    ] {
        let mut args = vec!["copy", "-s", &s, "-d", &d, "--resume"];
        args.extend_from_slice(flags);
        let run = pgcopy(&args);
        run.expect_code(2);
        assert!(run.stderr.contains(said), "{}", run.stderr);
    }
    assert_eq!(full_fingerprint(&p.dst, &p.db), interrupted);

    // The same sizes again are no contradiction.
    let run = copy(
        &s,
        &d,
        &["--resume", "-p", "3", "--split-larger-than", "64kB"],
    );
    run.expect_code(0);
    assert!(
        run.stderr
            .contains(&format!("resuming job 1: {done_before} of")),
        "{}",
        run.stderr
    );
    let src = full_fingerprint(&p.src, &p.db);
    let dst = full_fingerprint(&p.dst, &p.db);
    assert_eq!(src.data, dst.data, "no row lost or duplicated");
    assert_eq!(dst.fks, before_dst.fks, "every FK back exactly");
    assert_eq!(dst.triggers, before_dst.triggers, "triggers enabled again");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT state, disabled_triggers IS NULL FROM pgcopy.jobs"
        ),
        "succeeded|t"
    );
    // Each chunk was committed once: the resumed run did not redo done chunks.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pgcopy.job_chunks WHERE attempts <> 1 AND state = 'done'"
        ),
        "0"
    );
    // Nothing left to resume.
    let run = crate::common::copy(&s, &d, &["--resume"]);
    run.expect_code(1);
    assert!(run.stderr.contains("nothing to resume"), "{}", run.stderr);
}

#[test]
fn discarding_a_job_restores_constraints_and_triggers() {
    let (p, d) = owner_pair_all_fixtures("discard", 20_000);
    let (s, _) = p.urls();
    let before = full_fingerprint(&p.dst, &p.db);
    let mut child = spawn_copy(
        &s,
        &d,
        &["-p", "1", "--split-larger-than", "64kB"],
        // Every key after the load: all nine are still saved at the kill
        // (the early restore's cuts are tested in fks.rs and chaos.rs).
        &[
            ("PGCOPY_FAILPOINT", "before-chunk-commit:150"),
            ("PGCOPY_EARLY_FOREIGN_KEYS", "off"),
        ],
    );
    kill_after(&mut child, "copied public.");
    let run = pgcopy(&["jobs", "list", "-d", &d]);
    run.expect_code(0);
    assert!(
        run.stdout.lines().nth(1).unwrap().contains("stale"),
        "{}",
        run.stdout
    );
    let run = pgcopy(&["jobs", "discard", "1", "-d", &d]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("job 1 discarded: 9 foreign keys restored, 5 triggers re-enabled"),
        "{}",
        run.stdout
    );
    let after = full_fingerprint(&p.dst, &p.db);
    assert_eq!(after.triggers, before.triggers);
    // FKs whose data is half copied come back NOT VALID at worst, never lost.
    assert_eq!(after.fks.lines().count(), before.fks.lines().count());
    // A new copy is allowed again and ends identical.
    let run = crate::common::copy(&s, &d, &[]);
    run.expect_code(0);
    let dst = full_fingerprint(&p.dst, &p.db);
    assert_eq!(dst.data, full_fingerprint(&p.src, &p.db).data);
    assert_eq!(dst.fks, before.fks);
}

#[test]
fn failed_job_that_left_nothing_dropped_is_superseded_by_a_new_copy() {
    let p = crate::common::Pair::new("supersede");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    // A destination-only CHECK that some source rows break: those tables fail,
    // in replica mode nothing is dropped.
    p.dst.psql(
        &p.db,
        "ALTER TABLE nokey ADD CONSTRAINT nokey_small CHECK (a < 2)",
    );
    let run = p.copy(&[]);
    run.expect_code(3);
    assert!(run.stdout.contains("public.nokey"), "{}", run.stdout);
    let first = scalar(&p.dst, &p.db, "SELECT max(job_id) FROM pgcopy.jobs");

    // Fixed, a plain copy runs again without --resume or `jobs discard`.
    p.dst
        .psql(&p.db, "ALTER TABLE nokey DROP CONSTRAINT nokey_small");
    let run = p.copy(&[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!(
            "earlier job {first} (failed) left nothing to restore"
        )),
        "{}",
        run.stderr
    );
    p.assert_same_data();
    // The earlier job keeps its error and is out of the way.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            &format!("SELECT state, error LIKE '%tables failed%' FROM pgcopy.jobs WHERE job_id = {first}")
        ),
        "discarded|t"
    );
}
