//! What a dropped object was bound to, so that it comes back bound to the
//! same things.
//!
//! An index or constraint re-created from its saved text resolves every name
//! in it again (functions, operators, types, collations, tables). Its drop
//! removed the dependencies that pinned those objects, so in between a role
//! that may drop or create objects in their schemas could put its own under
//! the same names, and a rebuild would then call its code with the
//! rebuilder's rights. So pgcopy records, in the transaction that drops an
//! object, what it depends on (`pg_depend`, by OID, with each object's
//! identity), and before re-creating it requires every OID still to carry
//! that identity ([`rebound`]); after re-creating it, in the same
//! transaction, the new object must depend on exactly those OIDs, or the
//! transaction rolls back ([`differs`]). The one exception is an index the
//! object depends on (a foreign key's referenced key), which a copy rebuilds
//! itself: it is matched by its identity (its qualified name).
//!
//! The planner adds the rule that makes the check before sufficient: an
//! index is never deferred when a role that is neither a superuser, the
//! table's owner nor trusted could create or drop objects where its names
//! resolve (`catalog::Index::rebinders`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One thing a saved object depended on (a `pg_depend` row of it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Binding {
    /// The catalog the object is in (`refclassid`).
    pub class: u32,
    /// The object (`refobjid`).
    pub oid: u32,
    /// A column of it, or 0 (`refobjsubid`).
    pub sub: i32,
    /// `pg_identify_object(...).identity` of the object when it was
    /// recorded (its qualified name or signature); `None` if it had none.
    pub identity: Option<String>,
    /// The object is an index (which a copy may rebuild under a new OID):
    /// matched by its identity.
    #[serde(default)]
    pub rebuilt: bool,
}

impl Binding {
    /// What must be the same before and after: an index by its name, anything
    /// else by its OID.
    fn key(&self) -> (u32, Option<u32>, i32, Option<&str>) {
        match self.rebuilt {
            true => (self.class, None, self.sub, self.identity.as_deref()),
            false => (self.class, Some(self.oid), self.sub, None),
        }
    }

    fn describe(&self) -> String {
        self.identity
            .clone()
            .unwrap_or_else(|| format!("object {} of catalog {}", self.oid, self.class))
    }
}

/// The bindings of the object `objid` of catalog `classid` (SQL expressions),
/// as one `jsonb` array of [`Binding`]: its normal and automatic
/// dependencies (internal ones, on the constraint an index backs, and a
/// partition's on its parent, are not what its text resolves).
pub fn bindings_sql(classid: &str, objid: &str) -> String {
    format!(
        "(SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object( \
                    'class', d.refclassid::pg_catalog.int8, 'oid', d.refobjid::pg_catalog.int8, \
                    'sub', d.refobjsubid, \
                    'identity', (pg_catalog.pg_identify_object(d.refclassid, d.refobjid, 0)).identity, \
                    'rebuilt', EXISTS (SELECT 1 FROM pg_catalog.pg_class r \
                                        WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
                                          AND r.oid OPERATOR(pg_catalog.=) d.refobjid AND r.relkind IN ('i', 'I'))) \
                  ORDER BY d.refclassid, d.refobjid, d.refobjsubid), '[]'::pg_catalog.jsonb) \
           FROM pg_catalog.pg_depend d \
          WHERE d.classid OPERATOR(pg_catalog.=) {classid} AND d.objid OPERATOR(pg_catalog.=) {objid} \
            AND d.deptype IN ('n', 'a'))"
    )
}

/// The identities the bindings `$1` (`jsonb`, as saved) carry now, one row
/// each in their order: for an index, the identity of the index now under
/// that name; for anything else, of the object with that OID (NULL when it
/// is gone).
pub const IDENTITIES_NOW_SQL: &str = include_str!("../../sql/identities_now.sql");

/// Reads saved bindings (`jsonb`); `None` when the row has none, which a
/// row pgcopy wrote always has.
pub fn from_json(value: Option<serde_json::Value>) -> Result<Option<Vec<Binding>>, String> {
    value
        .map(|v| serde_json::from_value(v).map_err(|e| format!("its saved bindings: {e}")))
        .transpose()
}

/// What of `saved` no longer carries its identity (`now`, from
/// [`IDENTITIES_NOW_SQL`], in the same order): each such thing, described.
/// Empty when every name still leads to what it led to.
pub fn rebound(saved: &[Binding], now: &[Option<String>]) -> Vec<String> {
    saved
        .iter()
        .enumerate()
        .filter(|(i, b)| b.identity.is_some() && now.get(*i).is_none_or(|n| *n != b.identity))
        .map(|(_, b)| b.describe())
        .collect()
}

