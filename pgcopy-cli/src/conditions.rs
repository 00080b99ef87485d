//! What a `--where` condition or a `--transform` expression means: what it
//! means in psql for this role on that server, or the copy is refused.
//!
//! pgcopy's sessions search `pg_catalog` only, so an operator another role
//! put in `public` never runs inside pgcopy's own queries. A condition the
//! user wrote is different: in psql, `email = 'ALICE@EXAMPLE.COM'` over a
//! `citext` column calls citext's `=` (in `public`), and under `pg_catalog`
//! alone it would call text's, silently taking other rows.
//!
//! So each text is read as psql would read it for this role (on a
//! connection with the role's and database's defaults, not pgcopy's), and
//! written out with every name's schema, the way PostgreSQL prints a view:
//! parsed as a temporary view (rolled back; parsing looks names up and
//! calls nothing) and printed back under `pg_catalog` alone. pgcopy then
//! runs the written-out text, which means the same under its pinned path.
//! The role's path is searched less the schemas where a role pgcopy does
//! not trust may create objects: a look-alike added there could change what
//! a name resolves to, and would run with this role's rights. Where the text
//! resolves otherwise without them, the copy is refused, and the sentence
//! names the way (trust the role, revoke `CREATE`, or write the schema).
//! Where no temporary view can be made (a standby, no `TEMP` privilege), the
//! sessions that run the texts search that path themselves, and a text
//! that leaves to it a name such a schema holds is refused.
//!
//! The time zone, the date order and the interval style are the role's too:
//! `created_at >= '2024-01-01'` is the role's midnight, as in psql. Values
//! still print the same on both sides: ISO dates carry their offset, and the
//! destination's session takes the same settings.

use crate::connect::Endpoint;
use crate::error::PgContext;
use crate::parse::NameKind;
use pgcopy_core::preflight::Problem;
use pgcopy_core::quote::{quote_ident, quote_literal, QualifiedName};
use pgcopy_core::trust::TrustedOwners;
use std::collections::BTreeSet;
use tokio_postgres::Client;

mod views;

use views::{by_name, write_out, Outcome};

/// Read on a session with psql's settings: the role's effective path
/// (implicit `pg_catalog` included, `"$user"` resolved), time zone, date
/// style and interval style. Every call is `pg_catalog`'s, by name: that
/// session's path is the role's, which another role may have shaped.
const PSQL_SETTINGS_SQL: &str = include_str!("../../sql/psql_settings.sql");

/// For each schema `$1` names (in order): whether it exists, whether every
/// role may create in it (`PUBLIC`), and the roles other than superusers
/// that may (owners included, through membership too).
const SCHEMA_CREATORS_SQL: &str = include_str!("../../sql/schema_creators.sql");

/// The objects of kind and name in `$2`/`$3` (kinds as [`NameKind::as_str`])
/// that the schemas `$1` hold: (schema, kind, name).
const OBJECTS_NAMED_SQL: &str = include_str!("../../sql/objects_named.sql");

