//! User triggers during a load: which would fire, how they are switched off,
//! and how each is put back exactly as it was.
//!
//! A trigger's `tgenabled` decides when it fires: `O` in ordinary sessions,
//! `R` only in replica-mode sessions, `A` always, `D` never. So replica mode
//! does not silence every trigger: `ENABLE ALWAYS` and `ENABLE REPLICA`
//! triggers fire in it. Each firing trigger is disabled by name and later set
//! back to its own mode; `DISABLE`/`ENABLE TRIGGER USER` would instead turn
//! every trigger `O` afterwards, enabling ones that were disabled on purpose.

use crate::catalog::Table;
pub use crate::catalog::{Trigger, TriggerMode};
use crate::quote::{quote_ident, QualifiedName};
use serde::{Deserialize, Serialize};

/// The `ALTER TABLE` action that sets `mode`.
fn action(mode: TriggerMode) -> &'static str {
    match mode {
        TriggerMode::Origin => "ENABLE",
        TriggerMode::Replica => "ENABLE REPLICA",
        TriggerMode::Always => "ENABLE ALWAYS",
        TriggerMode::Disabled => "DISABLE",
    }
}

/// A trigger a job disabled, with the mode it goes back to; stored in the
/// job's row (`jobs.disabled_triggers`) in the transaction that disables it.
///
/// Jobs of earlier versions stored only the table (`trigger` absent): those
/// are put back with `ENABLE TRIGGER USER`, as they were disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedTrigger {
    /// The table.
    #[serde(flatten)]
    pub table: QualifiedName,
    /// Trigger name; `None` for a whole table's user triggers (older jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// The mode to restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TriggerMode>,
}

impl SavedTrigger {
    /// The statement that disables it for the load.
    pub fn disable_sql(&self) -> String {
        match &self.trigger {
            Some(name) => format!(
                "ALTER TABLE {} DISABLE TRIGGER {}",
                self.table,
                quote_ident(name)
            ),
            None => format!("ALTER TABLE {} DISABLE TRIGGER USER", self.table),
        }
    }

    /// The statement that puts it back as it was.
    pub fn restore_sql(&self) -> String {
        match &self.trigger {
            Some(name) => format!(
                "ALTER TABLE {} {} TRIGGER {}",
                self.table,
                action(self.mode.unwrap_or(TriggerMode::Origin)),
                quote_ident(name)
            ),
            None => format!("ALTER TABLE {} ENABLE TRIGGER USER", self.table),
        }
    }

    /// `schema.table.trigger`, for people.
    pub fn display_name(&self) -> String {
        match &self.trigger {
            Some(name) => format!("{} on {}", quote_ident(name), self.table.display_name()),
            None => format!("user triggers on {}", self.table.display_name()),
        }
    }
}

/// The triggers of `table` that would fire during a load in a session in
/// replica mode (`replica`) or not, each with the mode to restore.
pub fn firing(table: &Table, replica: bool) -> Vec<SavedTrigger> {
    table
        .triggers
        .iter()
        .filter(|t| t.mode.fires(replica))
        .map(|t| SavedTrigger {
            table: table.name.clone(),
            trigger: Some(t.name.clone()),
            mode: Some(t.mode),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qn(s: &str, n: &str) -> QualifiedName {
        QualifiedName::new(s, n)
    }

    #[test]
    fn replica_mode_fires_always_and_replica_triggers_only() {
        use TriggerMode::*;
        let fired = |replica| {
            [Origin, Replica, Always, Disabled]
                .into_iter()
                .filter(|m| m.fires(replica))
                .collect::<Vec<_>>()
        };
        assert_eq!(fired(false), vec![Origin, Always]);
        assert_eq!(fired(true), vec![Replica, Always]);
    }

    #[test]
    fn each_trigger_goes_back_to_its_own_mode() {
        let saved = |mode| SavedTrigger {
            table: qn("Sales \"EU\"", "order"),
            trigger: Some("audit \"x\"".into()),
            mode: Some(mode),
        };
        assert_eq!(
            saved(TriggerMode::Always).disable_sql(),
            r#"ALTER TABLE "Sales ""EU"""."order" DISABLE TRIGGER "audit ""x""""#
        );
        assert_eq!(
            saved(TriggerMode::Always).restore_sql(),
            r#"ALTER TABLE "Sales ""EU"""."order" ENABLE ALWAYS TRIGGER "audit ""x""""#
        );
        assert_eq!(
            saved(TriggerMode::Replica).restore_sql(),
            r#"ALTER TABLE "Sales ""EU"""."order" ENABLE REPLICA TRIGGER "audit ""x""""#
        );
        assert_eq!(
            saved(TriggerMode::Origin).restore_sql(),
            r#"ALTER TABLE "Sales ""EU"""."order" ENABLE TRIGGER "audit ""x""""#
        );
    }

    #[test]
    fn older_jobs_whole_table_entries_still_read_and_restore() {
        let old: Vec<SavedTrigger> =
            serde_json::from_str(r#"[{"schema": "public", "name": "t"}]"#).unwrap();
        assert_eq!(old[0].trigger, None);
        assert_eq!(
            old[0].restore_sql(),
            r#"ALTER TABLE "public"."t" ENABLE TRIGGER USER"#
        );
        let new = SavedTrigger {
            table: qn("public", "t"),
            trigger: Some("tg".into()),
            mode: Some(TriggerMode::Replica),
        };
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(
            text,
            r#"{"schema":"public","name":"t","trigger":"tg","mode":"R"}"#
        );
        assert_eq!(serde_json::from_str::<SavedTrigger>(&text).unwrap(), new);
    }
}
