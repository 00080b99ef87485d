use super::*;

#[test]
fn lookups_stay_right_when_tables_change_after_the_first() {
    let mut c = Catalog {
        tables: vec![Table::sample("s", "a"), Table::sample("s", "b")],
        ..Default::default()
    };
    assert_eq!(
        c.table(&QualifiedName::new("s", "b")).unwrap().name.name,
        "b"
    );
    assert!(c.table(&QualifiedName::new("s", "c")).is_none());
    // Changed after the index was built: removed, reordered, added.
    c.tables.remove(0);
    c.tables.push(Table::sample("s", "c"));
    assert_eq!(
        c.table(&QualifiedName::new("s", "b")).unwrap().name.name,
        "b"
    );
    assert_eq!(
        c.table(&QualifiedName::new("s", "c")).unwrap().name.name,
        "c"
    );
    assert!(c.table(&QualifiedName::new("s", "a")).is_none());
    // The cache is not part of the value.
    let fresh = Catalog {
        tables: c.tables.clone(),
        ..Default::default()
    };
    assert_eq!(c, fresh);
    assert_eq!(c.clone(), fresh);
}
