//! `pgcopy list` and `pgcopy copy --dry-run`.

use crate::common::{fingerprint, pgcopy, Pair};

#[test]
fn list_shows_tables_sizes_and_partitions() {
    let p = Pair::new("listing");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    let (s, _) = p.urls();
    let run = pgcopy(&["list", "-s", &s]);
    run.expect_code(0);
    let line = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{}", run.stdout))
            .to_string()
    };
    assert!(line("public.parted").ends_with("yes"));
    assert!(line("public.parted_2024").ends_with("partition of public.parted"));
    assert!(line("public.everything").contains("kB") || line("public.everything").contains("MB"));

    let run = pgcopy(&["list", "-s", &s, "--exact", "--json", "--schema", "sales"]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let tables = doc.as_array().unwrap();
    assert_eq!(tables.len(), 1);
    assert_eq!(tables[0]["name"], "orders");
    assert_eq!(tables[0]["rows"], 300);
    assert!(tables[0]["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn dry_run_writes_nothing_anywhere() {
    let p = Pair::new("dryrun");
    p.load(&["awkward-schema.sql"], &["awkward-data.sql"]);
    let before_dst = fingerprint(&p.dst, &p.db);
    let before_src = fingerprint(&p.src, &p.db);
    let cwd = std::env::temp_dir().join(format!("pgcopy-dry-{}", std::process::id()));
    std::fs::create_dir_all(&cwd).unwrap();
    let (s, d) = p.urls();
    let out = std::process::Command::new(pgcopy_tests::pgcopy_bin())
        .args([
            "copy",
            "-s",
            &s,
            "-d",
            &d,
            "--dry-run",
            "--split-larger-than",
            "16kB",
        ])
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("dry run: nothing was changed"), "{stdout}");
    assert!(stdout.contains("public.everything"), "{stdout}");
    assert!(!stdout.contains(pgcopy_tests::SUPERUSER_PASSWORD));
    assert_eq!(
        std::fs::read_dir(&cwd).unwrap().count(),
        0,
        "dry run wrote a file"
    );
    std::fs::remove_dir_all(&cwd).unwrap();
    assert_eq!(fingerprint(&p.dst, &p.db), before_dst);
    assert_eq!(fingerprint(&p.src, &p.db), before_src);
    crate::common::assert_no_state_schema(&p.dst, &p.db);

    let run = p.copy(&["--dry-run", "--json", "--split-larger-than", "16kB"]);
    run.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(doc["replica_mode"], true);
    let tables = doc["plan"]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 17);
    let everything = tables
        .iter()
        .find(|t| t["table"]["name"] == "everything")
        .unwrap();
    assert!(everything["chunks"].as_array().unwrap().len() > 1);
    assert!(
        everything["columns"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c != "g"),
        "generated column copied"
    );
    // Binary COPY everywhere, except where a type has no binary I/O.
    for t in tables {
        let text = t["table"]["name"] == "grants";
        assert_eq!(t["format"], if text { "text" } else { "binary" }, "{t}");
    }
}
