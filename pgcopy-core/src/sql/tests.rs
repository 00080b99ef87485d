use super::*;

#[test]
fn copy_statements() {
    let t = QualifiedName::new("S", "my \"t\"");
    assert_eq!(
        copy_out(
            &t,
            &["a", "B"],
            &ChunkRange::WHOLE,
            CopyFormat::Binary,
            &Rows::default()
        ),
        r#"COPY "S"."my ""t""" ("a", "B") TO STDOUT (FORMAT binary)"#
    );
    let c = ChunkRange {
        index: 1,
        start_page: Some(3),
        end_page: None,
    };
    assert_eq!(
        copy_out(&t, &["a"], &c, CopyFormat::Binary, &Rows::default()),
        r#"COPY (SELECT "a" FROM ONLY "S"."my ""t""" pgcopy_row WHERE ctid OPERATOR(pg_catalog.>=) '(3,0)'::pg_catalog.tid) TO STDOUT (FORMAT binary)"#
    );
    // A subset: the whole table, or a chunk of it, through its condition.
    assert_eq!(
        copy_out(
            &t,
            &["a"],
            &ChunkRange::WHOLE,
            CopyFormat::Binary,
            &Rows {
                condition: Some("(a < 5)"),
                transforms: None
            }
        ),
        r#"COPY (SELECT "a" FROM ONLY "S"."my ""t""" pgcopy_row WHERE (a < 5)) TO STDOUT (FORMAT binary)"#
    );
    assert_eq!(
        copy_out(
            &t,
            &["a"],
            &c,
            CopyFormat::Binary,
            &Rows {
                condition: Some("(a < 5)"),
                transforms: None
            }
        ),
        r#"COPY (SELECT "a" FROM ONLY "S"."my ""t""" pgcopy_row WHERE ctid OPERATOR(pg_catalog.>=) '(3,0)'::pg_catalog.tid AND (a < 5)) TO STDOUT (FORMAT binary)"#
    );
    // A transformed column: its expression in its place.
    let masked = std::collections::BTreeMap::from([("B".to_string(), "md5(\"B\")".to_string())]);
    assert_eq!(
        copy_out(
            &t,
            &["a", "B"],
            &ChunkRange::WHOLE,
            CopyFormat::Binary,
            &Rows {
                condition: None,
                transforms: Some(&masked)
            }
        ),
        r#"COPY (SELECT "a", (md5("B")) FROM ONLY "S"."my ""t""" pgcopy_row) TO STDOUT (FORMAT binary)"#
    );
    assert_eq!(
        copy_in(&t, &["a"], true, CopyFormat::Binary),
        r#"COPY "S"."my ""t""" ("a") FROM STDIN (FORMAT binary, FREEZE)"#
    );
    // No copyable column (none at all, or only generated ones).
    assert_eq!(
        copy_out(
            &t,
            &[],
            &ChunkRange::WHOLE,
            CopyFormat::Binary,
            &Rows::default()
        ),
        r#"COPY "S"."my ""t""" TO STDOUT (FORMAT binary)"#
    );
    assert_eq!(
        copy_out(&t, &[], &c, CopyFormat::Text, &Rows::default()),
        r#"COPY (SELECT  FROM ONLY "S"."my ""t""" pgcopy_row WHERE ctid OPERATOR(pg_catalog.>=) '(3,0)'::pg_catalog.tid) TO STDOUT (FORMAT text)"#
    );
    assert_eq!(
        copy_in(&t, &[], false, CopyFormat::Text),
        r#"COPY "S"."my ""t""" FROM STDIN (FORMAT text)"#
    );
}

#[test]
fn checksum_statement() {
    let t = QualifiedName::new("s", "t");
    assert_eq!(
            table_checksum(&t, &["a", "b c"], true),
            "SELECT count(*), coalesce(sum(('x' || substr(md5(ROW(\"a\", \"b c\")::text), 1, 16))::bit(64)::bigint), 0)::text \
           FROM ONLY \"s\".\"t\""
        );
}

