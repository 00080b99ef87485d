//! Step `Sequences`: each copied sequence set to the source's state, read
//! at the end of the copy, after the rows that used it; one a table the
//! copy leaves alone also uses only moves forward.

use crate::engine::shared::Shared;
use crate::error::{PgContext, UserError};
use pgcopy_core::sql;
use pgcopy_core::states::Phase;
use tokio_postgres::Client;

/// Sets the plan's sequences on `dst` from `src` (in the snapshot).
pub async fn set(shared: &Shared, src: &Client, dst: &Client) -> anyhow::Result<()> {
    let plan = &shared.plan;
    shared
        .enter(dst, Phase::Sequences, plan.sequences.len())
        .await;
    // Sequence values are read at the end of the copy, after its rows.
    for s in &plan.sequences {
        shared.after.advance();
        let source = match crate::introspect::read_sequence(src, &s.sequence).await {
            Ok(state) => state,
            Err(why) => {
                // The snapshot transaction may be aborted now; later reads
                // would fail too.
                return Err(UserError::failure(format!(
                    "could not read sequence {} on the source: {why}",
                    s.sequence.display_name()
                ))
                .into());
            }
        };
        let dest = crate::introspect::read_sequence(dst, &s.sequence)
            .await
            .map_err(|why| anyhow::anyhow!("sequence {}: {why}", s.sequence.display_name()))?;
        // A sequence a table the copy leaves alone also uses only moves
        // forward.
        if s.only_forward
            && !sql::sequence_ahead(
                dest.increment,
                source.last,
                source.called,
                dest.last,
                dest.called,
            )
        {
            continue;
        }
        dst.batch_execute(&sql::set_sequence(dest.oid, source.last, source.called))
            .await
            .pg_context(|| format!("setting sequence {}", s.sequence.display_name()))?;
    }
    if !plan.sequences.is_empty() {
        tracing::info!(
            "set {}",
            crate::format::count(plan.sequences.len(), "sequence", "sequences")
        );
    }
    Ok(())
}
