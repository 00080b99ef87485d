//! May this role use (or make) the state schema? Decided from what the CLI
//! reads of it in the catalog, before anything in it is read or called.

use crate::quote::quote_ident;
use std::fmt;

/// What the catalog says about the schema named by `--state-schema`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateSchemaFacts {
    /// The schema exists.
    pub present: bool,
    /// It has a `schema_version()` function of no arguments.
    pub has_version: bool,
    /// This role may create schemas in the database.
    pub may_create: bool,
    /// This role may use the schema (`None`: absent).
    pub may_use: Option<bool>,
    /// Its owner.
    pub owner: String,
    /// Its owner is a superuser.
    pub owner_is_superuser: bool,
    /// This role owns it (`None`: absent).
    pub mine: Option<bool>,
    /// Roles other than its owner may create objects in it.
    pub others_create: bool,
}

/// Why the state schema cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSchemaProblem {
    /// Absent, and this role may not create it.
    NotCreatable(String),
    /// Owned by a role that is neither this one nor a superuser: nothing in
    /// it is read or run.
    ForeignOwner {
        /// The schema.
        schema: String,
        /// Its owner.
        owner: String,
    },
    /// Other roles may create objects in it, which could shadow its functions.
    OthersCreate {
        /// The schema.
        schema: String,
        /// Its owner.
        owner: String,
    },
    /// Not a pgcopy state schema.
    NotPgcopy(String),
    /// This role may not use it.
    NoUsage {
        /// The schema.
        schema: String,
        /// Its owner.
        owner: String,
    },
    /// Made by an older pgcopy.
    Older {
        /// The schema.
        schema: String,
        /// Its version.
        found: i32,
        /// The version this build needs.
        needed: i32,
    },
    /// Made by a newer pgcopy.
    Newer {
        /// The schema.
        schema: String,
        /// Its version.
        found: i32,
        /// The version this build understands.
        understood: i32,
    },
}

impl fmt::Display for StateSchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateSchemaProblem::NotCreatable(schema) => write!(
                f,
                "the destination has no state schema {schema:?} and this role may not create it: run CREATE \
                 EXTENSION pgcopy there (any role with CREATE on the database may), or GRANT CREATE ON DATABASE \
                 to this role, or choose another schema with --state-schema"
            ),
            StateSchemaProblem::ForeignOwner { schema, owner } => write!(
                f,
                "schema {schema:?} on the destination belongs to role {owner:?}, neither this role nor a \
                 superuser, so pgcopy will not read or run anything in it: run pgcopy as {owner:?}, or choose \
                 another schema with --state-schema (where the extension is wanted, a schema of that name must \
                 not exist before CREATE EXTENSION pgcopy)"
            ),
            StateSchemaProblem::OthersCreate { schema, owner } => write!(
                f,
                "schema {schema:?} on the destination lets other roles create objects in it, which could shadow \
                 its functions: as {owner:?}, REVOKE CREATE ON SCHEMA {} FROM them (and PUBLIC), or choose \
                 another schema with --state-schema",
                quote_ident(schema)
            ),
            StateSchemaProblem::NotPgcopy(schema) => write!(
                f,
                "schema {schema:?} on the destination exists but is not a pgcopy state schema: choose another \
                 with --state-schema"
            ),
            StateSchemaProblem::NoUsage { schema, owner } => {
                let q = quote_ident(schema);
                write!(
                    f,
                    "the state schema {schema:?} on the destination belongs to role {owner:?} and this role may \
                     not use it: run as {owner:?}, have it GRANT USAGE ON SCHEMA {q} and SELECT, INSERT, UPDATE \
                     ON ALL TABLES IN SCHEMA {q} to this role, or choose another schema with --state-schema"
                )
            }
            StateSchemaProblem::Older {
                schema,
                found,
                needed,
            } => write!(
                f,
                "the state schema {schema:?} on the destination has version {found}, made by an older pgcopy, \
                 and this pgcopy needs version {needed}: finish or discard its jobs with that pgcopy (pgcopy \
                 restore-fks, pgcopy jobs discard), then drop it (DROP EXTENSION pgcopy, or DROP SCHEMA {} \
                 CASCADE) so that this pgcopy makes it anew",
                quote_ident(schema)
            ),
            StateSchemaProblem::Newer {
                schema,
                found,
                understood,
            } => write!(
                f,
                "the state schema {schema:?} on the destination has version {found}, this pgcopy understands \
                 {understood}: upgrade pgcopy (and ALTER EXTENSION pgcopy UPDATE) so both match"
            ),
        }
    }
}

