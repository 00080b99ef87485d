//! Preflight checks that need no server: does the destination have every planned
//! table with the same columns, and may this role do what the plan needs? Every
//! problem is collected, so the user fixes them all in one round.

use crate::catalog::{Catalog, TableKind};
use crate::plan::Plan;

mod found;
mod problem;
pub mod state_schema;

pub use found::*;
pub use problem::Problem;
pub use state_schema::{StateSchemaFacts, StateSchemaProblem};

/// Compares the plan (made from `source`) with the destination's catalog;
/// `trust` says whose tables a load need not take the owner's role for.
pub fn check_tables(
    plan: &Plan,
    source: &Catalog,
    dest: &Catalog,
    trust: &crate::trust::TrustedOwners,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let no_usage = |problems: &mut Vec<Problem>, schema: &str, side: &'static str| {
        let p = Problem::NoSchemaUsage {
            schema: schema.to_string(),
            side,
        };
        if !problems.contains(&p) {
            problems.push(p);
        }
    };
    for spec in &plan.tables {
        let name = &spec.table;
        if let Some(s) = source.table(name) {
            if !s.privileges.schema_usage {
                no_usage(&mut problems, &name.schema, "source");
            }
            if !s.privileges.select {
                problems.push(Problem::NoSelect(name.clone()));
            }
            if s.row_security {
                problems.push(Problem::RowSecurity {
                    table: name.clone(),
                    side: "source",
                    owner: s.is_owner,
                });
            }
        }
        // A table routed into one the destination partitions differently
        // (crate::route) is compared with that table, which may be
        // partitioned: PostgreSQL routes the rows.
        let Some(d) = dest.table(spec.dest_table()) else {
            problems.push(Problem::MissingTable(name.clone()));
            continue;
        };
        if d.kind != TableKind::Ordinary && spec.load_into.is_none() {
            problems.push(Problem::WrongKind(name.clone()));
            continue;
        }
        let Some(s) = source.table(name) else {
            continue;
        };
        let name = &d.name;
        for sc in &s.columns {
            match d.columns.iter().find(|dc| dc.name == sc.name) {
                None => problems.push(Problem::MissingColumn(name.clone(), sc.name.clone())),
                Some(dc) if dc.generated != sc.generated => {
                    problems.push(Problem::GeneratedMismatch(name.clone(), sc.name.clone()))
                }
                Some(dc) if dc.type_name != sc.type_name => problems.push(Problem::TypeMismatch {
                    table: name.clone(),
                    column: sc.name.clone(),
                    source: sc.type_name.clone(),
                    dest: dc.type_name.clone(),
                }),
                Some(dc) if dc.type_shape != sc.type_shape => {
                    problems.push(Problem::TypeMadeOtherwise {
                        table: name.clone(),
                        column: sc.name.clone(),
                        type_name: sc.type_name.clone(),
                        source: sc.type_shape.clone(),
                        dest: dc.type_shape.clone(),
                    })
                }
                Some(_) => {}
            }
        }
        for dc in &d.columns {
            if !s.columns.iter().any(|sc| sc.name == dc.name) {
                problems.push(Problem::ExtraColumn(name.clone(), dc.name.clone()));
            }
        }
        if !d.privileges.schema_usage {
            no_usage(&mut problems, &name.schema, "destination");
        }
        if d.row_security {
            problems.push(Problem::RowSecurity {
                table: name.clone(),
                side: "destination",
                owner: d.is_owner,
            });
        }
        if !d.privileges.insert {
            problems.push(Problem::NoWrite(name.clone(), "INSERT"));
        }
        if !d.privileges.truncate {
            problems.push(Problem::NoWrite(name.clone(), "TRUNCATE"));
        }
        if d.loads_as_owner(trust, dest.superuser) && !d.owner_may_load {
            problems.push(Problem::OwnerMayNotLoad {
                table: name.clone(),
                owner: d.owner.clone(),
                superuser: dest.superuser,
            });
        }
    }
    problems
}

/// Checks that the role may drop and re-create every foreign key the copy drops
/// (`fks`, as the destination defines them).
pub fn check_fk_rights<'a>(
    fks: impl IntoIterator<Item = &'a crate::catalog::ForeignKey>,
    dest: &Catalog,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for fk in fks {
        if !dest.table(&fk.table).is_some_and(|t| t.is_owner) {
            problems.push(Problem::NotOwnerForFk {
                table: fk.table.clone(),
                constraint: fk.name.clone(),
            });
        }
        // Re-created as its table's owner: the owner needs REFERENCES.
        if !fk.owner_may_reference {
            problems.push(Problem::NoReferences {
                table: fk.table.clone(),
                owner: dest
                    .table(&fk.table)
                    .map(|t| t.owner.clone())
                    .unwrap_or_default(),
                referenced: fk.referenced.clone(),
                constraint: fk.name.clone(),
            });
        }
    }
    problems
}

