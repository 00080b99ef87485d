//! The SQL a subset's predicates join with: each foreign key's own equality
//! operators written out (refused where a role not trusted could own the
//! comparison), and the `EXISTS` joins over them.

use super::{Edge, SubsetError, ROW_ALIAS};
use crate::catalog::Catalog;
use crate::quote::quote_ident;
use std::fmt::Write as _;

/// The operators `fk` compares its column pairs with, written out, or why
/// they may not be called with this role's rights.
pub(super) fn key_operators(
    catalog: &Catalog,
    fk: &crate::catalog::ForeignKey,
    trust: &crate::trust::TrustedOwners,
) -> Result<Vec<String>, SubsetError> {
    if fk.equality.len() != fk.columns.len() {
        return Err(SubsetError::UnknownOperator {
            key: fk.name.clone(),
            table: fk.table.display_name(),
        });
    }
    let trusted = |r: &str| r == catalog.current_user || trust.trusts(r);
    fk.equality
        .iter()
        .map(|eq| {
            let roles = eq.untrusted(&trusted);
            match roles.is_empty() {
                true => Ok(eq.sql()),
                false => Err(SubsetError::UntrustedOperator {
                    key: fk.name.clone(),
                    table: fk.table.display_name(),
                    operator: format!("{}.{}", eq.schema, eq.name),
                    why_types: !eq.exact && eq.owners.iter().all(|o| trusted(o)),
                    roles: roles.into_iter().map(str::to_string).collect(),
                }),
            }
        })
        .collect()
}

/// `pgcopy_row_k1, pgcopy_row_k2`: the columns of a walk's keys.
pub(super) fn key_names_list(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{ROW_ALIAS}_k{i}")).collect()
}

/// `a."x" COLLATE c OPERATOR(...) b.k1 AND ...`, with the key `e`'s
/// operators, the referenced columns (and their `collations`, where a
/// referencing column has another) on the left.
pub(super) fn equal(
    e: &Edge,
    left: &str,
    columns: &[String],
    collations: &[&str],
    right: &str,
    keys: &[String],
) -> String {
    columns
        .iter()
        .zip(collations)
        .zip(keys)
        .zip(operators(e))
        .map(|(((c, collate), k), op)| {
            format!("{left}.{}{collate} {op} {right}.{k}", quote_ident(c))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The key's operators; `plan_subset` refused the keys it joins over whose
/// operators may not be called, before any SQL was written.
pub(super) fn operators(e: &Edge) -> &[String] {
    e.operators.as_deref().unwrap_or(&[])
}

/// The child row (over `child`) references nothing: a NULL column (MATCH
/// SIMPLE), or all of them (MATCH FULL).
pub(super) fn nothing_referenced(e: &Edge, child: &str) -> String {
    let nulls: Vec<String> = e
        .columns
        .iter()
        .map(|c| format!("{child}.{} IS NULL", quote_ident(c)))
        .collect();
    nulls.join(if e.match_full { " AND " } else { " OR " })
}

/// The child row (over `child`) references the parent row (over `parent`),
/// compared as PostgreSQL compares the key: in the referenced columns'
/// collations.
pub(super) fn join(e: &Edge, child: &str, parent: &str) -> String {
    let mut out = String::new();
    for (i, (((c, p), collate), op)) in e
        .columns
        .iter()
        .zip(&e.referenced_columns)
        .zip(&e.collations)
        .zip(operators(e))
        .enumerate()
    {
        if i > 0 {
            out.push_str(" AND ");
        }
        let _ = write!(
            out,
            "{parent}.{}{collate} {op} {child}.{}",
            quote_ident(p),
            quote_ident(c)
        );
    }
    out
}
