use super::*;
use crate::catalog::*;

fn table(schema: &str, name: &str, bytes: u64) -> Table {
    Table {
        bytes,
        est_rows: Some(10.0),
        columns: vec![
            Column {
                name: "id".into(),
                type_name: "integer".into(),
                generated: false,
                identity: None,
                not_null: true,
                binary_io: true,
                builtin_type: true,
                builtin_types: Vec::new(),
                type_shape: String::new(),
            },
            Column {
                name: "g".into(),
                type_name: "integer".into(),
                generated: true,
                identity: None,
                not_null: false,
                binary_io: true,
                builtin_type: true,
                builtin_types: Vec::new(),
                type_shape: String::new(),
            },
        ],
        ..Table::sample(schema, name)
    }
}

fn fk(child: &str, parent: &str) -> ForeignKey {
    ForeignKey {
        name: format!("{child}_fk"),
        table: QualifiedName::new("public", child),
        referenced: QualifiedName::new("public", parent),
        definition: "FOREIGN KEY (id) REFERENCES x(id)".into(),
        validated: true,
        inherited: false,
        kind: Default::default(),
        columns: vec![],
        referenced_columns: vec![],
        match_full: false,
        collations: Vec::new(),
        owner_may_reference: true,
        index: None,
        equality: Vec::new(),
    }
}

fn sample() -> Catalog {
    let mut parted = table("public", "events", 0);
    parted.kind = TableKind::Partitioned;
    let mut p1 = table("public", "events_2024", 500);
    p1.parent = Some(parted.name.clone());
    let mut p2 = table("public", "events_default", 100);
    p2.parent = Some(parted.name.clone());
    Catalog {
        tables: vec![
            table("public", "a", 10_000),
            table("public", "b", 20),
            table("public", "c", 30),
            table("sales", "orders", 1 << 20),
            table("pgcopy", "jobs", 5),
            parted,
            p1,
            p2,
        ],
        foreign_keys: vec![fk("b", "a"), fk("a", "b"), fk("c", "c"), fk("events", "a")],
        sequences: vec![
            Sequence {
                name: QualifiedName::new("public", "a_id_seq"),
                owned_by: Some(QualifiedName::new("public", "a")),
                used_by: vec![QualifiedName::new("public", "a")],
            },
            Sequence {
                name: QualifiedName::new("public", "free_seq"),
                owned_by: None,
                used_by: vec![],
            },
        ],
        matviews: vec![],
        indexes: vec![],
        ..Default::default()
    }
}

#[test]
fn large_objects_are_cut_into_batches_by_oid() {
    let oids: Vec<u32> = (1..=10).map(|i| i * 7).collect();
    let b = large_object_batches(&oids, 4);
    assert_eq!(
        b.iter()
            .map(|b| (b.index, b.first, b.last, b.count))
            .collect::<Vec<_>>(),
        [(0, 7, 28, 4), (1, 35, 56, 4), (2, 63, 70, 2)]
    );
    assert!(large_object_batches(&[], 4).is_empty());
}

