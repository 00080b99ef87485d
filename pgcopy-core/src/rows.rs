//! The rows the restore queries return, decoded once for the CLI and the
//! extension. Each side gives a [`Columns`] view of its rows, counted from 0
//! (tokio-postgres counts from 0, SPI from 1: the extension's view adds the
//! one, in one place), and the column order lives here beside the queries'
//! order: [`crate::state_sql::PENDING_FKS`], [`crate::state_sql::PENDING_INDEXES`]
//! and the probes' [`crate::state_sql::AUTHORITY_COLUMNS`].

use crate::catalog::ConstraintKind;
use crate::quote::QualifiedName;
use crate::restore::{Present, SavedFk, SavedIndex};
use crate::stored::Authority;

/// A row's columns by 0-based position; `None` for SQL NULL.
pub trait Columns {
    /// The error of reading a column.
    type Error;
    /// A `text` (or `name`) column.
    fn text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    /// A `bigint` column.
    fn int8(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    /// An `integer` column.
    fn int4(&self, i: usize) -> Result<Option<i32>, Self::Error>;
    /// A `boolean` column.
    fn boolean(&self, i: usize) -> Result<Option<bool>, Self::Error>;
    /// A `jsonb` column.
    fn json(&self, i: usize) -> Result<Option<serde_json::Value>, Self::Error>;
    /// The error for a column whose value does not read as it should.
    fn invalid(&self, what: String) -> Self::Error;
}

/// A saved FK or CHECK from a row of [`crate::state_sql::PENDING_FKS`].
pub fn saved_fk<C: Columns>(r: &C) -> Result<SavedFk, C::Error> {
    let text = |i| r.text(i).map(Option::unwrap_or_default);
    Ok(SavedFk {
        job_id: r.int8(0)?.unwrap_or_default(),
        table: QualifiedName::new(text(1)?, text(2)?),
        name: text(3)?,
        definition: text(4)?,
        was_validated: r.boolean(5)?.unwrap_or(true),
        referenced: QualifiedName::new(text(6)?, text(7)?),
        kind: ConstraintKind::from_contype(&text(8)?),
        comment: r.text(9)?,
        bindings: bindings(r, 10)?,
        clone_names: crate::restore::clone_names_from_json(r.json(11)?)
            .map_err(|e| r.invalid(e))?,
    })
}

/// Saved bindings ([`crate::bindings`]) from column `i`; NULL reads as none.
fn bindings<C: Columns>(
    r: &C,
    i: usize,
) -> Result<Option<Vec<crate::bindings::Binding>>, C::Error> {
    crate::bindings::from_json(r.json(i)?).map_err(|e| r.invalid(e))
}

/// What [`crate::state_sql::INDEX_PROBE`] finds of a saved index, with job
/// `job`'s [`Authority`] over its table.
pub fn index_present<C: Columns>(
    r: &C,
    job: i64,
) -> Result<(crate::restore::IndexPresent, Authority), C::Error> {
    Ok((
        crate::restore::IndexPresent {
            index: r.boolean(0)?.unwrap_or(false),
            constraint: r.boolean(1)?.unwrap_or(false),
            tablespace_allowed: r.boolean(2)?.unwrap_or(false),
        },
        authority(r, 3, job)?,
    ))
}

/// A saved index and its level in its tree (0: built first; above: a
/// partitioned index attaching those below) from a row of
/// [`crate::state_sql::PENDING_INDEXES`]. Properties that do not read
/// back are an error: rebuilt without them, the index would lose what hung
/// on it (replica identity, CLUSTER ON...) unseen.
pub fn saved_index<C: Columns>(r: &C) -> Result<(SavedIndex, i32), C::Error> {
    let text = |i| r.text(i).map(Option::unwrap_or_default);
    let properties = match r.json(5)? {
        None => Default::default(),
        Some(j) => serde_json::from_value(j).map_err(|e| {
            r.invalid(format!(
                "saved_indexes.properties of index {}: {e}",
                text(3).unwrap_or_default()
            ))
        })?,
    };
    Ok((
        SavedIndex {
            job_id: r.int8(0)?.unwrap_or_default(),
            table: QualifiedName::new(text(1)?, text(2)?),
            name: text(3)?,
            definition: text(4)?,
            properties,
            bindings: bindings(r, 7)?,
        },
        r.int4(6)?.unwrap_or_default(),
    ))
}

/// What [`crate::state_sql::FK_PROBE`] finds of a saved constraint's table,
/// with job `job`'s [`Authority`] over it.
pub fn present<C: Columns>(r: &C, job: i64) -> Result<Present, C::Error> {
    Ok(Present {
        definition: r.text(0)?,
        validated: r.boolean(1)?,
        partitioned: r.boolean(2)?.unwrap_or(false),
        authority: authority(r, 3, job)?,
    })
}

/// The [`Authority`] of job `job` from the probe's
/// [`crate::state_sql::AUTHORITY_COLUMNS`], starting at column `first`. A NULL
/// reads as the answer that grants nothing.
pub fn authority<C: Columns>(r: &C, first: usize, job: i64) -> Result<Authority, C::Error> {
    let text = |i| r.text(i).map(Option::unwrap_or_default);
    let yes = |i| r.boolean(i).map(|b| b.unwrap_or(false));
    Ok(Authority {
        job,
        owner: text(first)?,
        caller: text(first + 1)?,
        caller_is_member: yes(first + 2)?,
        creator: text(first + 3)?,
        creator_is_member: yes(first + 4)?,
        owner_trusted: yes(first + 5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as a list of JSON values, for tests.
    struct Row(Vec<serde_json::Value>);

    impl Columns for Row {
        type Error = ();
        fn text(&self, i: usize) -> Result<Option<String>, ()> {
            Ok(self.0.get(i).and_then(|v| v.as_str()).map(str::to_string))
        }
        fn int8(&self, i: usize) -> Result<Option<i64>, ()> {
            Ok(self.0.get(i).and_then(|v| v.as_i64()))
        }
        fn int4(&self, i: usize) -> Result<Option<i32>, ()> {
            Ok(self.int8(i)?.map(|v| v as i32))
        }
        fn boolean(&self, i: usize) -> Result<Option<bool>, ()> {
            Ok(self.0.get(i).and_then(|v| v.as_bool()))
        }
        fn json(&self, i: usize) -> Result<Option<serde_json::Value>, ()> {
            Ok(self.0.get(i).filter(|v| !v.is_null()).cloned())
        }
        fn invalid(&self, _: String) {}
    }

    #[test]
    fn rows_decode_by_the_queries_order() {
        use serde_json::json;
        let fk = saved_fk(&Row(vec![
            json!(7),
            json!("s"),
            json!("t"),
            json!("t_fk"),
            json!("FOREIGN KEY (a) REFERENCES u(id)"),
            json!(false),
            json!("s"),
            json!("u"),
            json!("f"),
            json!(null),
        ]))
        .unwrap();
        assert_eq!(
            (
                fk.job_id,
                fk.table.name.as_str(),
                fk.referenced.name.as_str()
            ),
            (7, "t", "u")
        );
        assert!(!fk.was_validated && fk.comment.is_none());
        assert_eq!(fk.kind, ConstraintKind::Foreign);

        let (ix, level) = saved_index(&Row(vec![
            json!(7),
            json!("s"),
            json!("t"),
            json!("t_v"),
            json!("CREATE INDEX t_v ON s.t USING btree (v)"),
            json!({"clustered": true}),
            json!(1),
        ]))
        .unwrap();
        assert_eq!((ix.name.as_str(), level), ("t_v", 1));
        assert!(ix.properties.clustered);
        let tampered = Row(vec![
            json!(7),
            json!("s"),
            json!("t"),
            json!("t_v"),
            json!(""),
            json!([1]),
        ]);
        assert!(saved_index(&tampered).is_err());

        // NULLs grant nothing.
        let a = authority(&Row(vec![json!(true), json!("o"), json!(null)]), 1, 7).unwrap();
        assert_eq!(a.owner, "o");
        assert!(!a.caller_is_member && !a.creator_is_member && !a.owner_trusted);
    }
}
