//! The foreign keys of a plan: the graph its load order and cycles come
//! from, and what the copy does with each key (and NOT VALID CHECK) that
//! touches the selection, and why.

use super::build::{Scope, Selection};
use super::*;

impl Scope<'_> {
    /// The FK graph over top-level tables: a partitioned table is one node.
    pub(super) fn fk_graph(&self, sel: &Selection) -> FkGraph {
        let root_fks: Vec<ForeignKey> = self
            .catalog
            .foreign_keys
            .iter()
            .filter(|fk| !fk.inherited)
            .map(|fk| ForeignKey {
                table: self.root_of(&fk.table),
                referenced: self.root_of(&fk.referenced),
                ..fk.clone()
            })
            .collect();
        FkGraph::new(&sel.roots, &root_fks)
    }

    /// What happens to each foreign key (and NOT VALID CHECK) that touches
    /// the selection, and why; and the tables outside it whose keys
    /// reference it.
    pub(super) fn fk_specs(
        &self,
        sel: &Selection,
        tables: &[TableCopySpec],
    ) -> (Vec<FkSpec>, BTreeSet<QualifiedName>) {
        // With --no-follow-fks, a key to a filtered table may no longer hold:
        // kept in place (replica mode), it would stay VALID over rows that break
        // it; dropped and restored, it comes back NOT VALID if they do.
        let filtered_roots: BTreeSet<QualifiedName> = match self.opts.follow_fks {
            true => BTreeSet::new(),
            false => tables
                .iter()
                .filter(|t| t.taken == crate::subset::Taken::Filtered)
                .map(|t| self.root_of(&t.table))
                .collect(),
        };
        let mut foreign_keys = Vec::new();
        let mut outside = BTreeSet::new();
        for fk in self.catalog.foreign_keys.iter().filter(|fk| !fk.inherited) {
            let child_in = sel.touched.contains(&fk.table);
            let parent_in = sel.touched.contains(&fk.referenced);
            if !child_in && !parent_in {
                continue;
            }
            let partly = self.partly_copied(sel, &fk.table);
            let (action, reason) = match (child_in, parent_in, self.opts.fk_strategy) {
                (true, true, _) if partly => (
                    FkAction::DropAndRestore,
                    "declared on a partitioned table that is only partly copied: TRUNCATE needs it dropped".to_string(),
                ),
                (false, true, _) => {
                    outside.insert(self.root_of(&fk.table));
                    (
                        FkAction::DropAndRestore,
                        "references a copied table from a table that is not copied: TRUNCATE needs it dropped".to_string(),
                    )
                }
                (true, true, FkStrategy::Replica)
                    if filtered_roots.contains(&self.root_of(&fk.referenced)) =>
                {
                    (
                        FkAction::DropAndRestore,
                        "references a table --where filters, and --no-follow-fks leaves its rows: saved, dropped, \
                         restored (NOT VALID where they no longer hold)"
                            .to_string(),
                    )
                }
                (_, _, FkStrategy::Replica) => (
                    FkAction::Keep,
                    "replica mode: its triggers do not fire during the load".to_string(),
                ),
                (_, _, FkStrategy::Drop) => (
                    FkAction::DropAndRestore,
                    "drop mode: saved, dropped, restored after the load".to_string(),
                ),
            };
            foreign_keys.push(FkSpec {
                fk: fk.clone(),
                action,
                reason,
            });
        }
        for check in self
            .catalog
            .not_valid_checks
            .iter()
            .filter(|c| sel.names.contains(&c.table))
        {
            foreign_keys.push(FkSpec {
                fk: check.clone(),
                action: FkAction::DropAndRestore,
                reason: "a NOT VALID CHECK the source's rows may violate: saved, dropped, restored NOT VALID"
                    .to_string(),
            });
        }
        foreign_keys.sort_by(|a, b| (&a.fk.table, &a.fk.name).cmp(&(&b.fk.table, &b.fk.name)));
        (foreign_keys, outside)
    }
}
