//! What a `--where` condition or a `--transform` expression means: what it
//! means in psql for this role on that server, or the copy is refused.
//!
//! pgcopy's sessions search `pg_catalog` only, so an operator another role
//! put in `public` never runs inside pgcopy's own queries. A condition the
//! user wrote is different: in psql, `email = 'ALICE@EXAMPLE.COM'` over a
//! `citext` column calls citext's `=` (in `public`), and under `pg_catalog`
//! alone it would call text's, silently taking other rows. So the sessions
//! that run conditions search the role's own path, as psql gets it (read
//! on a connection with the role's and database's defaults, not pgcopy's),
//! less the schemas where a role pgcopy does not trust may create objects:
//! there a look-alike could be added at any time, and would run with this
//! role's rights. When a condition leaves a name to the path that such a
//! schema also defines, it could mean something else than in psql: the
//! copy is refused, and the sentence names the way (trust the role, revoke
//! `CREATE`, or write the schema).
//!
//! The time zone, the date order and the interval style are the role's too:
//! `created_at >= '2024-01-01'` is the role's midnight, as in psql. Values
//! still print the same on both sides: ISO dates carry their offset, and a
//! text table's destination session takes the same interval style.

use crate::connect::Endpoint;
use crate::error::PgContext;
use crate::parse::NameKind;
use pgcopy_core::preflight::Problem;
use pgcopy_core::quote::{quote_ident, quote_literal};
use pgcopy_core::trust::TrustedOwners;
use std::collections::BTreeSet;
use tokio_postgres::Client;

/// Read on a session with psql's settings: the role's effective path
/// (implicit `pg_catalog` included, `"$user"` resolved), time zone, date
/// style and interval style. Every call is `pg_catalog`'s, by name: that
/// session's path is the role's, which another role may have shaped.
const PSQL_SETTINGS_SQL: &str = "SELECT pg_catalog.current_schemas(true)::pg_catalog.text[], \
     pg_catalog.current_setting('TimeZone'), pg_catalog.current_setting('DateStyle'), \
     pg_catalog.current_setting('IntervalStyle')";

/// For each schema `$1` names (in order): whether it exists, whether every
/// role may create in it (`PUBLIC`), and the roles other than superusers
/// that may (owners included, through membership too).
const SCHEMA_CREATORS_SQL: &str = "\
SELECT s.name, n.oid IS NOT NULL,
       coalesce((SELECT bool_or(a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid)
                   FROM pg_catalog.aclexplode(n.nspacl) a
                  WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'), false),
       coalesce((SELECT pg_catalog.array_agg(r.rolname::pg_catalog.text ORDER BY r.rolname)
                   FROM pg_catalog.pg_roles r
                  WHERE NOT r.rolsuper AND r.rolname OPERATOR(pg_catalog.<>) 'pg_database_owner'
                    AND pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE')), '{}')
  FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS s(name, i)
  LEFT JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) s.name
 ORDER BY s.i";

/// The objects of kind and name in `$2`/`$3` (kinds as [`NameKind::as_str`])
/// that the schemas `$1` hold: (schema, kind, name).
const OBJECTS_NAMED_SQL: &str = "\
SELECT n.nspname::pg_catalog.text, x.kind, x.name
  FROM (SELECT pronamespace, 'function', proname::pg_catalog.text FROM pg_catalog.pg_proc
        UNION ALL SELECT oprnamespace, 'operator', oprname::pg_catalog.text FROM pg_catalog.pg_operator
        UNION ALL SELECT typnamespace, 'type', typname::pg_catalog.text FROM pg_catalog.pg_type
        UNION ALL SELECT relnamespace, 'table', relname::pg_catalog.text FROM pg_catalog.pg_class
        UNION ALL SELECT collnamespace, 'collation', collname::pg_catalog.text FROM pg_catalog.pg_collation
       ) AS x(ns, kind, name)
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) x.ns
  JOIN ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]))
       AS w(kind, name)
    ON w.kind OPERATOR(pg_catalog.=) x.kind AND w.name OPERATOR(pg_catalog.=) x.name
 WHERE n.nspname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";

