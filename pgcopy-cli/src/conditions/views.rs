//! Reading each condition as psql would and as pgcopy runs it, through
//! temporary views rolled back, and writing it out with every schema.

use super::*;

/// How one text reads.
pub(super) enum Outcome {
    /// The same as in psql; written out with its schemas.
    Same(String),
    /// Otherwise than in psql, without the schemas left out.
    Differs,
    /// Not at all: why (psql refuses it too, or it could not be written
    /// out).
    Fails(String),
}

/// Each text, parsed as psql would (the probe's own path) and as pgcopy
/// runs it (the path less the schemas left out), as temporary views
/// (rolled back), compared as printed under `pg_catalog` alone, and
/// written out from that print, which must read back the same. An error
/// when no view can be made here.
pub(super) async fn write_out(
    probe: &mut Client,
    env: &ConditionEnv,
    written: &[Written],
) -> Result<Vec<Outcome>, tokio_postgres::Error> {
    use tokio_postgres::error::SqlState;
    let tx = probe.transaction().await?;
    let mut out = Vec::new();
    let view = |name: &str, w: &Written, text: &str| {
        format!(
            "CREATE TEMP VIEW {name} AS SELECT ({text}) AS pgcopy_value FROM ONLY {} {}",
            w.table,
            pgcopy_core::subset::ROW_ALIAS
        )
    };
    let printed = |name: &str| {
        format!("SELECT pg_catalog.pg_get_viewdef('pg_temp.{name}'::pg_catalog.regclass)")
    };
    for (i, w) in written.iter().enumerate() {
        tx.batch_execute(&format!("SAVEPOINT pgcopy_probe_{i}"))
            .await?;
        let rollback = format!("ROLLBACK TO SAVEPOINT pgcopy_probe_{i}");
        // As psql: the role's own path (the session's).
        if let Err(e) = tx
            .batch_execute(&view(&format!("pgcopy_as_psql_{i}"), w, &w.text))
            .await
        {
            if [
                SqlState::READ_ONLY_SQL_TRANSACTION,
                SqlState::INSUFFICIENT_PRIVILEGE,
            ]
            .iter()
            .any(|c| e.code() == Some(c))
            {
                return Err(e);
            }
            tx.batch_execute(&rollback).await?;
            out.push(Outcome::Fails(crate::error::pg_message(&e)));
            continue;
        }
        let as_pgcopy = tx
            .batch_execute(&format!(
                "SET LOCAL search_path = {}; {}",
                env.path_list(),
                view(&format!("pgcopy_as_pgcopy_{i}"), w, &w.text)
            ))
            .await;
        if as_pgcopy.is_err() {
            tx.batch_execute(&rollback).await?;
            out.push(Outcome::Differs);
            continue;
        }
        tx.batch_execute("SET LOCAL search_path = pg_catalog, pg_temp")
            .await?;
        let psql: String = tx
            .query_one(&printed(&format!("pgcopy_as_psql_{i}")), &[])
            .await?
            .try_get(0)?;
        let pgcopy: String = tx
            .query_one(&printed(&format!("pgcopy_as_pgcopy_{i}")), &[])
            .await?
            .try_get(0)?;
        if psql != pgcopy {
            tx.batch_execute(&rollback).await?;
            out.push(Outcome::Differs);
            continue;
        }
        // The expression out of ` SELECT <expr> AS pgcopy_value FROM ...`,
        // proven by reading back to the same print.
        // Column references lose the alias the view gave them: the text is
        // pasted where the table goes by other names.
        let text = pgcopy
            .split_once("SELECT ")
            .and_then(|(_, rest)| rest.rsplit_once(" AS pgcopy_value"))
            .and_then(|(e, _)| {
                crate::parse::without_alias(e.trim(), pgcopy_core::subset::ROW_ALIAS).ok()
            })
            .map(|e| crate::parse::without_outer_parentheses(&e).to_string());
        let same = match &text {
            Some(t) => {
                let back = tx
                    .batch_execute(&view(&format!("pgcopy_written_{i}"), w, t))
                    .await;
                match back {
                    Ok(()) => {
                        let again: String = tx
                            .query_one(&printed(&format!("pgcopy_written_{i}")), &[])
                            .await?
                            .try_get(0)?;
                        again == pgcopy
                    }
                    Err(_) => false,
                }
            }
            None => false,
        };
        tx.batch_execute(&rollback).await?;
        out.push(match (same, text) {
            (true, Some(t)) => Outcome::Same(t),
            _ => Outcome::Fails(format!(
                "pgcopy could not write it out with its schemas (PostgreSQL printed it as {pgcopy:?}); \
                 write its names with their schemas"
            )),
        });
    }
    tx.rollback().await?;
    Ok(out)
}

/// For each text: the first name it leaves to the path that one of the
/// schemas left out holds (kind, name, schema), if any.
pub(super) async fn by_name(
    client: &Client,
    left_out: &[(String, Vec<String>, bool)],
    written: &[Written],
) -> anyhow::Result<Vec<Option<(&'static str, String, String)>>> {
    let mut names: BTreeSet<(NameKind, String)> = BTreeSet::new();
    let mut mine = Vec::new();
    for w in written {
        let set = crate::parse::unqualified_names(&w.text).unwrap_or_default();
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
                    .map(|(schema, ..)| (kind.as_str(), name.clone(), schema.clone()))
            })
        })
        .collect())
}
