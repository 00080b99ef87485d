use super::*;
use crate::catalog::{ForeignKey, Table, TableKind};

fn qn(n: &str) -> QualifiedName {
    QualifiedName::new("public", n)
}

fn fk(child: &str, cols: &[&str], parent: &str, refs: &[&str]) -> ForeignKey {
    ForeignKey {
        name: format!("{child}_{}_fk", cols.join("_")),
        table: qn(child),
        referenced: qn(parent),
        definition: String::new(),
        validated: true,
        inherited: false,
        kind: Default::default(),
        columns: cols.iter().map(|c| c.to_string()).collect(),
        referenced_columns: refs.iter().map(|c| c.to_string()).collect(),
        match_full: false,
        collations: Vec::new(),
        owner_may_reference: true,
        index: None,
        equality: cols
            .iter()
            .map(|_| crate::catalog::KeyEquality::builtin())
            .collect(),
    }
}

/// customer <- rental <- payment (-> customer too); address <- customer;
/// film (unrelated).
fn pagila_like() -> Catalog {
    Catalog {
        tables: ["address", "customer", "rental", "payment", "film"]
            .iter()
            .map(|n| Table::sample("public", n))
            .collect(),
        foreign_keys: vec![
            fk("customer", &["address_id"], "address", &["address_id"]),
            fk("rental", &["customer_id"], "customer", &["customer_id"]),
            fk("payment", &["rental_id"], "rental", &["rental_id"]),
            fk("payment", &["customer_id"], "customer", &["customer_id"]),
        ],
        ..Default::default()
    }
}

fn copied(c: &Catalog) -> Vec<QualifiedName> {
    c.tables.iter().map(|t| t.name.clone()).collect()
}

fn taken(subsets: &[TableSubset]) -> Vec<(String, Taken)> {
    subsets
        .iter()
        .map(|s| (s.table.name.clone(), s.taken))
        .collect()
}

fn filter(spec: &str) -> RowFilter {
    RowFilter::parse(spec).unwrap()
}

/// `plan_subset` over every table of `c`, following the keys, with
/// `filters` (each `TABLE: CONDITION`).
fn subset_of(c: &Catalog, filters: &[&str]) -> Result<Vec<TableSubset>, SubsetError> {
    let filters: Vec<RowFilter> = filters.iter().map(|f| filter(f)).collect();
    plan_subset(c, &copied(c), &filters, true, &Default::default())
}

