//! What a person and a machine see: the pinned progress display in a real
//! terminal (tmux), plain output when piped, JSON summaries and logs,
//! completions, and the guard against copying a database onto itself.

use crate::common::{pagila_owner_pair, pgcopy, scalar, Pair};
use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .output()
        .expect("tmux is needed for this test (make setup installs it)");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn progress_bar_stays_on_top_with_logs_below_and_ends_exact() {
    // As the owner (drop mode): the index builds and the FK validations
    // after the load both show.
    let (p, d) = pagila_owner_pair("tty");
    let total: u64 = scalar(
        &p.src,
        &p.db,
        "SELECT sum(n) FROM (SELECT (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM ONLY %s', c.oid::regclass), false, true, '')))[1]::text::bigint AS n
           FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE c.relkind = 'r' AND ns.nspname = 'public') x",
    )
    .parse()
    .unwrap();
    let (s, _) = p.urls();
    let socket = format!("pgcopy-test-{}", std::process::id());
    let cmd = format!(
        "env -u CI PGCOPY_FAILPOINT=before-chunk-commit:250,index-build:400,fk-validation:300 PGCOPY_DEFER_INDEXES_ABOVE=0 \
         {} copy -p 2 -s '{s}' -d '{d}'; echo PGCOPY_EXIT=$?; sleep 600",
        pgcopy_tests::pgcopy_bin().display()
    );
    tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-s",
            "copy",
            "-x",
            "150",
            "-y",
            "30",
            &cmd,
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut frames_with_bar_on_top_and_logs_below = 0;
    let mut after_load_frames = Vec::new();
    let mut final_screen = String::new();
    let mut mid_redraw: Option<String> = None;
    while Instant::now() < deadline {
        let screen = tmux(&socket, &["capture-pane", "-p", "-t", "copy"]);
        if screen.contains("PGCOPY_EXIT=") {
            final_screen = tmux(&socket, &["capture-pane", "-p", "-S", "-", "-t", "copy"]);
            break;
        }
        let lines: Vec<&str> = screen.lines().collect();
        if lines.first().is_some_and(|l| l.starts_with("pgcopy ")) {
            // While copying, worker lines sit under the bar; once the load is
            // done the bar says which step follows (indexes, ANALYZE...) and
            // how far it is, then only the final bar stays.
            if lines[0].contains("data copied · ") {
                after_load_frames.push(lines[0].to_string());
            } else if !lines[0].contains("done in") {
                // A capture can fall between the display's clearing of its
                // lines and their redrawing: the bar alone, nothing under
                // it. Two such frames in a row is a display that lost its
                // workers.
                let workers_under_bar = lines
                    .get(1)
                    .is_some_and(|l| l.trim_start().starts_with("worker 1"));
                if workers_under_bar {
                    mid_redraw = None;
                } else {
                    assert!(
                        lines.get(1).is_some_and(|l| l.trim().is_empty()),
                        "{screen}"
                    );
                    assert!(
                        mid_redraw.is_none(),
                        "{}\n---\n{screen}",
                        mid_redraw.unwrap()
                    );
                    mid_redraw = Some(screen.clone());
                }
            }
            if lines
                .iter()
                .skip(3)
                .any(|l| l.contains("INFO copied public."))
            {
                frames_with_bar_on_top_and_logs_below += 1;
            }
            // Nothing but the display is ever drawn on the first line.
            assert!(!lines[0].contains("INFO"), "{screen}");
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    tmux(&socket, &["kill-server"]);
    assert!(
        final_screen.contains("PGCOPY_EXIT=0"),
        "copy did not finish cleanly:\n{final_screen}"
    );
    assert!(
        frames_with_bar_on_top_and_logs_below >= 2,
        "never saw the bar on top with logs below"
    );
    // The index builds and FK validations (deferred here, each made slow)
    // show on the bar, which counted them from the start: with every row
    // in, it is not full until they are done.
    let percent = |l: &str| -> u32 {
        let head = &l[..l.find("% ").expect("a percentage")];
        head.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(
        after_load_frames
            .iter()
            .any(|l| l.contains("indexes: ") && l.contains(" done") && percent(l) < 100),
        "{after_load_frames:?}"
    );
    let fk_frames: Vec<u32> = after_load_frames
        .iter()
        .filter(|l| l.contains("foreign keys: ") && l.contains(" done"))
        .map(|l| percent(l))
        .collect();
    assert!(
        fk_frames.iter().any(|&p| p < 100) && fk_frames.windows(2).all(|w| w[0] <= w[1]),
        "{after_load_frames:?}"
    );
    let last_bar = final_screen
        .lines()
        .rfind(|l| l.starts_with("pgcopy "))
        .expect("a final bar line");
    assert!(last_bar.contains("100%"), "{last_bar}");
    assert!(
        last_bar.contains(&format!("{total} rows of ~{total}")),
        "final totals must be exact: {last_bar}"
    );
    assert!(last_bar.contains("21/21 tables"), "{last_bar}");
}

#[test]
fn piped_output_is_plain_and_json_outputs_parse() {
    let p = Pair::new("plainjson");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    let summary = std::env::temp_dir().join(format!("pgcopy-summary-{}.json", std::process::id()));
    let run = p.copy(&["--summary-json", summary.to_str().unwrap()]);
    run.expect_code(0);
    assert!(
        !run.stderr.contains('\x1b') && !run.stdout.contains('\x1b'),
        "escape codes in piped output"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    std::fs::remove_file(&summary).unwrap();
    assert_eq!(doc["state"], "succeeded");
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["fk_strategy"], "replica");
    assert_eq!(doc["totals"]["tables"], 17);
    assert_eq!(doc["totals"]["failed_tables"], 0);
    let rows: u64 = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(doc["totals"]["rows"].as_u64().unwrap(), rows);
    let everything = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "everything")
        .unwrap();
    assert_eq!(everything["rows"], 2001);
    assert_eq!(everything["status"], "ok");
    assert!(doc["foreign_keys_not_restored"]
        .as_array()
        .unwrap()
        .is_empty());

    // JSON log lines, one object each, never a password.
    let run = p.copy(&["--log-format", "json"]);
    run.expect_code(0);
    let lines: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.iter().any(|l| l["fields"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("copied public.everything"))));
    assert!(!run.stderr.contains(pgcopy_tests::SUPERUSER_PASSWORD));
    // Quiet: only warnings and errors.
    let run = p.copy(&["-q"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "", "quiet run printed: {}", run.stderr);
}

/// `--summary-json` is there for every outcome: a server that refuses the
/// login, a preflight that refuses the copy, a dry run, a stop during the
/// setup; each with the exit code the run ended with and the error it
/// printed. Text logs in a file carry timestamps.
#[test]
fn the_summary_is_written_for_every_outcome_and_piped_logs_carry_timestamps() {
    let p = Pair::new("summaryall");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    let (s, d) = p.urls();
    let path = std::env::temp_dir().join(format!("pgcopy-summary-all-{}.json", std::process::id()));
    let summary = |args: &[&str]| {
        let _ = std::fs::remove_file(&path);
        let mut all = args.to_vec();
        all.extend(["--summary-json", path.to_str().unwrap()]);
        let run = pgcopy(&all);
        let doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("no summary ({e}) after {args:?}: {}", run.stderr)),
        )
        .unwrap();
        (run, doc)
    };
    // A password the server refuses: exit 1, the error as printed.
    let wrong = d.replacen(pgcopy_tests::SUPERUSER_PASSWORD, "not-the-password", 1);
    let (run, doc) = summary(&["copy", "-s", &s, "-d", &wrong]);
    run.expect_code(1);
    assert_eq!(doc["state"], "failed");
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(doc["job_id"], serde_json::Value::Null);
    let error = doc["error"].as_str().unwrap();
    assert!(error.contains("password authentication failed"), "{error}");
    assert_eq!(run.error_lines()[0], format!("error: {error}"));
    assert!(!error.contains("not-the-password"), "{error}");
    // A preflight that refuses: its exit code and sentence.
    p.dst
        .psql(&p.db, "ALTER TABLE everything ADD COLUMN extra int");
    let (run, doc) = summary(&["copy", "-s", &s, "-d", &d]);
    let code = run.code;
    assert_ne!(code, 0, "{}", run.stderr);
    assert_eq!(doc["exit_code"], code);
    assert_eq!(doc["state"], "failed");
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("preflight failed, nothing was changed"),
        "{doc}"
    );
    p.dst
        .psql(&p.db, "ALTER TABLE everything DROP COLUMN extra");
    // A dry run.
    let (run, doc) = summary(&["copy", "-s", &s, "-d", &d, "--dry-run"]);
    run.expect_code(0);
    assert_eq!(doc["state"], "dry_run");
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["error"], serde_json::Value::Null);
    // The copy itself, its log lines each with the time, as RFC 3339.
    let (run, doc) = summary(&["copy", "-s", &s, "-d", &d]);
    run.expect_code(0);
    assert_eq!(doc["state"], "succeeded");
    let stamped = |l: &str| {
        let b = l.as_bytes();
        b.len() > 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && l[..4].parse::<u32>().is_ok()
    };
    let logs: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" INFO "))
        .collect();
    assert!(
        !logs.is_empty() && logs.iter().all(|l| stamped(l)),
        "{}",
        run.stderr
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn copying_a_database_onto_itself_is_refused() {
    let p = Pair::new("selfcopy");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    let before = crate::common::fingerprint(&p.src, &p.db);
    let (s, _) = p.urls();
    let same = format!(
        "host=127.0.0.1 port={} dbname={} user=postgres password={}",
        p.src.port(),
        p.db,
        pgcopy_tests::SUPERUSER_PASSWORD
    );
    let run = crate::common::copy(&s, &same, &[]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("source and destination are the same database"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--yes-i-know"), "{}", run.stderr);
    assert_eq!(crate::common::fingerprint(&p.src, &p.db), before);
}

#[test]
fn completions_and_help() {
    let run = pgcopy(&["completions", "bash"]);
    run.expect_code(0);
    assert!(run.stdout.contains("--include-tables") && run.stdout.contains("restore-fks"));
    let run = pgcopy(&["copy", "--help"]);
    run.expect_code(0);
    assert!(run.stdout.contains("--split-larger-than"));
    let run = pgcopy(&["--help"]);
    assert!(run.stdout.contains("Examples:"));
    // The exit codes, in the help as in the README.
    for code in ["  0 ", "  1 ", "  2 ", "  3 ", "129, 130, 143"] {
        assert!(run.stdout.contains(code), "{code}: {}", run.stdout);
    }
    // Man pages, one per command, from the same definitions.
    let dir = std::env::temp_dir().join(format!("pgcopy-man-{}", std::process::id()));
    pgcopy(&["man", dir.to_str().unwrap()]).expect_code(0);
    let copy_page = std::fs::read_to_string(dir.join("pgcopy-copy.1")).unwrap();
    assert!(copy_page.contains(".TH pgcopy-copy 1") && copy_page.contains("trust\\-owner"));
    assert!(dir.join("pgcopy-restore-fks.1").exists() && dir.join("pgcopy.1").exists());
    let _ = std::fs::remove_dir_all(&dir);
    let run = pgcopy(&["version"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .starts_with(&format!("pgcopy {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{}",
        run.stdout
    );
    let run = pgcopy(&["copy", "--bogus"]);
    run.expect_code(2);
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    let p = Pair::new("brokenpipe");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    let (s, _) = p.urls();
    // The reader is gone before pgcopy writes a line, as with `| head -0`.
    for args in [vec!["list", "-s", &s], vec!["list", "-s", &s, "--json"]] {
        let mut child = Command::new(pgcopy_tests::pgcopy_bin())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    }
}