/// Where conditions run: the role's path less the schemas others may
/// change, and the role's time zone, date order and interval style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionEnv {
    /// The schemas searched, in the role's order.
    pub schemas: Vec<String>,
    /// `TimeZone`.
    pub time_zone: String,
    /// The order part of `DateStyle` (`MDY`, `DMY`, `YMD`).
    pub date_order: String,
    /// `IntervalStyle`.
    pub interval_style: String,
}

impl ConditionEnv {
    /// The path, as `SET search_path` takes it (`pg_temp` last).
    pub fn path_list(&self) -> String {
        self.schemas
            .iter()
            .map(|s| quote_ident(s))
            .chain(std::iter::once("pg_temp".to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The `SET`s (`SET LOCAL` when `local`) for a session that runs
    /// conditions; output stays ISO, so values print as the other side
    /// parses them.
    pub fn settings_sql(&self, local: bool) -> String {
        let set = if local { "SET LOCAL" } else { "SET" };
        format!(
            "{set} search_path = {}; {set} TimeZone = {}; {set} DateStyle = {}; {set} IntervalStyle = {}",
            self.path_list(),
            quote_literal(&self.time_zone),
            quote_literal(&format!("ISO, {}", self.date_order)),
            quote_literal(&self.interval_style)
        )
    }

    /// For the session on the other side (a text table's destination, the
    /// destination `verify` compares with): the same time zone, date style
    /// and interval style, so values print and parse alike; its own path.
    pub fn peer_settings_sql(&self) -> String {
        format!(
            "SET TimeZone = {}; SET DateStyle = {}; SET IntervalStyle = {}",
            quote_literal(&self.time_zone),
            quote_literal(&format!("ISO, {}", self.date_order)),
            quote_literal(&self.interval_style)
        )
    }
}

/// One table's reading, as the source runs it: what it applies to, the
/// option(s) that shape it, the `SELECT` (condition, expressions and the
/// joins that follow keys), and the texts the user wrote in it.
pub struct Reading<'a> {
    /// The table, as shown.
    pub target: String,
    /// `--where condition` or `--transform expression`.
    pub option: &'static str,
    /// The query a worker runs.
    pub query: String,
    /// The conditions and expressions written for it.
    pub texts: Vec<&'a str>,
}

/// The readings of `plan` that run what the user wrote: each table a
/// `--where` filters, or with `--transform` columns (a table the foreign
/// keys limit runs those conditions again, inside pgcopy's own joins).
pub fn readings(plan: &pgcopy_core::plan::Plan) -> Vec<Reading<'_>> {
    use pgcopy_core::subset::Taken;
    plan.tables
        .iter()
        .filter(|t| t.taken == Taken::Filtered || !t.transforms.is_empty())
        .map(|t| {
            let columns: Vec<&str> = t.columns.iter().map(String::as_str).collect();
            let rows = pgcopy_core::sql::Rows {
                condition: t.rows_where.as_deref(),
                transforms: Some(&t.transforms),
            };
            Reading {
                target: t.table.display_name(),
                option: match t.taken == Taken::Filtered {
                    true => "--where condition",
                    false => "--transform expression",
                },
                query: pgcopy_core::sql::select_rows(
                    &t.table,
                    &columns,
                    &pgcopy_core::chunk::ChunkRange::WHOLE,
                    &rows,
                )
                .unwrap_or_default(),
                texts: t
                    .rows_where
                    .iter()
                    .map(String::as_str)
                    .chain(t.transforms.values().map(String::as_str))
                    .collect(),
            }
        })
        .collect()
}

/// Reads how psql would run `readings` for this role on `endpoint`'s
/// server (`client` is pgcopy's own session there): the role's path less
/// the schemas others may change, and its settings; and the problems
/// where, without those schemas, a reading would resolve a name otherwise
/// than psql does.
pub async fn resolve(
    endpoint: &Endpoint,
    client: &Client,
    readings: &[Reading<'_>],
    trust: &TrustedOwners,
    current_user: &str,
) -> anyhow::Result<(ConditionEnv, Vec<Problem>)> {
    let mut probe = endpoint.as_psql_would().connect("settings probe").await?;
    let row = probe
        .query_one(PSQL_SETTINGS_SQL, &[])
        .await
        .pg_context(|| format!("reading the {}'s settings as psql gets them", endpoint.role))?;
    let (path, time_zone, date_style, interval_style): (Vec<String>, String, String, String) = (
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    );
    let date_order = date_style
        .split(',')
        .nth(1)
        .map(|o| o.trim().to_uppercase())
        .filter(|o| matches!(o.as_str(), "MDY" | "DMY" | "YMD"))
        .unwrap_or_else(|| "MDY".to_string());
    let path: Vec<String> = path
        .into_iter()
        .filter(|s| !s.starts_with("pg_temp"))
        .collect();
    let mut schemas = Vec::new();
    let mut left_out: Vec<(String, Vec<String>, bool)> = Vec::new();
    for r in client
        .query(SCHEMA_CREATORS_SQL, &[&path])
        .await
        .pg_context(|| "reading who may create objects in the search_path's schemas".into())?
    {
        let (name, exists, everyone, creators): (String, bool, bool, Vec<String>) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        if !exists {
            continue;
        }
        let untrusted: Vec<String> = creators
            .into_iter()
            .filter(|c| c != current_user && !trust.trusts(c))
            .collect();
        let public = everyone && !trust.trusts(pgcopy_core::trust::EVERY_ROLE);
        match name == "pg_catalog" || (untrusted.is_empty() && !public) {
            true => schemas.push(name),
            false => left_out.push((name, untrusted, public)),
        }
    }
    let env = ConditionEnv {
        schemas,
        time_zone,
        date_order,
        interval_style,
    };
    if left_out.is_empty() {
        return Ok((env, Vec::new()));
    }
    // Which readings resolve otherwise without those schemas: each parsed
    // both ways, as views nobody sees (rolled back), and their definitions
    // compared as pg_catalog prints them (every name qualified). Parsing
    // runs no function of the query: only what it names is looked up.
    // The names each reading leaves to the path that such a schema holds:
    // the hint for one that differs, and, where no view can be made (a
    // standby, no TEMP privilege), the test itself.
    let named = by_name(client, &left_out, readings).await?;
    let differ = match differing(&mut probe, &env, readings).await {
        Ok(d) => d
            .into_iter()
            .zip(&named)
            .map(|(differs, hint)| differs.map(|_| hint.clone().flatten()))
            .collect(),
        Err(_) => named,
    };
    let mut problems = Vec::new();
    for (reading, hint) in readings.iter().zip(differ) {
        let Some(hint) = hint else { continue };
        let (kind, name, schema) = match hint {
            Some((kind, name, schema)) => (Some(kind), Some(name), schema),
            None => (None, None, left_out[0].0.clone()),
        };
        let (_, creators, everyone) = left_out
            .iter()
            .find(|(s, ..)| *s == schema)
            .cloned()
            .unwrap_or_default();
        problems.push(Problem::NameOnUntrustedPath {
            option: reading.option,
            target: reading.target.clone(),
            kind,
            name,
            schema,
            creators,
            everyone,
        });
    }
    Ok((env, problems))
}

/// For each reading: `None` when it resolves the same with the schemas
/// `env` leaves out and without them; else `Some` (with the name that
/// differs, when known). An error when no view can be made here.
#[allow(clippy::type_complexity)]
async fn differing(
    probe: &mut Client,
    env: &ConditionEnv,
    readings: &[Reading<'_>],
) -> Result<Vec<Option<Option<(&'static str, String, String)>>>, tokio_postgres::Error> {
    let tx = probe.transaction().await?;
    let mut out = Vec::new();
    for (i, r) in readings.iter().enumerate() {
        tx.batch_execute(&format!("SAVEPOINT pgcopy_probe_{i}"))
            .await?;
        // As psql: the role's own path (the session's).
        let as_psql = tx
            .batch_execute(&format!(
                "CREATE TEMP VIEW pgcopy_as_psql_{i} AS {}",
                r.query
            ))
            .await;
        if let Err(e) = as_psql {
            // Not parsed for psql either: said by the run's own check.
            if e.code() == Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION)
                || e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
            {
                return Err(e);
            }
            tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT pgcopy_probe_{i}"))
                .await?;
            out.push(None);
            continue;
        }
        let as_pgcopy = tx
            .batch_execute(&format!(
                "SET LOCAL search_path = {}; CREATE TEMP VIEW pgcopy_as_pgcopy_{i} AS {}",
                env.path_list(),
                r.query
            ))
            .await;
        let same = match as_pgcopy {
            Err(_) => false,
            Ok(()) => {
                tx.batch_execute("SET LOCAL search_path = pg_catalog, pg_temp")
                    .await?;
                let row = tx
                    .query_one(
                        &format!(
                            "SELECT pg_catalog.pg_get_viewdef('pg_temp.pgcopy_as_psql_{i}'::pg_catalog.regclass) \
                                    OPERATOR(pg_catalog.=) \
                                    pg_catalog.pg_get_viewdef('pg_temp.pgcopy_as_pgcopy_{i}'::pg_catalog.regclass)"
                        ),
                        &[],
                    )
                    .await;
                match row {
                    Ok(row) => row.try_get::<_, bool>(0)?,
                    Err(_) => false,
                }
            }
        };
        tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT pgcopy_probe_{i}"))
            .await?;
        out.push((!same).then_some(None));
    }
    tx.rollback().await?;
    Ok(out)
}

/// For each reading: `Some` when it leaves to the path a name that one of
/// the schemas left out holds (with that name), `None` otherwise.
#[allow(clippy::type_complexity)]
async fn by_name(
    client: &Client,
    left_out: &[(String, Vec<String>, bool)],
    readings: &[Reading<'_>],
) -> anyhow::Result<Vec<Option<Option<(&'static str, String, String)>>>> {
    let mut names: BTreeSet<(NameKind, String)> = BTreeSet::new();
    let mut mine = Vec::new();
    for r in readings {
        let mut set = BTreeSet::new();
        for text in &r.texts {
            set.extend(crate::parse::unqualified_names(text).unwrap_or_default());
        }
        names.extend(set.iter().cloned());
        mine.push(set);
    }
    let kinds: Vec<&str> = names.iter().map(|(k, _)| k.as_str()).collect();
    let words: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
    let out_schemas: Vec<&str> = left_out.iter().map(|(s, ..)| s.as_str()).collect();
    let mut found: Vec<(String, String, String)> = Vec::new();
    for r in client
        .query(OBJECTS_NAMED_SQL, &[&out_schemas, &kinds, &words])
        .await
        .pg_context(|| "reading the objects of the search_path's schemas".into())?
    {
        found.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
    }
    Ok(mine
        .iter()
        .map(|set| {
            set.iter().find_map(|(kind, name)| {
                found
                    .iter()
                    .find(|(_, k, n)| k == kind.as_str() && n == name)
                    .map(|(schema, ..)| Some((kind.as_str(), name.clone(), schema.clone())))
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_keep_iso_output_and_quote_every_name() {
        let env = ConditionEnv {
            schemas: vec!["pg_catalog".into(), "my \"app\"".into()],
            time_zone: "Europe/Berlin".into(),
            date_order: "DMY".into(),
            interval_style: "sql_standard".into(),
        };
        assert_eq!(
            env.settings_sql(true),
            "SET LOCAL search_path = pg_catalog, \"my \"\"app\"\"\", pg_temp; SET LOCAL TimeZone = \
             'Europe/Berlin'; SET LOCAL DateStyle = 'ISO, DMY'; SET LOCAL IntervalStyle = 'sql_standard'"
        );
        assert_eq!(
            env.peer_settings_sql(),
            "SET TimeZone = 'Europe/Berlin'; SET DateStyle = 'ISO, DMY'; SET IntervalStyle = 'sql_standard'"
        );
    }
}