#[test]
fn parses_table_and_condition() {
    assert_eq!(
        filter("public.customer: customer_id <= 50 AND email LIKE 'a:b%'"),
        RowFilter {
            table: "public.customer".into(),
            condition: "customer_id <= 50 AND email LIKE 'a:b%'".into()
        }
    );
    assert_eq!(filter(r#""Odd: T".x:a=1"#).table, r#""Odd: T".x"#);
    for bad in ["customer", ": x", "customer:", "  :  "] {
        let e = RowFilter::parse(bad).unwrap_err();
        assert!(e.to_string().contains("is not TABLE: CONDITION"), "{e}");
    }
}

#[test]
fn children_follow_and_parents_stay_whole() {
    let c = pagila_like();
    let s = subset_of(&c, &["public.customer: customer_id <= 50"]).unwrap();
    assert_eq!(
        taken(&s),
        [
            ("address".to_string(), Taken::Whole),
            ("customer".to_string(), Taken::Filtered),
            ("rental".to_string(), Taken::Limited),
            ("payment".to_string(), Taken::Limited),
            ("film".to_string(), Taken::Whole),
        ]
    );
    assert_eq!(s[0].predicate, None);
    assert_eq!(s[1].predicate.as_deref(), Some("(customer_id <= 50)"));
    assert_eq!(
        s[2].predicate.as_deref(),
        Some(
            "(pgcopy_row.\"customer_id\" IS NULL OR EXISTS (SELECT 1 FROM ONLY \"public\".\"customer\" pgcopy_row1 \
             WHERE pgcopy_row1.\"customer_id\" OPERATOR(\"pg_catalog\".=) pgcopy_row.\"customer_id\" AND (customer_id <= 50)))"
        )
    );
    // payment follows both rental and customer.
    let p = s[3].predicate.as_deref().unwrap();
    assert!(p.contains("FROM ONLY \"public\".\"rental\""), "{p}");
    assert!(p.contains(") AND ("), "{p}");
}

#[test]
fn a_filtered_child_pulls_in_what_it_references() {
    let c = pagila_like();
    // Both filtered: a rental taken keeps its customer, even one over 50.
    let s = subset_of(
        &c,
        &["customer: customer_id <= 50", "rental: rental_id <= 100"],
    )
    .unwrap();
    let customer = s[1].predicate.as_deref().unwrap();
    assert_eq!(
        customer,
        "((customer_id <= 50) OR EXISTS (SELECT 1 FROM ONLY \"public\".\"rental\" pgcopy_row1 WHERE \
         pgcopy_row.\"customer_id\" OPERATOR(\"pg_catalog\".=) pgcopy_row1.\"customer_id\" AND (rental_id <= 100)))"
    );
    assert_eq!(s[2].taken, Taken::Filtered);
}

#[test]
fn no_follow_takes_filters_as_they_are() {
    let c = pagila_like();
    let s = plan_subset(
        &c,
        &copied(&c),
        &[filter("customer: customer_id <= 50")],
        false,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(s[1].predicate.as_deref(), Some("(customer_id <= 50)"));
    assert!(s
        .iter()
        .filter(|t| t.table.name != "customer")
        .all(|t| t.taken == Taken::Whole && t.predicate.is_none()));
}

#[test]
fn nulls_reference_nothing_by_match_kind() {
    let mut c = Catalog {
        tables: vec![Table::sample("public", "p"), Table::sample("public", "c")],
        foreign_keys: vec![fk("c", &["a", "b"], "p", &["x", "y"])],
        ..Default::default()
    };
    let pred = |c: &Catalog| {
        plan_subset(
            c,
            &copied(c),
            &[filter("p: x > 1")],
            true,
            &Default::default(),
        )
        .unwrap()[1]
            .predicate
            .clone()
            .unwrap()
    };
    assert!(pred(&c).starts_with(
        "(pgcopy_row.\"a\" IS NULL OR pgcopy_row.\"b\" IS NULL OR EXISTS (SELECT 1 FROM ONLY \"public\".\"p\" \
         pgcopy_row1 WHERE pgcopy_row1.\"x\" OPERATOR(\"pg_catalog\".=) pgcopy_row.\"a\" AND pgcopy_row1.\"y\" OPERATOR(\"pg_catalog\".=) pgcopy_row.\"b\""
    ));
    c.foreign_keys[0].match_full = true;
    assert!(
        pred(&c).starts_with("(pgcopy_row.\"a\" IS NULL AND pgcopy_row.\"b\" IS NULL OR EXISTS")
    );
}

#[test]
fn a_partitioned_table_is_one_node() {
    let mut root = Table::sample("public", "events");
    root.kind = TableKind::Partitioned;
    let mut p1 = Table::sample("public", "events_1");
    p1.parent = Some(qn("events"));
    let mut p2 = Table::sample("public", "events_2");
    p2.parent = Some(qn("events"));
    let c = Catalog {
        tables: vec![root, p1, p2, Table::sample("public", "note")],
        foreign_keys: vec![fk("note", &["event_id"], "events", &["id"])],
        ..Default::default()
    };
    let copied = vec![qn("events_1"), qn("events_2"), qn("note")];
    let s = plan_subset(
        &c,
        &copied,
        &[filter("events: id < 10")],
        true,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(s[0].predicate.as_deref(), Some("(id < 10)"));
    assert_eq!(s[1].predicate.as_deref(), Some("(id < 10)"));
    let note = s[2].predicate.as_deref().unwrap();
    // Through the partitioned table, partitions included.
    assert!(
        note.contains("FROM \"public\".\"events\" pgcopy_row1"),
        "{note}"
    );
    let e = plan_subset(
        &c,
        &copied,
        &[filter("events_1: id < 10")],
        true,
        &Default::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--where names public.events_1, a partition of public.events: filter public.events (the condition \
         applies to each of its partitions)"
    );
}

#[test]
fn cycles_and_bad_names_are_refused_in_one_sentence() {
    let mut c = pagila_like();
    c.foreign_keys
        .push(fk("rental", &["last_payment"], "payment", &["payment_id"]));
    let e = subset_of(&c, &["customer: customer_id <= 50"]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("foreign keys form a cycle through tables the filters restrict (public."),
        "{text}"
    );
    assert!(text.contains("--no-follow-fks"), "{text}");
    // Without following, no cycle matters.
    assert!(plan_subset(
        &c,
        &copied(&c),
        &[filter("customer: customer_id <= 50")],
        false,
        &Default::default()
    )
    .is_ok());
    let c = pagila_like();
    let e = subset_of(&c, &["nosuch: true"]).unwrap_err();
    assert!(e.to_string().contains("selects no copied table"), "{e}");
    let e = subset_of(&c, &["customer: a", "public.customer: b"]).unwrap_err();
    assert_eq!(e, SubsetError::Twice("public.customer".into()));
}

/// A limited table that references itself: a row follows its parents in
/// other tables and its row of its own table, walked down from the rows
/// that reference none of their own table.
#[test]
fn a_limited_self_reference_is_walked_down_from_its_roots() {
    let mut c = pagila_like();
    c.foreign_keys
        .push(fk("rental", &["previous"], "rental", &["rental_id"]));
    let s = subset_of(&c, &["customer: customer_id <= 50"]).unwrap();
    let rental = s.iter().find(|t| t.table.name == "rental").unwrap();
    assert_eq!(rental.taken, Taken::Limited);
    // Evaluated once, the rows whose customer is taken; then the walk down
    // from those that reference no rental (or themselves), by place.
    assert_eq!(
        rental.predicate.as_deref().unwrap(),
        "(pgcopy_row.tableoid, pgcopy_row.ctid) IN (WITH RECURSIVE pgcopy_row_eligible1(pgcopy_row_toid, \
         pgcopy_row_tid) AS MATERIALIZED (SELECT pgcopy_row3.tableoid, pgcopy_row3.ctid FROM ONLY \
         \"public\".\"rental\" pgcopy_row3 WHERE (pgcopy_row3.\"customer_id\" IS NULL OR EXISTS (SELECT 1 FROM \
         ONLY \"public\".\"customer\" pgcopy_row12 WHERE pgcopy_row12.\"customer_id\" OPERATOR(\"pg_catalog\".=) \
         pgcopy_row3.\"customer_id\" AND (customer_id <= 50)))), pgcopy_row_down2(pgcopy_row_toid, \
         pgcopy_row_tid) AS (SELECT pgcopy_row4.tableoid, pgcopy_row4.ctid FROM ONLY \"public\".\"rental\" \
         pgcopy_row4 WHERE (pgcopy_row4.\"previous\" IS NULL OR (pgcopy_row4.\"rental_id\" OPERATOR(\"pg_catalog\".=) \
         pgcopy_row4.\"previous\")) AND (pgcopy_row4.tableoid, pgcopy_row4.ctid) IN (SELECT \
         pgcopy_row_toid, pgcopy_row_tid FROM pgcopy_row_eligible1) UNION SELECT pgcopy_row6.tableoid, \
         pgcopy_row6.ctid FROM pgcopy_row_down2 JOIN ONLY \"public\".\"rental\" pgcopy_row5 ON \
         pgcopy_row5.tableoid = pgcopy_row_down2.pgcopy_row_toid AND pgcopy_row5.ctid = \
         pgcopy_row_down2.pgcopy_row_tid JOIN ONLY \"public\".\"rental\" pgcopy_row6 ON \
         pgcopy_row5.\"rental_id\" OPERATOR(\"pg_catalog\".=) pgcopy_row6.\"previous\" WHERE (pgcopy_row6.tableoid, pgcopy_row6.ctid) \
         IN (SELECT pgcopy_row_toid, pgcopy_row_tid FROM pgcopy_row_eligible1)) SELECT pgcopy_row_toid, \
         pgcopy_row_tid FROM pgcopy_row_down2)"
    );
    // payment follows rental's whole selection, walk included.
    let payment = s.iter().find(|t| t.table.name == "payment").unwrap();
    assert!(
        payment
            .predicate
            .as_deref()
            .unwrap()
            .contains("WITH RECURSIVE pgcopy_row_eligible"),
        "{payment:?}"
    );
    // Two self-references in a limited table: which parent a row follows
    // has no single answer.
    c.foreign_keys
        .push(fk("rental", &["next"], "rental", &["rental_id"]));
    let e = subset_of(&c, &["customer: customer_id <= 50"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "public.rental references itself through \"rental_previous_fk\", \"rental_next_fk\", which --where cannot \
         follow (more than one, in a table the filters limit through another); filter another table, or \
         pass --no-follow-fks (the foreign keys that no longer hold then come back NOT VALID)"
    );
    // Not restricted, a self-reference does not matter.
    assert!(subset_of(&c, &["film: true"]).is_ok());
}

/// A filtered table that references itself brings along what its taken rows
/// reference in it, up to the top, through each of its self-references;
/// the tables it references then keep what those rows reference.
#[test]
fn a_filtered_self_reference_brings_its_ancestors() {
    let mut c = pagila_like();
    c.foreign_keys.push(fk(
        "customer",
        &["referred_by"],
        "customer",
        &["customer_id"],
    ));
    c.foreign_keys
        .push(fk("customer", &["mentor"], "customer", &["customer_id"]));
    let s = subset_of(&c, &["customer: customer_id <= 50"]).unwrap();
    let customer = s.iter().find(|t| t.table.name == "customer").unwrap();
    assert_eq!(customer.taken, Taken::Filtered);
    assert_eq!(
        customer.predicate.as_deref().unwrap(),
        "(pgcopy_row.tableoid, pgcopy_row.ctid) IN (WITH RECURSIVE pgcopy_row_up1(pgcopy_row_toid, \
         pgcopy_row_tid) AS (SELECT pgcopy_row2.tableoid, pgcopy_row2.ctid FROM ONLY \"public\".\"customer\" \
         pgcopy_row2 WHERE (customer_id <= 50) UNION SELECT pgcopy_row4.tableoid, pgcopy_row4.ctid FROM \
         pgcopy_row_up1 JOIN ONLY \"public\".\"customer\" pgcopy_row3 ON pgcopy_row3.tableoid = \
         pgcopy_row_up1.pgcopy_row_toid AND pgcopy_row3.ctid = pgcopy_row_up1.pgcopy_row_tid CROSS JOIN \
         LATERAL (VALUES (pgcopy_row3.\"referred_by\"), (pgcopy_row3.\"mentor\")) \
         pgcopy_row_up1_k(pgcopy_row_k1) JOIN ONLY \"public\".\"customer\" pgcopy_row4 ON \
         pgcopy_row4.\"customer_id\" OPERATOR(\"pg_catalog\".=) pgcopy_row_up1_k.pgcopy_row_k1) SELECT pgcopy_row_toid, \
         pgcopy_row_tid FROM pgcopy_row_up1)"
    );
    // A filtered address keeps what the walked rows reference: its pull
    // seeds from customer's whole selection.
    let s = subset_of(
        &c,
        &["customer: customer_id <= 50", "address: address_id <= 10"],
    )
    .unwrap();
    let address = s.iter().find(|t| t.table.name == "address").unwrap();
    assert!(
        address
            .predicate
            .as_deref()
            .unwrap()
            .contains("WITH RECURSIVE pgcopy_row_up"),
        "{address:?}"
    );
    // Self-references to two different keys: refused.
    c.foreign_keys
        .push(fk("customer", &["email_of"], "customer", &["email"]));
    let e = subset_of(&c, &["customer: customer_id <= 50"]).unwrap_err();
    assert!(
        e.to_string().contains("(they reference different keys)"),
        "{e}"
    );
}

/// author <-> book (each author's best book), book <- review: a cycle whose
/// tables reference no other restricted table is walked together; its
/// children outside follow it.
#[test]
fn a_cycle_at_the_top_is_walked_together() {
    let c = Catalog {
        tables: ["author", "book", "review"]
            .iter()
            .map(|n| Table::sample("public", n))
            .collect(),
        foreign_keys: vec![
            fk("author", &["best_book"], "book", &["id"]),
            fk("book", &["author_id"], "author", &["id"]),
            fk("review", &["book_id"], "book", &["id"]),
        ],
        ..Default::default()
    };
    let s = subset_of(&c, &["author: id < 5"]).unwrap();
    assert_eq!(
        taken(&s),
        [
            ("author".to_string(), Taken::Filtered),
            ("book".to_string(), Taken::Limited),
            ("review".to_string(), Taken::Limited)
        ]
    );
    let book = s[1].predicate.as_deref().unwrap();
    assert_eq!(
        book,
        "(pgcopy_row.tableoid, pgcopy_row.ctid) IN (WITH RECURSIVE pgcopy_row_cycle1(pgcopy_row_tag, \
         pgcopy_row_toid, pgcopy_row_tid) AS (\
         SELECT 1, pgcopy_row2.tableoid, pgcopy_row2.ctid FROM ONLY \"public\".\"author\" pgcopy_row2 WHERE (id < 5) \
         UNION ALL SELECT 2, pgcopy_row3.tableoid, pgcopy_row3.ctid FROM ONLY \"public\".\"book\" pgcopy_row3 \
         WHERE pgcopy_row3.\"author_id\" IS NULL \
         UNION SELECT pgcopy_row_cycle1_step.* FROM pgcopy_row_cycle1 CROSS JOIN LATERAL (\
         SELECT 2, pgcopy_row6.tableoid, pgcopy_row6.ctid FROM ONLY \"public\".\"author\" pgcopy_row5 JOIN ONLY \
         \"public\".\"book\" pgcopy_row6 ON pgcopy_row6.\"id\" OPERATOR(\"pg_catalog\".=) pgcopy_row5.\"best_book\" WHERE \
         pgcopy_row_cycle1.pgcopy_row_tag = 1 AND pgcopy_row5.tableoid = pgcopy_row_cycle1.pgcopy_row_toid AND \
         pgcopy_row5.ctid = pgcopy_row_cycle1.pgcopy_row_tid \
         UNION ALL SELECT 1, pgcopy_row8.tableoid, pgcopy_row8.ctid FROM ONLY \"public\".\"book\" pgcopy_row7 JOIN ONLY \
         \"public\".\"author\" pgcopy_row8 ON pgcopy_row8.\"id\" OPERATOR(\"pg_catalog\".=) pgcopy_row7.\"author_id\" WHERE \
         pgcopy_row_cycle1.pgcopy_row_tag = 2 AND pgcopy_row7.tableoid = pgcopy_row_cycle1.pgcopy_row_toid AND \
         pgcopy_row7.ctid = pgcopy_row_cycle1.pgcopy_row_tid \
         UNION ALL SELECT 2, pgcopy_row9.tableoid, pgcopy_row9.ctid FROM ONLY \"public\".\"author\" pgcopy_row10 JOIN ONLY \
         \"public\".\"book\" pgcopy_row9 ON pgcopy_row10.\"id\" OPERATOR(\"pg_catalog\".=) pgcopy_row9.\"author_id\" WHERE \
         pgcopy_row_cycle1.pgcopy_row_tag = 1 AND pgcopy_row10.tableoid = pgcopy_row_cycle1.pgcopy_row_toid AND \
         pgcopy_row10.ctid = pgcopy_row_cycle1.pgcopy_row_tid) pgcopy_row_cycle1_step) \
         SELECT pgcopy_row_cycle1.pgcopy_row_toid, pgcopy_row_cycle1.pgcopy_row_tid FROM pgcopy_row_cycle1 \
         WHERE pgcopy_row_cycle1.pgcopy_row_tag = 2)"
    );
    // review follows book's walked rows.
    assert!(
        s[2].predicate
            .as_deref()
            .unwrap()
            .contains("pgcopy_row_tag = 2)"),
        "{:?}",
        s[2]
    );
    // A limited table with two keys into the cycle: refused, in one sentence.
    let mut c = c;
    c.foreign_keys
        .push(fk("book", &["coauthor_id"], "author", &["id"]));
    let e = subset_of(&c, &["author: id < 5"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "foreign keys form a cycle through tables the filters restrict (public.author, public.book), which \
         --where cannot follow: public.book, limited by the filters, references tables in it through 2 keys \
         (\"book_author_id_fk\", \"book_coauthor_id_fk\"), so which of its rows to take has no single answer; \
         filter another table, or pass --no-follow-fks (the foreign keys that no longer hold then come back \
         NOT VALID)"
    );
}

/// Chains of tables that reference themselves: each table's selection
/// holds its parent's once, so predicates grow with the chain's length, not
/// exponentially (pasted two or three times a level, eight levels made
/// hundreds of kB, past what the parser nests).
#[test]
fn chains_of_self_references_grow_linearly() {
    let names: Vec<String> = (0..=8).map(|i| format!("t{i}")).collect();
    let mut foreign_keys = Vec::new();
    for i in 1..=8 {
        foreign_keys.push(fk(&names[i], &["up_id"], &names[i - 1], &["id"]));
        foreign_keys.push(fk(&names[i], &["parent_id"], &names[i], &["id"]));
    }
    let c = Catalog {
        tables: names.iter().map(|n| Table::sample("public", n)).collect(),
        foreign_keys,
        ..Default::default()
    };
    for filters in [
        vec![filter("t0: id = 1")],
        (0..=8).map(|i| filter(&format!("t{i}: id < 5"))).collect(),
    ] {
        let s = plan_subset(&c, &copied(&c), &filters, true, &Default::default()).unwrap();
        let len: Vec<usize> = s
            .iter()
            .map(|t| t.predicate.as_deref().unwrap().len())
            .collect();
        assert!(len.iter().all(|&l| l < 40_000), "{len:?}");
        // Linear: the last four levels add about what the four before did.
        let (early, late) = (len[4] - len[1].min(len[4]), len[8] - len[5].min(len[8]));
        assert!(late <= 2 * early + 2_000, "{len:?}");
    }
}

#[test]
fn keys_are_followed_only_with_operators_this_role_may_call() {
    use crate::catalog::KeyEquality;
    use crate::trust::TrustedOwners;
    let mut c = pagila_like();
    c.current_user = "postgres".into();
    // rental's key to customer compares with an operator of app's, on a
    // type of app's it does not take exactly (a cast would run).
    let apps = KeyEquality {
        schema: "public".into(),
        name: "=".into(),
        exact: false,
        owners: vec!["app".into()],
        type_owners: vec!["app".into()],
        creators: Vec::new(),
    };
    c.foreign_keys[1].equality = vec![apps.clone()];
    let filters = [filter("customer: customer_id <= 50")];
    let run =
        |c: &Catalog, trust: &TrustedOwners| plan_subset(c, &copied(c), &filters, true, trust);
    let e = run(&c, &TrustedOwners::default()).unwrap_err();
    assert!(
        matches!(&e, SubsetError::UntrustedOperator { roles, .. } if roles == &["app"]),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("compares its columns with public.="), "{msg}");
    assert!(msg.contains("add --trust-owner app"), "{msg}");
    // Trusted, the key's own operator is written out.
    let s = run(&c, &TrustedOwners::new(["app".to_string()])).unwrap();
    let rental = s[2].predicate.as_deref().unwrap();
    assert!(rental.contains("OPERATOR(\"public\".=)"), "{rental}");
    // A superuser's operator taking the types exactly: no cast can run, so
    // the types' owner does not matter; the operator's owner does.
    c.foreign_keys[1].equality = vec![KeyEquality {
        owners: Vec::new(),
        exact: true,
        ..apps.clone()
    }];
    assert!(run(&c, &TrustedOwners::default()).is_ok());
    c.foreign_keys[1].equality = vec![KeyEquality {
        owners: Vec::new(),
        ..apps.clone()
    }];
    let e = run(&c, &TrustedOwners::default()).unwrap_err();
    assert!(
        e.to_string().contains("and a cast from a column's type"),
        "{e}"
    );
    // Who may create in its schema could add an exact one of its name.
    c.foreign_keys[1].equality = vec![KeyEquality {
        owners: Vec::new(),
        type_owners: Vec::new(),
        creators: vec!["PUBLIC".into()],
        ..apps.clone()
    }];
    assert!(run(&c, &TrustedOwners::default()).is_err());
    c.foreign_keys[1].equality = vec![KeyEquality {
        owners: Vec::new(),
        type_owners: Vec::new(),
        creators: vec!["PUBLIC".into()],
        exact: true,
        ..apps.clone()
    }];
    assert!(
        run(&c, &TrustedOwners::default()).is_ok(),
        "an exact one cannot be shadowed"
    );
    // The running role's own code is its own.
    c.current_user = "app".into();
    assert!(run(&c, &TrustedOwners::default()).is_ok());
    // A key nothing follows is never joined over.
    c.current_user = "postgres".into();
    let film_only = [filter("film: true")];
    assert!(plan_subset(&c, &copied(&c), &film_only, true, &TrustedOwners::default()).is_ok());
    // Without the catalog's word on the operator, a followed key is refused.
    c.foreign_keys[1].equality = Vec::new();
    assert!(matches!(
        run(&c, &TrustedOwners::default()),
        Err(SubsetError::UnknownOperator { .. })
    ));
}
