//! Step `MaterializedViews`: each copied materialized view refreshed on the
//! destination, unless its query would run code pgcopy does not trust.

use crate::engine::shared::Shared;
use crate::error::pg_message;
use pgcopy_core::sql;
use pgcopy_core::states::Phase;
use tokio_postgres::Client;

/// What to do about a failed REFRESH MATERIALIZED VIEW. A name that does not
/// resolve is the usual cause: PostgreSQL 17 and later refresh with
/// `search_path = pg_catalog, pg_temp` whoever runs it (and pgcopy's sessions
/// pin the same path), so what the view's query calls must name its objects
/// with their schema; REFRESH by hand would fail the same way.
fn refresh_hint(e: &tokio_postgres::Error) -> &'static str {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c)
            if *c == SqlState::UNDEFINED_TABLE
                || *c == SqlState::UNDEFINED_FUNCTION
                || *c == SqlState::UNDEFINED_OBJECT =>
        {
            "a name in the view's query, or in a function it calls, is written without its schema, and \
             refreshes run with search_path = pg_catalog, pg_temp (as PostgreSQL 17 and later always do): \
             write the schema into those names (or give the function SET search_path), then run REFRESH \
             MATERIALIZED VIEW"
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => {
            "the view's owner lacks a right its query needs: grant it, then run REFRESH MATERIALIZED VIEW"
        }
        _ => "fix the cause above, then run REFRESH MATERIALIZED VIEW on it",
    }
}

/// Refreshes the plan's materialized views; returns those not refreshed,
/// each with why and what to do.
pub async fn refresh(shared: &Shared, dst: &Client) -> Vec<String> {
    let plan = &shared.plan;
    let mut matview_failures = Vec::new();
    if !plan.matviews.is_empty() {
        shared
            .enter(dst, Phase::MaterializedViews, plan.matviews.len())
            .await;
    }
    for m in &plan.matviews {
        if crate::stop::requested() {
            return matview_failures;
        }
        shared.after.advance();
        if let Some(roles) = shared.matview_refusals.get(m) {
            let names: Vec<&str> = roles.iter().map(String::as_str).collect();
            let why = format!(
                "{}: not refreshed: its query would run code of {} with the rights of its owner (it calls it, or \
                 planning it over the tables it reads would); refresh it yourself, or add {} if you trust that \
                 code",
                m.display_name(),
                names.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", "),
                pgcopy_core::trust::TrustedOwners::flags(&names)
            );
            tracing::error!("materialized view {why}");
            matview_failures.push(why);
            continue;
        }
        match dst.batch_execute(&sql::refresh_matview(m)).await {
            Ok(()) => tracing::info!("refreshed materialized view {}", m.display_name()),
            Err(e) => {
                let why = format!(
                    "{}: {}; {}",
                    m.display_name(),
                    pg_message(&e),
                    refresh_hint(&e)
                );
                tracing::error!("could not refresh materialized view {why}");
                matview_failures.push(why);
            }
        }
    }
    matview_failures
}