/// A warning, not a problem: the source has large objects, which this copy
/// leaves out (`--skip-large-objects`, or only some tables copied). Names the copied columns that may refer to them (`oid`, or the
/// `lo` extension's domain), at most five.
pub fn large_objects_warning(plan: &Plan, source: &Catalog) -> Option<String> {
    if source.large_objects <= 0 {
        return None;
    }
    let refs: Vec<String> = plan
        .tables
        .iter()
        .filter_map(|spec| source.table(&spec.table))
        .flat_map(|t| {
            t.columns
                .iter()
                .filter(|c| {
                    c.type_name == "oid" || c.type_name == "lo" || c.type_name.ends_with(".lo")
                })
                .map(move |c| format!("{}.{}", t.name.display_name(), c.name))
        })
        .collect();
    let columns = match refs.len() {
        0 => String::new(),
        n if n <= 5 => format!(" ({})", refs.join(", ")),
        n => format!(" ({} and {} more)", refs[..5].join(", "), n - 5),
    };
    Some(format!(
        "the source has {} large objects (pg_largeobject), which this copy leaves out: columns \
         that refer to them{columns} will point at nothing on the destination unless they are \
         copied (--large-objects copies them)",
        source.large_objects
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::*;
    use crate::plan::{plan, PlanOptions};
    use crate::quote::QualifiedName;

    #[test]
    fn large_objects_are_mentioned_with_the_columns_that_may_refer_to_them() {
        let mut source = Catalog {
            tables: vec![
                table("docs", vec![col("id", "integer"), col("body", "oid")]),
                table("scans", vec![col("image", "public.lo")]),
                table("plain", vec![col("id", "integer")]),
            ],
            ..Default::default()
        };
        let p = plan(&source, &PlanOptions::default()).unwrap();
        assert_eq!(large_objects_warning(&p, &source), None);
        source.large_objects = 3;
        let w = large_objects_warning(&p, &source).unwrap();
        assert!(w.starts_with("the source has 3 large objects"), "{w}");
        assert!(w.contains("(public.docs.body, public.scans.image)"), "{w}");
        let only_plain = plan(
            &source,
            &PlanOptions::default()
                .with_patterns(Some("plain"), None)
                .unwrap(),
        )
        .unwrap();
        let w = large_objects_warning(&only_plain, &source).unwrap();
        assert!(w.contains("columns that refer to them will"), "{w}");
    }

    fn col(name: &str, ty: &str) -> Column {
        Column {
            name: name.into(),
            type_name: ty.into(),
            generated: false,
            identity: None,
            not_null: false,
            binary_io: true,
            builtin_type: true,
            builtin_types: Vec::new(),
            type_shape: String::new(),
        }
    }

    fn table(name: &str, cols: Vec<Column>) -> Table {
        Table {
            oid: 1,
            columns: cols,
            ..Table::sample("public", name)
        }
    }

    #[test]
    fn finds_every_problem() {
        let mut secret = table("a", vec![col("id", "integer"), col("x", "text")]);
        secret.row_security = true;
        let source = Catalog {
            tables: vec![
                secret,
                table("b", vec![col("id", "integer")]),
                table("c", vec![col("id", "integer")]),
            ],
            ..Default::default()
        };
        let mut c = table("c", vec![col("id", "integer")]);
        c.privileges.truncate = false;
        c.privileges.schema_usage = false;
        c.row_security = true;
        c.is_owner = false;
        let dest = Catalog {
            tables: vec![table("a", vec![col("id", "bigint"), col("y", "text")]), c],
            ..Default::default()
        };
        let p = plan(&source, &PlanOptions::default()).unwrap();
        let problems = check_tables(&p, &source, &dest, &Default::default());
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 8, "{text:#?}");
        assert!(text.iter().any(|t| t
            == "the destination role may not use schema public: GRANT USAGE ON SCHEMA \"public\" to it, \
                or exclude its tables"));
        assert!(text.iter().any(|t| t.contains(
            "row-level security policies on public.a apply to the source role, which would read only \
             the rows they show: the table has FORCE ROW LEVEL SECURITY, so owning it is not enough"
        )));
        assert!(text.iter().any(|t| t.contains(
            "row-level security policies on public.c apply to the destination role, and COPY FROM refuses \
             such a table: copy as the table's owner, a superuser or a role with BYPASSRLS"
        )));
        assert!(text
            .iter()
            .any(|t| t.contains("table public.b does not exist on the destination")));
        assert!(text
            .iter()
            .any(|t| t.contains("\"id\" of public.a is integer on the source but bigint")));
        assert!(text
            .iter()
            .any(|t| t.contains("\"x\" of public.a is missing")));
        assert!(text
            .iter()
            .any(|t| t.contains("\"y\" of public.a exists only on the destination")));
        assert!(text
            .iter()
            .any(|t| t.contains("lacks TRUNCATE on public.c")));
        let mut clean = source.clone();
        clean.tables[0].row_security = false;
        assert!(check_tables(&p, &clean, &clean, &Default::default()).is_empty());
    }

    #[test]
    fn fk_rights() {
        let mut a = table("a", vec![col("id", "integer")]);
        a.is_owner = false;
        a.owner = "other".into();
        let b = table("b", vec![col("id", "integer")]);
        let dest = Catalog {
            tables: vec![a, b],
            ..Default::default()
        };
        let fk = ForeignKey {
            name: "a_b".into(),
            table: QualifiedName::new("public", "a"),
            referenced: QualifiedName::new("public", "b"),
            definition: String::new(),
            validated: true,
            inherited: false,
            kind: Default::default(),
            columns: vec![],
            referenced_columns: vec![],
            match_full: false,
            collations: Vec::new(),
            owner_may_reference: false,
            index: None,
            equality: Vec::new(),
        };
        let problems = check_fk_rights([&fk], &dest);
        assert_eq!(problems.len(), 2);
        assert!(problems[0]
            .to_string()
            .contains("the role must own public.a"));
        assert!(problems[1]
            .to_string()
            .contains("public.a's owner \"other\" lacks REFERENCES on public.b"));
        let fine = ForeignKey {
            owner_may_reference: true,
            ..fk
        };
        assert_eq!(check_fk_rights([&fine], &dest).len(), 1);
    }
}
