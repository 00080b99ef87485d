//! The per-partition clones of a foreign key on a partitioned table: their
//! names before the drop, and the renames that give them back.

use super::*;

/// A copy PostgreSQL made of a constraint on a partitioned table: one on
/// each partition of the referencing table, and one for each partition of a
/// partitioned referenced table. Re-adding the constraint makes them again,
/// under names PostgreSQL picks (PostgreSQL 18 numbers them otherwise than
/// when the partitions were created: `_fkey_3` for what was `_fkey_2_1`),
/// so the names they had are saved with it and put back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CloneName {
    /// The table it is on.
    pub table: QualifiedName,
    /// The table it references.
    pub referenced: QualifiedName,
    /// Its name.
    pub name: String,
}

/// The copies of the constraint of OID `oid` (an SQL expression), all the
/// way down, as one `jsonb` array of [`CloneName`].
pub fn clone_names_sql(oid: &str) -> String {
    format!(
        "(SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object( \
                    'table', pg_catalog.jsonb_build_object('schema', tn.nspname, 'name', t.relname), \
                    'referenced', pg_catalog.jsonb_build_object('schema', rn.nspname, 'name', r.relname), \
                    'name', c.conname) ORDER BY tn.nspname, t.relname, rn.nspname, r.relname, c.conname), \
                  '[]'::pg_catalog.jsonb) \
           FROM (WITH RECURSIVE tree(oid) AS ( \
                   SELECT k.oid FROM pg_catalog.pg_constraint k WHERE k.conparentid OPERATOR(pg_catalog.=) {oid} \
                   UNION ALL \
                   SELECT k.oid FROM pg_catalog.pg_constraint k JOIN tree ON k.conparentid OPERATOR(pg_catalog.=) tree.oid) \
                 SELECT oid FROM tree) AS d \
           JOIN pg_catalog.pg_constraint c ON c.oid OPERATOR(pg_catalog.=) d.oid \
           JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) c.conrelid \
           JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.relnamespace \
           JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) c.confrelid \
           JOIN pg_catalog.pg_namespace rn ON rn.oid OPERATOR(pg_catalog.=) r.relnamespace)"
    )
}

/// The copies of the constraint named `$2` on the table named `$1` (a
/// quoted qualified name), now: `SELECT` of one `jsonb`.
pub fn clones_now_sql() -> String {
    format!(
        "SELECT {}",
        clone_names_sql(
            "(SELECT c.oid FROM pg_catalog.pg_constraint c \
               WHERE c.conrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1) \
                 AND c.conname OPERATOR(pg_catalog.=) $2::pg_catalog.text)"
        )
    )
}

/// Reads [`CloneName`]s (`jsonb`); NULL reads as none.
pub fn clone_names_from_json(v: Option<serde_json::Value>) -> Result<Vec<CloneName>, String> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v).map_err(|e| format!("saved copies' names: {e}")),
    }
}

/// The statements that give the copies `now` the names `saved` had, each
/// matched by its table and the table it references (a pair found more
/// than once on either side is left as it is); through names of their own
/// first, so two copies may trade names.
pub fn clone_renames(saved: &[CloneName], now: &[CloneName]) -> Vec<String> {
    let key = |c: &CloneName| (c.table.clone(), c.referenced.clone());
    let once =
        |list: &[CloneName], c: &CloneName| list.iter().filter(|o| key(o) == key(c)).count() == 1;
    let moves: Vec<(&CloneName, &CloneName)> = now
        .iter()
        .filter(|n| once(now, n))
        .filter_map(|n| {
            saved
                .iter()
                .find(|s| key(s) == key(n) && once(saved, s))
                .filter(|s| s.name != n.name)
                .map(|s| (n, s))
        })
        .collect();
    let parked = |i: usize| format!("pgcopy renaming {i}");
    let first = moves
        .iter()
        .enumerate()
        .map(|(i, (n, _))| sql::rename_constraint(&n.table, &n.name, &parked(i)));
    let then = moves
        .iter()
        .enumerate()
        .map(|(i, (n, s))| sql::rename_constraint(&n.table, &parked(i), &s.name));
    first.chain(then).collect()
}
