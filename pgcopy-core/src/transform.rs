//! Masked columns (`--transform 'TABLE.COLUMN: EXPRESSION'`): a column is
//! copied as an SQL expression's value, computed on the source in the run's
//! snapshot over the row's columns. Pure: which column of which copied table
//! takes which expression, and whether foreign keys still hold.
//!
//! A column a foreign key uses (referencing or referenced) may be transformed
//! only when the column it pairs with on the other side of that key has the
//! same name and is transformed by the same expression text. Then, so long
//! as the expression reads only that column and gives the same value for the
//! same input (no `random()`, no clock, no other column), equal values before
//! are equal after and the key holds; in drop mode a key that does not is
//! restored NOT VALID and reported, as any.

use crate::catalog::{Catalog, ConstraintKind};
use crate::quote::{quote_ident, QualifiedName};
use crate::subset::{resolve_node, Unresolved};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One `--transform 'TABLE.COLUMN: EXPRESSION'`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnTransform {
    /// TABLE as written (one table, or a partitioned table).
    pub table: String,
    /// The column, unquoted.
    pub column: String,
    /// The SQL expression whose value the column takes.
    pub expression: String,
}

/// Why a transform cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// Not `TABLE.COLUMN: EXPRESSION`.
    #[error("--transform {0:?} is not TABLE.COLUMN: EXPRESSION (for example --transform 'public.customer.email: md5(email) || ''@example.com''')")]
    Syntax(String),
    /// TABLE names no one copied table.
    #[error("--transform names table {table:?}, which {found}: name one copied table (schema.table), or a partitioned table")]
    NotOneTable {
        /// TABLE as written.
        table: String,
        /// What it selects, for people.
        found: String,
    },
    /// TABLE is a partition.
    #[error("--transform names {table}, a partition of {root}: transform the column of {root} (for each of its partitions)")]
    Partition {
        /// The partition.
        table: String,
        /// Its partitioned table.
        root: String,
    },
    /// The column is not one the copy writes.
    #[error("--transform names column {column:?} of {table}, which {why}")]
    NoColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Why, for people.
        why: &'static str,
    },
    /// The column decides the partition a row goes to.
    #[error("--transform names column {column:?} of {table}, which partitions it: a changed value could belong in another partition; leave the partition key as it is")]
    PartitionKey {
        /// The partitioned table.
        table: String,
        /// The column.
        column: String,
    },
    /// Two transforms of one column.
    #[error("--transform names {table}.{column} twice: keep one")]
    Twice {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A key column transformed inconsistently.
    #[error(transparent)]
    BreaksKey(Box<BrokenKey>),
}

/// A transformed column a foreign key uses, whose partner on the other side
/// of the key is not transformed alike.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--transform changes {table}.{column}, which foreign key {key:?} uses ({child}.{child_column} -> \
     {parent}.{parent_column}): the key would no longer hold; transform {other} too, by the same expression \
     (the columns must have the same name, and the expression read only that column), or leave the key's \
     columns as they are"
)]
pub struct BrokenKey {
    /// The transformed table.
    pub table: String,
    /// The transformed column.
    pub column: String,
    /// The foreign key.
    pub key: String,
    /// The referencing table.
    pub child: String,
    /// Its column.
    pub child_column: String,
    /// The referenced table.
    pub parent: String,
    /// Its column.
    pub parent_column: String,
    /// What to transform too, for people.
    pub other: String,
}

/// What a stored transform's expression starts with: it is a digest.
const DIGEST_PREFIX: &str = "sha256:";

impl ColumnTransform {
    /// This transform as a job stores it: the expression replaced by its
    /// SHA-256 (`sha256:<hex>`), since whoever may read the state schema
    /// may read the job's options, and a masking expression may hold a
    /// secret (a salt, a key). A resume compares what it is given with
    /// [`Self::same_as_stored`].
    pub fn stored(&self) -> ColumnTransform {
        ColumnTransform {
            expression: match self.expression.starts_with(DIGEST_PREFIX) {
                true => self.expression.clone(),
                false => digest(&self.expression),
            },
            ..self.clone()
        }
    }

    /// Whether `stored` (a job's, [`Self::stored`]) is this transform.
    pub fn same_as_stored(&self, stored: &ColumnTransform) -> bool {
        self.table == stored.table
            && self.column == stored.column
            && (digest(&self.expression) == stored.expression
                // a job stored by a version that kept the text
                || self.expression == stored.expression)
    }

    /// Parses `TABLE.COLUMN: EXPRESSION` (the `:` and the last `.` before
    /// it found outside double quotes; a quoted column is unquoted).
    pub fn parse(spec: &str) -> Result<ColumnTransform, TransformError> {
        let syntax = || TransformError::Syntax(spec.into());
        let mut quoted = false;
        let mut colon = None;
        let mut last_dot = None;
        for (i, c) in spec.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '.' if !quoted => last_dot = Some(i),
                ':' if !quoted => {
                    colon = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let (colon, dot) = (colon.ok_or_else(syntax)?, last_dot.ok_or_else(syntax)?);
        let (table, column, expression) = (
            spec[..dot].trim(),
            spec[dot + 1..colon].trim(),
            spec[colon + 1..].trim(),
        );
        if table.is_empty() || column.is_empty() || expression.is_empty() {
            return Err(syntax());
        }
        let column = match column.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
            Some(inner) => inner.replace("\"\"", "\""),
            None => column.to_lowercase(),
        };
        Ok(ColumnTransform {
            table: table.into(),
            column,
            expression: expression.into(),
        })
    }
}