#[test]
fn whole_database() {
    let p = plan(&sample(), &PlanOptions::default()).unwrap();
    let names: Vec<String> = p.tables.iter().map(|t| t.table.display_name()).collect();
    assert_eq!(
        names,
        [
            "sales.orders",
            "public.a",
            "public.events_2024",
            "public.events_default",
            "public.c",
            "public.b"
        ]
    );
    assert_eq!(p.tables[0].columns, vec!["id"]);
    assert_eq!(
        p.tables[2].partition_of,
        Some(QualifiedName::new("public", "events"))
    );
    assert_eq!(p.fk_cycles.len(), 2);
    assert_eq!(p.sequences.len(), 2);
    assert!(p.tables.iter().all(|t| t.table.schema != "pgcopy"));
    // Drop mode: every FK is gone before the load, so each table is
    // truncated in its own load transaction, and loaded with FREEZE.
    assert!(p
        .tables
        .iter()
        .all(|t| !t.fk_linked && t.truncate_in_load()));
    assert!(p.truncate_together.is_empty());
    assert_eq!(p.dropped_fks().count(), 4);
    // Replica mode: FKs stay, and the tables they link are truncated
    // together up front.
    let replica = PlanOptions {
        fk_strategy: FkStrategy::Replica,
        ..Default::default()
    };
    let p = plan(&sample(), &replica).unwrap();
    let linked = |n: &str| {
        p.tables
            .iter()
            .find(|t| t.table.name == n)
            .unwrap()
            .fk_linked
    };
    assert!(linked("a") && linked("b") && linked("events_2024"));
    // A self-reference alone can be truncated alone.
    assert!(!linked("c") && !linked("orders"));
    // Not a partitioned table's: its key references each partition.
    let mut c = sample();
    c.foreign_keys
        .retain(|f| f.table.name != "events" && f.referenced.name != "events");
    c.foreign_keys.push(fk("events", "events"));
    let p = plan(&c, &replica).unwrap();
    assert!(p
        .tables
        .iter()
        .filter(|t| t.table.name.starts_with("events_"))
        .all(|t| t.fk_linked && !t.truncate_in_load()));
    assert!(p
        .truncate_together
        .iter()
        .any(|t| t.table.name == "events" && !t.only));
    let order = &p.load_order;
    let pos = |n: &str| order.iter().position(|t| t.name == n).unwrap();
    assert!(pos("a") < pos("events"));
}

#[test]
fn a_stored_plan_may_not_reach_beyond_what_its_options_select_today() {
    let opts = PlanOptions::default()
        .with_patterns(Some("public.a,public.b"), None)
        .unwrap();
    let today = plan(&sample(), &opts).unwrap();
    assert!(today.beyond(&today).is_empty());
    let mut stored = today.clone();
    stored.tables.push(stored.tables[0].clone());
    stored.tables.last_mut().unwrap().table = QualifiedName::new("public", "canary");
    stored
        .truncate_together
        .push(crate::sql::TruncateTarget::only(&QualifiedName::new(
            "sales", "orders",
        )));
    stored.sequences.push(SequenceSpec {
        sequence: QualifiedName::new("public", "free_seq"),
        owned_by: None,
        used_by: vec![],
        only_forward: false,
    });
    stored.matviews.push(QualifiedName::new("public", "mv"));
    assert_eq!(
        stored.beyond(&today),
        [
            "table public.canary",
            "table sales.orders",
            "sequence public.free_seq",
            "materialized view public.mv"
        ]
    );
}