#[test]
fn index_properties_statements() {
    let props = crate::catalog::IndexProperties {
        replica_identity: true,
        clustered: true,
        comment: Some("it's \\ here".into()),
        statistics: vec![(2, 500)],
        tablespace: Some("Fast Disk".into()),
        constraint: None,
        unique_rank: None,
    };
    let t = QualifiedName::new("s", "T");
    assert_eq!(
        index_properties(&t, "i x", &props),
        [
            r#"ALTER TABLE "s"."T" REPLICA IDENTITY USING INDEX "i x""#,
            r#"ALTER TABLE "s"."T" CLUSTER ON "i x""#,
            r#"COMMENT ON INDEX "s"."i x" IS E'it''s \\ here'"#,
            r#"ALTER INDEX "s"."i x" ALTER COLUMN 2 SET STATISTICS 500"#,
        ]
    );
    assert_eq!(
        index_tablespace(&props),
        r#"SET LOCAL default_tablespace = "Fast Disk""#
    );
    let key = crate::catalog::IndexProperties {
        constraint: Some(crate::catalog::BackedConstraint {
            kind: crate::catalog::KeyKind::PrimaryKey,
            deferrable: true,
            initially_deferred: false,
            comment: None,
        }),
        ..Default::default()
    };
    assert_eq!(
        index_properties(&t, "T_pkey", &key),
        [
            r#"ALTER TABLE "s"."T" ADD CONSTRAINT "T_pkey" PRIMARY KEY USING INDEX "T_pkey" DEFERRABLE"#
        ]
    );
    assert_eq!(
        index_tablespace(&Default::default()),
        "SET LOCAL default_tablespace = ''"
    );
}

#[test]
fn other_statements() {
    assert_eq!(set_local_role("Ap\"p"), r#"SET LOCAL ROLE "Ap""p""#);
    let a = QualifiedName::new("public", "a");
    let b = QualifiedName::new("x", "B");
    let targets = [
        TruncateTarget::only(&a),
        TruncateTarget {
            table: b.clone(),
            only: false,
        },
        TruncateTarget::only(&b),
    ];
    assert_eq!(
        truncate(&targets),
        r#"TRUNCATE ONLY "public"."a", "x"."B", ONLY "x"."B""#
    );
    assert_eq!(
        set_sequence(16384, 5, false),
        "SELECT pg_catalog.setval('16384'::pg_catalog.oid::pg_catalog.regclass, 5, false)"
    );
    assert_eq!(
        read_sequence(&QualifiedName::new("s", "it's"), 7),
        r#"SELECT s.last_value, s.is_called FROM "s"."it's" s WHERE pg_catalog.to_regclass('"s"."it''s"') OPERATOR(pg_catalog.=) '7'::pg_catalog.oid"#
    );
    // Ahead by the increment's sign, is_called counting one step.
    assert!(sequence_ahead(1, 10, true, 10, false));
    assert!(!sequence_ahead(1, 10, false, 10, false));
    assert!(!sequence_ahead(1, 9, true, 10, false));
    assert!(sequence_ahead(-1, 5, true, 9, true));
    assert!(sequence_ahead(i64::MAX, i64::MAX, true, i64::MAX, false));
    assert_eq!(
        add_constraint(&a, "fk", "FOREIGN KEY (x) REFERENCES b(y) NOT VALID", true),
        r#"ALTER TABLE "public"."a" ADD CONSTRAINT "fk" FOREIGN KEY (x) REFERENCES b(y) NOT VALID"#
    );
    assert_eq!(
        add_constraint(&a, "fk", "FOREIGN KEY (x) REFERENCES b(y)", true),
        r#"ALTER TABLE "public"."a" ADD CONSTRAINT "fk" FOREIGN KEY (x) REFERENCES b(y) NOT VALID"#
    );
}