/// Each copied table's transformed columns (column to expression), for
/// `copied` (plain tables and partitions: a partitioned table's transform
/// applies to each of its partitions).
pub fn plan_transforms(
    catalog: &Catalog,
    copied: &[QualifiedName],
    transforms: &[ColumnTransform],
) -> Result<BTreeMap<QualifiedName, BTreeMap<String, String>>, TransformError> {
    // By node: a plain table or the partitioned table at the top.
    let mut by_node: BTreeMap<QualifiedName, BTreeMap<String, String>> = BTreeMap::new();
    for t in transforms {
        let node = resolve_node(catalog, copied, &t.table).map_err(|e| match e {
            Unresolved::NotOne(found) => TransformError::NotOneTable {
                table: t.table.clone(),
                found,
            },
            Unresolved::Partition(p, root) => TransformError::Partition {
                table: p.display_name(),
                root: root.display_name(),
            },
        })?;
        let why = match catalog
            .table(&node)
            .and_then(|n| n.columns.iter().find(|c| c.name == t.column))
        {
            None => Some("the table does not have"),
            Some(c) if c.generated => Some("is generated (the destination computes it)"),
            Some(_) => None,
        };
        if let Some(why) = why {
            return Err(TransformError::NoColumn {
                table: node.display_name(),
                column: t.column.clone(),
                why,
            });
        }
        let partitioned_by_it = std::iter::once(node.clone())
            .chain(catalog.descendants(&node).iter().map(|t| t.name.clone()))
            .filter_map(|t| catalog.table(&t).and_then(|t| t.partition_key.clone()))
            .any(|key| key_names(&key).contains(&t.column));
        if partitioned_by_it {
            return Err(TransformError::PartitionKey {
                table: node.display_name(),
                column: t.column.clone(),
            });
        }
        let columns = by_node.entry(node.clone()).or_default();
        if columns
            .insert(t.column.clone(), t.expression.clone())
            .is_some()
        {
            return Err(TransformError::Twice {
                table: node.display_name(),
                column: t.column.clone(),
            });
        }
    }
    check_keys(catalog, &by_node)?;
    Ok(copied
        .iter()
        .filter_map(|t| {
            by_node
                .get(&catalog.top_of(t))
                .map(|c| (t.clone(), c.clone()))
        })
        .collect())
}

/// The names in a partition key as `pg_get_partkeydef` prints it (`RANGE
/// (at)`, `LIST ("Odd", lower(x))`): its identifiers, unquoted.
fn key_names(key: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            let mut name = String::new();
            while let Some(c) = chars.next() {
                match (c, chars.peek()) {
                    ('"', Some('"')) => {
                        name.push('"');
                        chars.next();
                    }
                    ('"', _) => break,
                    _ => name.push(c),
                }
            }
            names.push(name);
        } else if c.is_alphabetic() || c == '_' {
            let mut name = c.to_string();
            while let Some(&n) = chars.peek() {
                if n.is_alphanumeric() || n == '_' || n == '$' {
                    name.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            names.push(name);
        }
    }
    names
}

/// Refuses a transformed key column whose partner is not transformed alike.
fn check_keys(
    catalog: &Catalog,
    by_node: &BTreeMap<QualifiedName, BTreeMap<String, String>>,
) -> Result<(), TransformError> {
    for fk in catalog
        .foreign_keys
        .iter()
        .filter(|f| !f.inherited && f.kind == ConstraintKind::Foreign)
    {
        let (child, parent) = (catalog.top_of(&fk.table), catalog.top_of(&fk.referenced));
        for (c, p) in fk.columns.iter().zip(&fk.referenced_columns) {
            let on_child = by_node.get(&child).and_then(|m| m.get(c));
            let on_parent = by_node.get(&parent).and_then(|m| m.get(p));
            let consistent = match (on_child, on_parent) {
                (None, None) => true,
                (Some(a), Some(b)) => a == b && c == p,
                _ => false,
            };
            if !consistent {
                let (table, column) = match on_child {
                    Some(_) => (&child, c),
                    None => (&parent, p),
                };
                let other = match on_child {
                    Some(_) => format!("{}.{}", parent.display_name(), quote_ident(p)),
                    None => format!("{}.{}", child.display_name(), quote_ident(c)),
                };
                return Err(TransformError::BreaksKey(Box::new(BrokenKey {
                    table: table.display_name(),
                    column: column.clone(),
                    key: fk.name.clone(),
                    child: child.display_name(),
                    child_column: c.clone(),
                    parent: parent.display_name(),
                    parent_column: p.clone(),
                    other,
                })));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// `sha256:<hex>` of `text`.
pub(crate) fn digest(text: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(text.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("{DIGEST_PREFIX}{hex}")
}