/// Where conditions run: the role's path less the schemas others may
/// change, and the role's time zone, date order and interval style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionEnv {
    /// The schemas searched, in the role's order, less those others may
    /// change.
    pub schemas: Vec<String>,
    /// The texts were written out with their schemas: the sessions that
    /// run them keep pgcopy's own path (`pg_catalog`).
    pub written_out: bool,
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
        let path = match self.written_out {
            true => String::new(),
            false => format!("{set} search_path = {}; ", self.path_list()),
        };
        format!(
            "{path}{set} TimeZone = {}; {set} DateStyle = {}; {set} IntervalStyle = {}",
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

/// A condition or expression the user wrote, and the table it reads.
pub struct Written {
    /// Which: the `--where` (`true`) or `--transform` of this index.
    pub filter: bool,
    /// Its index among those options.
    pub index: usize,
    /// `--where condition` or `--transform expression`.
    pub option: &'static str,
    /// The table.
    pub table: QualifiedName,
    /// The text.
    pub text: String,
}

/// What [`resolve`] found: where the texts run, the problems, and each
/// text written out with its schemas (in [`Written`]'s order; `None` where
/// no temporary view could be made, or a text does not parse for psql
/// either, which the run's own check then says).
pub struct Resolved {
    /// Where they run.
    pub env: ConditionEnv,
    /// Texts that would mean something else than in psql.
    pub problems: Vec<Problem>,
    /// Each text written out.
    pub written_out: Vec<Option<String>>,
    /// Texts psql refuses (or that could not be written out), each as a
    /// problem: left as written, for the run's own check to say why in
    /// its words, and said here if that check passes.
    pub fails: Vec<Problem>,
}

/// The `--where` conditions and `--transform` expressions of `opts`, with
/// the tables they read (as the plan resolves them among `copied`).
pub fn written(
    catalog: &pgcopy_core::catalog::Catalog,
    copied: &[QualifiedName],
    filters: &[pgcopy_core::subset::RowFilter],
    transforms: &[pgcopy_core::transform::ColumnTransform],
) -> Vec<Written> {
    let resolve = |t: &str| pgcopy_core::subset::resolve_table(catalog, copied, t).ok();
    filters
        .iter()
        .enumerate()
        .filter_map(|(index, f)| {
            Some(Written {
                filter: true,
                index,
                option: "--where condition",
                table: resolve(&f.table)?,
                text: f.condition.clone(),
            })
        })
        .chain(transforms.iter().enumerate().filter_map(|(index, t)| {
            Some(Written {
                filter: false,
                index,
                option: "--transform expression",
                table: resolve(&t.table)?,
                text: t.expression.clone(),
            })
        }))
        .collect()
}

/// `filters` and `transforms` with the texts [`resolve`] wrote out in
/// place of the ones written.
pub fn substitute(
    written: &[Written],
    out: &[Option<String>],
    filters: &mut [pgcopy_core::subset::RowFilter],
    transforms: &mut [pgcopy_core::transform::ColumnTransform],
) {
    for (w, text) in written.iter().zip(out) {
        let Some(text) = text else { continue };
        match w.filter {
            true => {
                if let Some(f) = filters.get_mut(w.index) {
                    f.condition = text.clone();
                }
            }
            false => {
                if let Some(t) = transforms.get_mut(w.index) {
                    t.expression = text.clone();
                }
            }
        }
    }
}

/// Reads how psql would run `written` for this role on `endpoint`'s
/// server (`client` is pgcopy's own session there), writes each out with
/// its schemas, and says where one cannot be run the same.
pub async fn resolve(
    endpoint: &Endpoint,
    client: &Client,
    written: &[Written],
    trust: &TrustedOwners,
    current_user: &str,
) -> anyhow::Result<Resolved> {
    let mut probe = endpoint.as_psql_would().connect("settings probe").await?;
    let (path, mut env) = psql_settings(&probe, endpoint).await?;
    let (schemas, left_out) = trusted_path(client, &path, trust, current_user).await?;
    env.schemas = schemas;
    // The names each text leaves to the path that a schema left out holds:
    // the hint for one that resolves otherwise, and, where no view can be
    // made, the test itself.
    let named = match left_out.is_empty() {
        true => vec![None; written.len()],
        false => by_name(client, &left_out, written).await?,
    };
    let mut problems = Vec::new();
    let mut fails = Vec::new();
    let (outcomes, written_out) = match write_out(&mut probe, &env, written).await {
        Ok(outcomes) => {
            let texts = outcomes
                .iter()
                .map(|o| match o {
                    Outcome::Same(q) => Some(q.clone()),
                    _ => None,
                })
                .collect();
            // A text psql refuses is left as written: the run's own check
            // says why, in its words; if that check passes where psql
            // refused, the copy is refused all the same (`Resolved::fails`).
            for (w, o) in written.iter().zip(&outcomes) {
                if let Outcome::Fails(why) = o {
                    fails.push(Problem::TextDoesNotRun {
                        option: w.option,
                        target: w.table.display_name(),
                        why: why.clone(),
                    });
                }
            }
            (
                outcomes
                    .into_iter()
                    .zip(&named)
                    .map(|(o, hint)| matches!(o, Outcome::Differs).then(|| hint.clone()))
                    .collect::<Vec<_>>(),
                texts,
            )
        }
        Err(_) => {
            env.written_out = false;
            (
                named
                    .iter()
                    .map(|h| h.as_ref().map(|h| Some(h.clone())))
                    .collect(),
                vec![None; written.len()],
            )
        }
    };
    for (w, hint) in written.iter().zip(outcomes) {
        if let Some(hint) = hint {
            problems.push(untrusted_name(w, hint, &left_out));
        }
    }
    Ok(Resolved {
        env,
        problems,
        written_out,
        fails,
    })
}

/// A schema of the path left out: its name, the roles not trusted that may
/// create objects in it, and whether every role may.
type LeftOut = (String, Vec<String>, bool);

/// The role's `search_path` (without `pg_temp`) and the settings a text is
/// read under, as psql gets them (`probe` connects as psql would); the
/// path's schemas are the caller's to fill.
async fn psql_settings(
    probe: &Client,
    endpoint: &Endpoint,
) -> anyhow::Result<(Vec<String>, ConditionEnv)> {
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
    let path = path
        .into_iter()
        .filter(|s| !s.starts_with("pg_temp"))
        .collect();
    let env = ConditionEnv {
        schemas: Vec::new(),
        written_out: true,
        time_zone,
        date_order,
        interval_style,
    };
    Ok((path, env))
}

/// The schemas of `path` that exist, split into those a text may take
/// names from (`pg_catalog`, and those only this role and trusted roles
/// may create objects in) and those left out.
async fn trusted_path(
    client: &Client,
    path: &[String],
    trust: &TrustedOwners,
    current_user: &str,
) -> anyhow::Result<(Vec<String>, Vec<LeftOut>)> {
    let mut schemas = Vec::new();
    let mut left_out = Vec::new();
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
    Ok((schemas, left_out))
}

/// The refusal of `w`, whose names resolve through a schema left out:
/// `hint` the (kind, name, schema) of one such name, when known.
fn untrusted_name(
    w: &Written,
    hint: Option<(&'static str, String, String)>,
    left_out: &[LeftOut],
) -> Problem {
    let (kind, name, schema) = match hint {
        Some((kind, name, schema)) => (Some(kind), Some(name), schema),
        None => (
            None,
            None,
            left_out
                .first()
                .map(|(s, ..)| s.clone())
                .unwrap_or_else(|| "public".to_string()),
        ),
    };
    let (_, creators, everyone) = left_out
        .iter()
        .find(|(s, ..)| *s == schema)
        .cloned()
        .unwrap_or_default();
    Problem::NameOnUntrustedPath {
        option: w.option,
        target: w.table.display_name(),
        kind,
        name,
        schema,
        creators,
        everyone,
    }
}

#[cfg(test)]
mod tests;
