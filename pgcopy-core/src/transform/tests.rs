use super::*;
use crate::catalog::{Column, ForeignKey, Table};

fn qn(n: &str) -> QualifiedName {
    QualifiedName::new("public", n)
}

fn col(name: &str) -> Column {
    Column {
        name: name.into(),
        type_name: "text".into(),
        generated: false,
        identity: None,
        not_null: false,
        binary_io: true,
        builtin_type: true,
        builtin_types: Vec::new(),
        type_shape: String::new(),
    }
}

fn catalog() -> Catalog {
    let customer = Table {
        columns: vec![col("customer_id"), col("email"), col("name")],
        ..Table::sample("public", "customer")
    };
    let rental = Table {
        columns: vec![col("rental_id"), col("customer_id")],
        ..Table::sample("public", "rental")
    };
    let mut doubled = col("doubled");
    doubled.generated = true;
    let other = Table {
        columns: vec![col("id"), doubled],
        ..Table::sample("public", "other")
    };
    Catalog {
        tables: vec![customer, rental, other],
        foreign_keys: vec![ForeignKey {
            name: "rental_customer_fk".into(),
            table: qn("rental"),
            referenced: qn("customer"),
            definition: String::new(),
            validated: true,
            inherited: false,
            kind: Default::default(),
            columns: vec!["customer_id".into()],
            referenced_columns: vec!["customer_id".into()],
            match_full: false,
            collations: Vec::new(),
            owner_may_reference: true,
            index: None,
            equality: vec![crate::catalog::KeyEquality::builtin()],
        }],
        ..Default::default()
    }
}

fn copied(c: &Catalog) -> Vec<QualifiedName> {
    c.tables.iter().map(|t| t.name.clone()).collect()
}

fn t(spec: &str) -> ColumnTransform {
    ColumnTransform::parse(spec).unwrap()
}

#[test]
fn parses_table_column_and_expression() {
    assert_eq!(
        t("public.customer.email: 'user' || customer_id || '@example.com'"),
        ColumnTransform {
            table: "public.customer".into(),
            column: "email".into(),
            expression: "'user' || customer_id || '@example.com'".into(),
        }
    );
    let odd = t(r#""My S"."a.b"."Odd ""Col""": upper(x)"#);
    assert_eq!(odd.table, r#""My S"."a.b""#);
    assert_eq!(odd.column, r#"Odd "Col""#);
    assert_eq!(t("customer.EMAIL: x").column, "email");
    for bad in [
        "customer: x",
        "customer.email",
        "customer.email:",
        ".email: x",
    ] {
        assert!(
            matches!(ColumnTransform::parse(bad), Err(TransformError::Syntax(_))),
            "{bad}"
        );
    }
}

#[test]
fn a_column_takes_its_expression_on_the_copied_table() {
    let c = catalog();
    let plan = plan_transforms(&c, &copied(&c), &[t("customer.email: md5(email)")]).unwrap();
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[&qn("customer")]["email"], "md5(email)");
}

#[test]
fn bad_columns_and_broken_keys_are_refused() {
    let c = catalog();
    let err = |specs: &[&str]| {
        plan_transforms(
            &c,
            &copied(&c),
            &specs.iter().map(|s| t(s)).collect::<Vec<_>>(),
        )
        .unwrap_err()
        .to_string()
    };
    assert!(err(&["customer.nosuch: 1"]).contains("which the table does not have"));
    assert!(err(&["other.doubled: 1"]).contains("is generated"));
    assert!(err(&["nosuch.x: 1"]).contains("selects no copied table"));
    assert!(err(&["customer.email: 1", "public.customer.email: 2"]).contains("twice"));
    let broken = err(&["customer.customer_id: customer_id + 1000"]);
    assert!(
        broken.contains(
            "changes public.customer.customer_id, which foreign key \"rental_customer_fk\" uses \
             (public.rental.customer_id -> public.customer.customer_id)"
        ),
        "{broken}"
    );
    assert!(
        broken.contains("transform public.rental.\"customer_id\" too"),
        "{broken}"
    );
    assert!(err(&[
        "customer.customer_id: customer_id + 1000",
        "rental.customer_id: customer_id + 1"
    ])
    .contains("would no longer hold"));
    // The same expression on both sides keeps the key.
    let both = plan_transforms(
        &c,
        &copied(&c),
        &[
            t("customer.customer_id: customer_id + 1000"),
            t("rental.customer_id: customer_id + 1000"),
        ],
    )
    .unwrap();
    assert_eq!(both.len(), 2);
}

#[test]
fn a_partition_key_column_stays_as_it_is() {
    let mut c = catalog();
    let mut root = Table {
        columns: vec![col("id"), col("Odd Key")],
        ..Table::sample("public", "events")
    };
    root.kind = crate::catalog::TableKind::Partitioned;
    root.partition_key = Some(r#"LIST ("Odd Key", lower(id))"#.into());
    let mut leaf = Table::sample("public", "events_1");
    leaf.parent = Some(qn("events"));
    c.tables.extend([root, leaf]);
    let copied = vec![qn("customer"), qn("events_1")];
    for column in [r#"events."Odd Key""#, "events.id"] {
        let e = plan_transforms(&c, &copied, &[t(&format!("{column}: 'x'"))]).unwrap_err();
        assert!(matches!(e, TransformError::PartitionKey { .. }), "{e}");
    }
    assert_eq!(key_names(r#"RANGE (a, "B""c")"#), ["RANGE", "a", "B\"c"]);
}
