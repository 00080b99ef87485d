//! What `pgcopy verify` found, printed as a table or as JSON.

use serde::Serialize;

/// One table's comparison.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    /// `schema.table`.
    pub table: String,
    /// Rows on the source.
    pub source_rows: i64,
    /// Rows on the destination.
    pub dest_rows: i64,
    /// Checksums (with --exact).
    pub source_checksum: Option<String>,
    /// Checksum on the destination.
    pub dest_checksum: Option<String>,
    /// Whether they match.
    pub matches: bool,
}

/// One sequence's comparison: the same state on both sides, or (for one a
/// table the copy leaves alone also uses, which a copy only moves forward)
/// the destination's at or ahead of the source's.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceCheck {
    /// `schema.sequence`.
    pub sequence: String,
    /// `last_value` and `is_called` on the source.
    pub source: (i64, bool),
    /// On the destination.
    pub dest: (i64, bool),
    /// Whether they match.
    pub matches: bool,
}

/// Prints the comparison, as a table or as JSON.
pub(super) fn report(
    args: &crate::cli::VerifyArgs,
    checks: &[TableCheck],
    seqs: &[SequenceCheck],
) -> anyhow::Result<()> {
    let differ = checks.iter().filter(|c| !c.matches).count();
    let seqs_differ = seqs.iter().filter(|s| !s.matches).count();
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "exact": args.exact,
                "tables": checks,
                "matching": checks.len() - differ,
                "differing": differ,
                "sequences": seqs,
                "sequences_differing": seqs_differ,
            }))?
        );
    } else {
        let w = crate::format::name_column_width(checks.iter().map(|c| c.table.as_str()));
        outln!(
            "{:<w$}  {:>12}  {:>12}  result",
            "table",
            "source rows",
            "dest rows"
        );
        for c in checks {
            outln!(
                "{:<w$}  {:>12}  {:>12}  {}",
                c.table,
                c.source_rows,
                c.dest_rows,
                match (c.matches, c.source_rows == c.dest_rows) {
                    (true, _) => "ok",
                    (false, true) => "DIFFERENT (same count, different rows)",
                    (false, false) => "DIFFERENT",
                }
            );
        }
        outln!(
            "{} tables {}: {} match, {} differ",
            checks.len(),
            if args.exact {
                "compared row by row (checksums)"
            } else {
                "compared by row count"
            },
            checks.len() - differ,
            differ
        );
        let state = |(last, called): (i64, bool)| match called {
            true => last.to_string(),
            false => format!("{last} (not called yet)"),
        };
        for s in seqs.iter().filter(|s| !s.matches) {
            outln!(
                "sequence {}: source {}, destination {}: DIFFERENT",
                s.sequence,
                state(s.source),
                state(s.dest)
            );
        }
        if !seqs.is_empty() {
            outln!(
                "{} sequences compared: {} match, {} differ",
                seqs.len(),
                seqs.len() - seqs_differ,
                seqs_differ
            );
        }
    }
    Ok(())
}