/// What the catalog allows: `Ok(false)` when the schema is absent and this
/// role may create it, `Ok(true)` when it is there and its
/// `schema_version()` may be called (then [`check_version`]). Trust comes
/// before anything in it is read or called: a schema another role controls
/// could hold a look-alike `schema_version()` or tampered rows.
pub fn assess(schema: &str, f: &StateSchemaFacts) -> Result<bool, StateSchemaProblem> {
    let owner = || f.owner.clone();
    if !f.present {
        return match f.may_create {
            true => Ok(false),
            false => Err(StateSchemaProblem::NotCreatable(schema.into())),
        };
    }
    if !f.owner_is_superuser && f.mine != Some(true) {
        return Err(StateSchemaProblem::ForeignOwner {
            schema: schema.into(),
            owner: owner(),
        });
    }
    if f.others_create {
        return Err(StateSchemaProblem::OthersCreate {
            schema: schema.into(),
            owner: owner(),
        });
    }
    if !f.has_version {
        return Err(StateSchemaProblem::NotPgcopy(schema.into()));
    }
    if f.may_use == Some(false) {
        return Err(StateSchemaProblem::NoUsage {
            schema: schema.into(),
            owner: owner(),
        });
    }
    Ok(true)
}

/// The version `schema_version()` returned, against the one this build
/// understands.
pub fn check_version(schema: &str, found: i32, understood: i32) -> Result<(), StateSchemaProblem> {
    match found.cmp(&understood) {
        std::cmp::Ordering::Less => Err(StateSchemaProblem::Older {
            schema: schema.into(),
            found,
            needed: understood,
        }),
        std::cmp::Ordering::Greater => Err(StateSchemaProblem::Newer {
            schema: schema.into(),
            found,
            understood,
        }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> StateSchemaFacts {
        StateSchemaFacts {
            present: true,
            has_version: true,
            may_create: false,
            may_use: Some(true),
            owner: "me".into(),
            owner_is_superuser: false,
            mine: Some(true),
            others_create: false,
        }
    }

    #[test]
    fn absent_is_made_when_allowed() {
        let absent = StateSchemaFacts {
            may_create: true,
            ..Default::default()
        };
        assert_eq!(assess("pgcopy", &absent), Ok(false));
        let p = assess("pgcopy", &StateSchemaFacts::default()).unwrap_err();
        assert!(p.to_string().contains("CREATE EXTENSION pgcopy"), "{p}");
    }

    #[test]
    fn trust_comes_before_anything_else() {
        assert_eq!(assess("pgcopy", &ours()), Ok(true));
        let superuser_owned = StateSchemaFacts {
            owner: "postgres".into(),
            owner_is_superuser: true,
            mine: Some(false),
            ..ours()
        };
        assert_eq!(assess("pgcopy", &superuser_owned), Ok(true));
        // Another role's schema is refused even when it looks like ours.
        let foreign = StateSchemaFacts {
            owner: "mallory".into(),
            mine: Some(false),
            others_create: true,
            has_version: false,
            ..ours()
        };
        assert!(matches!(
            assess("pgcopy", &foreign),
            Err(StateSchemaProblem::ForeignOwner { owner, .. }) if owner == "mallory"
        ));
        let open = StateSchemaFacts {
            others_create: true,
            has_version: false,
            ..ours()
        };
        let p = assess("My State", &open).unwrap_err();
        assert!(
            p.to_string()
                .contains("REVOKE CREATE ON SCHEMA \"My State\" FROM them"),
            "{p}"
        );
        let stranger = StateSchemaFacts {
            has_version: false,
            ..ours()
        };
        assert_eq!(
            assess("x", &stranger),
            Err(StateSchemaProblem::NotPgcopy("x".into()))
        );
        let closed = StateSchemaFacts {
            owner_is_superuser: true,
            mine: Some(false),
            may_use: Some(false),
            ..ours()
        };
        assert!(matches!(
            assess("x", &closed),
            Err(StateSchemaProblem::NoUsage { .. })
        ));
    }

    #[test]
    fn versions_must_match() {
        assert_eq!(check_version("s", 4, 4), Ok(()));
        let older = check_version("s", 3, 4).unwrap_err().to_string();
        assert!(
            older.contains("version 3, made by an older pgcopy"),
            "{older}"
        );
        let newer = check_version("s", 5, 4).unwrap_err().to_string();
        assert!(newer.contains("upgrade pgcopy"), "{newer}");
    }
}