/// Why a re-created object is not bound as the saved one was (`None`: it
/// is): what it depends on now that it did not, and what it no longer
/// depends on.
pub fn differs(saved: &[Binding], now: &[Binding]) -> Option<String> {
    let was: BTreeSet<_> = saved.iter().map(Binding::key).collect();
    let is: BTreeSet<_> = now.iter().map(Binding::key).collect();
    if was == is {
        return None;
    }
    let named = |from: &[Binding], keys: &BTreeSet<_>| -> Vec<String> {
        from.iter()
            .filter(|b| !keys.contains(&b.key()))
            .map(Binding::describe)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let (new, gone) = (named(now, &was), named(saved, &is));
    let mut why = Vec::new();
    if !new.is_empty() {
        why.push(format!("it now uses {}", new.join(", ")));
    }
    if !gone.is_empty() {
        why.push(format!("no longer {}", gone.join(", ")));
    }
    Some(why.join(", and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(class: u32, oid: u32, sub: i32, identity: &str) -> Binding {
        Binding {
            class,
            oid,
            sub,
            identity: Some(identity.into()),
            rebuilt: false,
        }
    }

    fn index(oid: u32, identity: &str) -> Binding {
        Binding {
            rebuilt: true,
            ..b(1259, oid, 0, identity)
        }
    }

    #[test]
    fn a_name_that_leads_elsewhere_is_rebound() {
        let saved = vec![
            b(1259, 100, 1, "public.t"),
            b(1255, 200, 0, "public.f(integer)"),
        ];
        let same = vec![
            Some("public.t".to_string()),
            Some("public.f(integer)".into()),
        ];
        assert!(rebound(&saved, &same).is_empty());
        // The function was dropped (and perhaps another made in its place).
        let gone = vec![Some("public.t".to_string()), None];
        assert_eq!(rebound(&saved, &gone), ["public.f(integer)"]);
        // The table was renamed, and another took its name.
        let renamed = vec![
            Some("public.t_old".to_string()),
            Some("public.f(integer)".into()),
        ];
        assert_eq!(rebound(&saved, &renamed), ["public.t"]);
        // Fewer answers than bindings: fail closed.
        assert_eq!(rebound(&saved, &[]).len(), 2);
    }

    #[test]
    fn a_rebuilt_object_must_be_bound_as_before() {
        let saved = vec![
            b(1259, 100, 1, "public.t"),
            b(1255, 200, 0, "public.f(integer)"),
            index(300, "public.k"),
        ];
        // The same OIDs, and the key index rebuilt under a new OID.
        let now = vec![
            index(301, "public.k"),
            b(1255, 200, 0, "public.f(integer)"),
            b(1259, 100, 1, "public.t"),
        ];
        assert_eq!(differs(&saved, &now), None);
        // Another function of the same name won the call.
        let other = vec![
            b(1259, 100, 1, "public.t"),
            b(1255, 201, 0, "public.f(integer)"),
            index(301, "public.k"),
        ];
        let why = differs(&saved, &other).unwrap();
        assert_eq!(
            why,
            "it now uses public.f(integer), and no longer public.f(integer)"
        );
        // A cast function the old one did not call.
        let more = [saved.clone(), vec![b(1255, 202, 0, "evil.cast(x)")]].concat();
        assert_eq!(differs(&saved, &more).unwrap(), "it now uses evil.cast(x)");
    }

    #[test]
    fn bindings_read_back_as_saved() {
        let json = serde_json::json!([
            {"class": 1255, "oid": 200, "sub": 0, "identity": "public.f(integer)", "rebuilt": false},
            {"class": 1259, "oid": 300, "sub": 0, "identity": null}
        ]);
        let read = from_json(Some(json)).unwrap().unwrap();
        assert_eq!(read[0], b(1255, 200, 0, "public.f(integer)"));
        assert_eq!(read[1].identity, None);
        assert!(!read[1].rebuilt);
        assert_eq!(from_json(None).unwrap(), None);
        assert!(from_json(Some(serde_json::json!({"class": 1}))).is_err());
    }

    #[test]
    fn the_sql_names_only_pg_catalog() {
        let sql = bindings_sql("'pg_catalog.pg_class'::pg_catalog.regclass", "$1");
        for word in ["pg_depend", "pg_identify_object", "jsonb_agg", "pg_class"] {
            assert!(sql.contains(&format!("pg_catalog.{word}")), "{word}");
        }
    }
}
