//! `pgcopy verify`: counts and exact checksums, computed on each server.

use crate::common::{pgcopy, Pair};

#[test]
fn verify_passes_on_identical_data_and_finds_one_changed_row_in_a_million() {
    let p = Pair::new("verify");
    let schema = "CREATE TABLE big (id int PRIMARY KEY, v text, f float8, t timestamptz);
                  CREATE TABLE small (k text, n numeric);";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO big SELECT i, md5(i::text), i / 7.0, '2024-01-01'::timestamptz + i * interval '1 s'
           FROM generate_series(1, 1000000) i;
         INSERT INTO small VALUES ('a', 1.5), ('a', 1.5), ('b', NULL);",
    );
    p.copy(&["--split-larger-than", "16MB"]).expect_code(0);
    let (s, d) = p.urls();
    // The destination renders values differently by default; verify pins that.
    p.dst.psql(&p.db, &format!("ALTER DATABASE {} SET TimeZone = 'Asia/Tokyo'; ALTER DATABASE {} SET extra_float_digits = 0", p.db, p.db));

    let run = pgcopy(&["verify", "-s", &s, "-d", &d, "--exact"]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("2 tables compared row by row (checksums): 2 match, 0 differ"),
        "{}",
        run.stdout
    );

    // One value in one row of a million.
    p.dst
        .psql(&p.db, "UPDATE big SET v = v || 'x' WHERE id = 765432");
    let run = pgcopy(&["verify", "-s", &s, "-d", &d]);
    run.expect_code(0); // counts alone cannot see it
    let run = pgcopy(&["verify", "-s", &s, "-d", &d, "--exact", "--json"]);
    run.expect_code(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["differing"], 1);
    let big = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "public.big")
        .unwrap();
    assert_eq!(big["matches"], false);
    assert_eq!(big["source_rows"], 1000000);
    assert_eq!(big["dest_rows"], 1000000);
    assert_ne!(big["source_checksum"], big["dest_checksum"]);

    // A duplicated row changes counts; the text output says which table.
    p.dst.psql(
        &p.db,
        "UPDATE big SET v = md5(id::text) WHERE id = 765432; INSERT INTO small VALUES ('b', NULL)",
    );
    let run = pgcopy(&[
        "verify",
        "-s",
        &s,
        "-d",
        &d,
        "--exact",
        "--include-tables",
        "small",
    ]);
    run.expect_code(1);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("public.small") && l.contains("DIFFERENT")),
        "{}",
        run.stdout
    );
}

/// A copy sets sequences, and verify compares them too: a sequence moved on
/// the destination is named, and fails the check (a red team saw verify
/// pass it).
#[test]
fn verify_compares_the_copied_sequences() {
    let p = Pair::new("verifyseq");
    let schema = "CREATE TABLE t (id serial PRIMARY KEY, v text);
                  CREATE SEQUENCE free_seq;
                  CREATE TABLE u (id int DEFAULT nextval('free_seq'));";
    p.src.psql(&p.db, schema);
    p.dst.psql(&p.db, schema);
    p.src.psql(
        &p.db,
        "INSERT INTO t (v) SELECT 'x' FROM generate_series(1, 50); INSERT INTO u DEFAULT VALUES;",
    );
    let before = crate::common::schema_of(&p.dst, &p.db);
    p.copy(&[]).expect_code(0);
    assert_eq!(crate::common::schema_of(&p.dst, &p.db), before);
    let (s, d) = p.urls();
    let run = pgcopy(&["verify", "-s", &s, "-d", &d]);
    run.expect_code(0);
    assert!(
        run.stdout
            .contains("2 sequences compared: 2 match, 0 differ"),
        "{}",
        run.stdout
    );
    p.dst.psql(&p.db, "SELECT setval('t_id_seq', 999)");
    let run = pgcopy(&["verify", "-s", &s, "-d", &d]);
    run.expect_code(1);
    assert!(
        run.stdout
            .contains("sequence public.t_id_seq: source 50, destination 999: DIFFERENT"),
        "{}",
        run.stdout
    );
    let run = pgcopy(&["verify", "-s", &s, "-d", &d, "--json"]);
    run.expect_code(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["sequences_differing"], 1);
}