#[test]
fn a_name_without_schema_that_selects_in_several_schemas_is_flagged() {
    let mut c = sample();
    c.tables.push(table("tenant_b", "a", 10));
    let p = plan(
        &c,
        &PlanOptions::default()
            .with_patterns(Some("a,public.b,o*"), None)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(p.ambiguous.len(), 1);
    assert!(p.ambiguous[0].bare_name);
    assert_eq!(
        p.ambiguous[0].message(),
        "`a` selects tables in 2 schemas (public.a, tenant_b.a): write the schema to copy one \
             (public.a), or `*.a` to copy them all"
    );
    // A glob across schemas is flagged too, but not as a bare name; a
    // pattern with a schema, or matching in one schema, is not.
    let p = plan(
        &c,
        &PlanOptions::default()
            .with_patterns(Some("*.a,?,events"), None)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(p.ambiguous.len(), 1);
    assert_eq!(p.ambiguous[0].pattern, "?");
    assert!(!p.ambiguous[0].bare_name);
}

#[test]
fn sequences_follow_their_tables_through_ownership_and_defaults() {
    let mut c = sample();
    let q = |n: &str| QualifiedName::new("public", n);
    c.sequences.extend([
        // pagila's kind: used by a default, owned by no table.
        Sequence {
            name: q("b_seq"),
            owned_by: None,
            used_by: vec![q("b")],
        },
        // Owned by one table, used by another's default too.
        Sequence {
            name: q("shared_seq"),
            owned_by: Some(q("a")),
            used_by: vec![q("c")],
        },
        // Used by a partitioned table's default.
        Sequence {
            name: q("events_seq"),
            owned_by: None,
            used_by: vec![q("events")],
        },
    ]);
    let set = |include: Option<&str>, exclude: Option<&str>| -> Vec<String> {
        let opts = PlanOptions::default()
            .with_patterns(include, exclude)
            .unwrap();
        plan(&c, &opts)
            .unwrap()
            .sequences
            .iter()
            .map(|s| {
                format!(
                    "{}{}",
                    s.sequence.name,
                    if s.only_forward { " (forward)" } else { "" }
                )
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    assert_eq!(
        set(None, None),
        ["a_id_seq", "b_seq", "events_seq", "free_seq", "shared_seq"]
    );
    // A subset: what its tables use, by ownership or default; a sequence
    // shared with a table left alone only moves forward.
    assert_eq!(set(Some("a"), None), ["a_id_seq", "shared_seq (forward)"]);
    assert_eq!(set(Some("b"), None), ["b_seq"]);
    assert_eq!(set(Some("c"), None), ["shared_seq (forward)"]);
    assert_eq!(set(Some("events_2024"), None), ["events_seq"]);
    // Excluding a table leaves the sequences only it uses alone.
    assert_eq!(
        set(None, Some("b")),
        ["a_id_seq", "events_seq", "free_seq", "shared_seq"]
    );
    assert_eq!(
        set(None, Some("c")),
        [
            "a_id_seq",
            "b_seq",
            "events_seq",
            "free_seq",
            "shared_seq (forward)"
        ]
    );
}

#[test]
fn include_partitioned_parent_selects_leaves() {
    let opts = PlanOptions {
        fk_strategy: FkStrategy::Replica,
        ..Default::default()
    }
    .with_patterns(Some("events"), None)
    .unwrap();
    let p = plan(&sample(), &opts).unwrap();
    assert_eq!(p.tables.len(), 2);
    // events -> a is kept: its referenced table is not copied.
    assert_eq!(p.foreign_keys.len(), 1);
    assert_eq!(p.foreign_keys[0].action, FkAction::Keep);
    // Only owned sequences on a subset copy.
    assert!(p.sequences.is_empty());
}

#[test]
fn outside_references_need_dropping_even_in_replica_mode() {
    let opts = PlanOptions {
        fk_strategy: FkStrategy::Replica,
        ..Default::default()
    }
    .with_patterns(Some("public.a"), None)
    .unwrap();
    let p = plan(&sample(), &opts).unwrap();
    let dropped: Vec<&str> = p.dropped_fks().map(|f| f.fk.name.as_str()).collect();
    assert_eq!(dropped, vec!["b_fk", "events_fk"]);
    assert_eq!(p.referenced_from_outside.len(), 2);
    assert_eq!(p.sequences.len(), 1);
}

#[test]
fn truncate_targets_name_whole_partitioned_tables() {
    let replica = PlanOptions {
        fk_strategy: FkStrategy::Replica,
        ..Default::default()
    };
    let p = plan(&sample(), &replica).unwrap();
    let names: Vec<String> = p
        .truncate_together
        .iter()
        .map(|t| {
            format!(
                "{}{}",
                if t.only { "ONLY " } else { "" },
                t.table.display_name()
            )
        })
        .collect();
    assert_eq!(names, ["ONLY public.a", "ONLY public.b", "public.events"]);
    // Only one partition copied: the parent cannot be truncated, so its FK goes.
    let opts = PlanOptions {
        fk_strategy: FkStrategy::Replica,
        ..Default::default()
    }
    .with_patterns(None, Some("events_default"))
    .unwrap();
    let p = plan(&sample(), &opts).unwrap();
    let dropped: Vec<&str> = p.dropped_fks().map(|f| f.fk.name.as_str()).collect();
    assert_eq!(dropped, ["events_fk"]);
    // With its FK dropped, the partition is linked to nothing: truncated
    // in its own load transaction.
    let events_2024 = QualifiedName::new("public", "events_2024");
    assert!(!p
        .truncate_together
        .contains(&TruncateTarget::only(&events_2024)));
    assert!(p
        .tables
        .iter()
        .any(|t| t.table == events_2024 && t.truncate_in_load()));
}

#[test]
fn deferred_indexes_are_secondary_ones_on_copied_tables() {
    let mut c = sample();
    let idx = |t: &str, n: &str, constraint: bool, parent: Option<&str>| Index {
        backs_constraint: constraint,
        ..Index::sample("public", t, n, parent)
    };
    c.indexes = vec![
        idx("a", "a_pkey", true, None),
        idx("a", "a_v", false, None),
        idx("events", "events_at", false, None),
        idx(
            "events_2024",
            "events_2024_at_idx",
            false,
            Some("events_at"),
        ),
        idx("events_default", "custom name", false, Some("events_at")),
        idx("b", "b_v", false, None),
    ];
    let opts = PlanOptions {
        defer_indexes: true,
        ..Default::default()
    }
    .with_patterns(None, Some("b,events_default"))
    .unwrap();
    let p = plan(&c, &opts).unwrap();
    let names: Vec<&str> = p.deferred_indexes.iter().map(|i| i.name.as_str()).collect();
    // Not the PK, not b's (b is not copied), not events' tree (partly
    // copied), not a partition's index on its own.
    assert_eq!(names, ["a_v"]);
    // A partitioned table copied whole: its index with the partitions'
    // attached ones, children first, the root attaching them.
    let whole = PlanOptions {
        defer_indexes: true,
        ..Default::default()
    };
    let p = plan(&c, &whole).unwrap();
    let names: Vec<&str> = p.deferred_indexes.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a_v",
            "events_2024_at_idx",
            "custom name",
            "events_at",
            "b_v"
        ]
    );
    assert_eq!(
            p.deferred_indexes[3].definition,
            "CREATE INDEX events_at ON public.events USING btree (id);\n\
             ALTER INDEX \"public\".\"events_at\" ATTACH PARTITION \"public\".\"events_2024_at_idx\";\n\
             ALTER INDEX \"public\".\"events_at\" ATTACH PARTITION \"public\".\"custom name\""
        );
    assert_eq!(p.deferred_indexes[1].definition, c.indexes[3].definition);
    // One member that backs a constraint keeps the whole tree in place.
    c.indexes[4].backs_constraint = true;
    let names: Vec<String> = plan(&c, &whole)
        .unwrap()
        .deferred_indexes
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["a_v", "b_v"]);
    assert!(plan(&c, &PlanOptions::default())
        .unwrap()
        .deferred_indexes
        .is_empty());
}

#[test]
fn keys_are_deferred_where_no_kept_foreign_key_references_their_table() {
    use crate::catalog::{BackedConstraint, IndexProperties, KeyKind};
    let mut c = sample();
    let key = |schema: &str, t: &str, n: &str, kind| Index {
        oid: 20,
        unique: true,
        backs_constraint: true,
        properties: IndexProperties {
            constraint: Some(BackedConstraint {
                kind,
                deferrable: false,
                initially_deferred: false,
                comment: None,
            }),
            ..Default::default()
        },
        ..Index::sample(schema, t, n, None)
    };
    c.indexes = vec![
        key("public", "a", "a_pkey", KeyKind::PrimaryKey),
        key("public", "c", "c_u", KeyKind::Unique),
        // A partition's key follows its parent's: never alone.
        key(
            "public",
            "events_2024",
            "events_2024_pkey",
            KeyKind::PrimaryKey,
        ),
        key("sales", "orders", "orders_pkey", KeyKind::PrimaryKey),
        // An exclusion constraint's index (no key to put back USING INDEX).
        Index {
            backs_constraint: true,
            ..Index::sample("sales", "orders", "orders_excl", None)
        },
        // Unique indexes older and younger than a's key: a foreign key
        // re-created later picks the oldest that fits.
        Index {
            oid: 10,
            unique: true,
            ..Index::sample("public", "a", "a_old_unique", None)
        },
        Index {
            oid: 30,
            unique: true,
            ..Index::sample("public", "a", "a_new_unique", None)
        },
        Index::sample("public", "a", "a_plain", None),
    ];
    let deferred = |c: &Catalog, fk_strategy| -> Vec<String> {
        let opts = PlanOptions {
            defer_indexes: true,
            fk_strategy,
            ..Default::default()
        };
        plan(c, &opts)
            .unwrap()
            .deferred_indexes
            .into_iter()
            .map(|i| i.name)
            .collect()
    };
    // Replica mode keeps every foreign key: a (b and events reference
    // it) and c (it references itself) keep their keys, and a its other
    // unique indexes with it (deferred, they would come back younger
    // than the key and change which index a new foreign key picks).
    assert_eq!(
        deferred(&c, FkStrategy::Replica),
        ["orders_pkey", "a_plain"]
    );
    // Drop mode drops them: every plain table's key goes, and a's unique
    // indexes are ranked by age.
    let opts = PlanOptions {
        defer_indexes: true,
        fk_strategy: FkStrategy::Drop,
        ..Default::default()
    };
    let ranked: Vec<(String, Option<u32>)> = plan(&c, &opts)
        .unwrap()
        .deferred_indexes
        .into_iter()
        .map(|i| (i.name, i.properties.unique_rank))
        .collect();
    let rank = |n: &str, r: Option<u32>| (n.to_string(), r);
    assert_eq!(
        ranked,
        [
            rank("a_pkey", Some(1)),
            rank("c_u", Some(0)),
            rank("orders_pkey", Some(0)),
            rank("a_old_unique", Some(0)),
            rank("a_new_unique", Some(2)),
            rank("a_plain", None),
        ]
    );
    // A view that groups by the key depends on it: orders keeps it.
    c.indexes[3].others_depend = true;
    assert_eq!(
        deferred(&c, FkStrategy::Drop),
        ["a_pkey", "c_u", "a_old_unique", "a_new_unique", "a_plain"]
    );
    // One of a's unique indexes that cannot go keeps the others.
    c.indexes[6].valid = false;
    assert_eq!(deferred(&c, FkStrategy::Drop), ["c_u", "a_plain"]);
}

/// A foreign key re-created after the load takes the oldest unique index
/// that fits it: the one each key uses now is rebuilt before the others
/// that fit, and where the indexes as they stand would lead a key to
/// another one, they are rebuilt whatever the table's size.
#[test]
fn unique_indexes_are_ranked_so_each_key_finds_its_own() {
    let unique = |n: &str, oid: u32, cols: &[&str]| Index {
        oid,
        unique: true,
        key_columns: cols.iter().map(|c| c.to_string()).collect(),
        ..Index::sample("public", "a", n, None)
    };
    let mut c = sample();
    c.indexes = vec![
        // Fits nothing: partial.
        Index {
            partial: true,
            ..unique("a_code_partial", 5, &["code"])
        },
        unique("a_code_old", 10, &["code"]),
        // b's key uses it (declared with no column list), though older
        // ones fit.
        unique("a_pkey", 20, &["code"]),
        unique("a_pair", 30, &["id", "code"]),
        // A DEFERRABLE key's index fits no foreign key.
        Index {
            immediate: false,
            ..unique("a_code_deferrable", 40, &["code"])
        },
    ];
    for f in c
        .foreign_keys
        .iter_mut()
        .filter(|f| f.referenced.name == "a")
    {
        f.referenced_columns = vec!["code".into()];
        f.index = Some(match f.table.name.as_str() {
            "b" => "a_pkey".into(),
            _ => "a_code_old".into(),
        });
    }
    let opts = PlanOptions {
        defer_indexes: true,
        fk_strategy: FkStrategy::Drop,
        ..Default::default()
    };
    let ranked = |c: &Catalog| -> Vec<(String, Option<u32>, bool)> {
        let mut deferred = plan(c, &opts).unwrap().deferred_indexes;
        // a is 10,000 bytes: below 1 MB only what a key needs stays.
        keep_large_tables_indexes(&mut deferred, 1 << 20, |_| Some(10_000));
        deferred
            .into_iter()
            .map(|i| (i.name, i.properties.unique_rank, i.rebuilt_for_fks))
            .collect()
    };
    let r = |n: &str, rank: u32, rebuilt: bool| (n.to_string(), Some(rank), rebuilt);
    // b's key wants a_pkey before a_code_old, events' a_code_old before
    // a_pkey: they cannot both have theirs. The others go by age, then
    // the two, the oldest first.
    assert_eq!(
        ranked(&c),
        [
            r("a_code_partial", 0, true),
            r("a_code_old", 3, true),
            r("a_pkey", 4, true),
            r("a_pair", 1, true),
            r("a_code_deferrable", 2, true),
        ]
    );
    // With b's key alone on a_pkey, a_pkey comes back before the older
    // index that fits (the partial one fits no key).
    c.foreign_keys.retain(|f| f.table.name != "events");
    assert_eq!(
        ranked(&c),
        [
            r("a_code_partial", 0, true),
            r("a_code_old", 2, true),
            r("a_pkey", 1, true),
            r("a_pair", 3, true),
            r("a_code_deferrable", 4, true),
        ]
    );
    // A key on the oldest that fits needs nothing: by age, and a small
    // table keeps its indexes.
    for f in c
        .foreign_keys
        .iter_mut()
        .filter(|f| f.referenced.name == "a")
    {
        f.index = Some("a_code_old".into());
    }
    assert_eq!(ranked(&c), []);
}

#[test]
fn index_batches_never_split_a_tree() {
    let idx = |n: &str, part: bool| Index::sample("s", "t", n, part.then_some("t_idx"));
    let list = [
        idx("a", false),
        idx("b", false),
        idx("c", false),
        idx("t1", true),
        idx("t2", true),
        idx("t", false),
        idx("d", false),
    ];
    let names = |size| -> Vec<Vec<&str>> {
        index_batches(&list, size)
            .map(|b| b.iter().map(|i| i.name.as_str()).collect())
            .collect()
    };
    assert_eq!(names(4), [vec!["a", "b", "c", "t1", "t2", "t"], vec!["d"]]);
    assert_eq!(
        names(2),
        [vec!["a", "b"], vec!["c", "t1", "t2", "t"], vec!["d"]]
    );
    assert_eq!(names(100).len(), 1);
    assert!(index_batches(&[], 3).next().is_none());
}

#[test]
fn a_sub_partitioned_index_tree_is_deferred_children_first() {
    let part = |name: &str, parent: Option<&str>, partitioned: bool| Table {
        kind: if partitioned {
            TableKind::Partitioned
        } else {
            TableKind::Ordinary
        },
        parent: parent.map(|p| QualifiedName::new("s", p)),
        ..Table::sample("s", name)
    };
    let idx = |t: &str, n: &str, parent: Option<&str>| Index::sample("s", t, n, parent);
    let c = Catalog {
        tables: vec![
            part("root", None, true),
            part("mid", Some("root"), true),
            part("leaf1", Some("mid"), false),
            part("leaf2", Some("root"), false),
        ],
        indexes: vec![
            idx("root", "r_idx", None),
            idx("mid", "m_idx", Some("r_idx")),
            idx("leaf1", "l1_idx", Some("m_idx")),
            idx("leaf2", "l2_idx", Some("r_idx")),
        ],
        ..Default::default()
    };
    let opts = PlanOptions {
        defer_indexes: true,
        ..Default::default()
    };
    let p = plan(&c, &opts).unwrap();
    let got: Vec<(&str, usize)> = p
        .deferred_indexes
        .iter()
        .map(|i| {
            (
                i.name.as_str(),
                i.definition.matches("ATTACH PARTITION").count(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("l1_idx", 0), ("m_idx", 1), ("l2_idx", 0), ("r_idx", 2)]
    );
    // A foreign partition under the middle level keeps it all in place.
    let mut with_foreign = c.clone();
    with_foreign.indexes[1].other_partitions = true;
    assert!(plan(&with_foreign, &opts)
        .unwrap()
        .deferred_indexes
        .is_empty());
    // A leaf left out of the copy keeps the whole tree in place.
    let p = plan(
        &c,
        &PlanOptions {
            defer_indexes: true,
            ..Default::default()
        }
        .with_patterns(None, Some("s.leaf1"))
        .unwrap(),
    )
    .unwrap();
    assert!(p.deferred_indexes.is_empty());
}

#[test]
fn analyze_early_unless_partition_or_deferred_expression_index() {
    let mut c = sample();
    let idx = |t: &str, n: &str, expr: bool| Index {
        has_expressions: expr,
        ..Index::sample("public", t, n, None)
    };
    c.indexes = vec![idx("a", "a_lower", true), idx("b", "b_v", false)];
    let opts = PlanOptions {
        defer_indexes: true,
        ..Default::default()
    };
    let p = plan(&c, &opts).unwrap();
    let early: Vec<String> = p
        .tables
        .iter()
        .filter(|t| p.analyze_when_loaded(t))
        .map(|t| t.table.display_name())
        .collect();
    assert_eq!(early, ["sales.orders", "public.c", "public.b"]);
    // Without deferring, a's expression index is there during the load.
    let p2 = plan(&c, &PlanOptions::default()).unwrap();
    assert!(p2
        .tables
        .iter()
        .any(|t| t.table.name == "a" && p2.analyze_when_loaded(t)));

    // Afterwards: what was not analyzed, partitions through their root once,
    // nothing that did not load.
    let after: Vec<String> = p
        .analyze_after_load(
            |i| p.tables[i].table.name != "c",
            |i| p.tables[i].table.name == "b",
        )
        .iter()
        .map(|t| t.display_name())
        .collect();
    assert_eq!(after, ["sales.orders", "public.a", "public.events"]);
    let none = p.analyze_after_load(|i| p.tables[i].table.name.starts_with("events_"), |_| true);
    assert_eq!(none, [QualifiedName::new("public", "events")]);
}

#[test]
fn exclude_and_no_match() {
    let opts = PlanOptions::default()
        .with_patterns(None, Some("public.*"))
        .unwrap();
    let p = plan(&sample(), &opts).unwrap();
    assert_eq!(p.tables.len(), 1);
    let opts = PlanOptions::default()
        .with_patterns(Some("nope,a"), Some("zz*"))
        .unwrap();
    let err = plan(&sample(), &opts).unwrap_err();
    assert_eq!(
        err,
        PlanError::NoMatch(vec!["`nope`".into(), "`zz*`".into()])
    );
    assert!(err.to_string().contains("--allow-empty-match"));
    let opts = PlanOptions {
        allow_empty_match: true,
        ..opts
    };
    assert_eq!(plan(&sample(), &opts).unwrap().tables.len(), 1);
    // The state schema is never matched.
    let opts = PlanOptions::default()
        .with_patterns(Some("pgcopy.*"), None)
        .unwrap();
    assert!(plan(&sample(), &opts).is_err());
}

#[test]
fn split_threshold() {
    let opts = PlanOptions {
        split_larger_than: 8192 * 16,
        ..Default::default()
    };
    let p = plan(&sample(), &opts).unwrap();
    let orders = &p.tables[0];
    assert!(orders.is_split());
    assert_eq!(orders.chunks.len(), 8);
    assert!(!orders.truncate_in_load());
    assert!(p
        .tables
        .iter()
        .find(|t| t.table.name == "c")
        .unwrap()
        .truncate_in_load());
}
