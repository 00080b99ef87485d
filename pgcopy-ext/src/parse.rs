//! The server's own parser (`raw_parser`, the grammar this very server runs)
//! reads a stored definition into the core's [`Statement`]s, which
//! `pgcopy_core::stored` checks before anything runs. The CLI does the same
//! with libpg_query.

use crate::subxact;
use pgcopy_core::stored::{AlterCommand, AlterObject, RelationRef, Statement};
use pgrx::{pg_sys, PgList};
use std::ffi::{CStr, CString};

/// A C string from a parse node, `None` when NULL.
unsafe fn text(p: *const std::ffi::c_char) -> Option<String> {
    (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
}

unsafe fn relation(r: *const pg_sys::RangeVar) -> RelationRef {
    if r.is_null() {
        return RelationRef {
            catalog: None,
            schema: None,
            name: String::new(),
        };
    }
    RelationRef {
        catalog: text((*r).catalogname),
        schema: text((*r).schemaname),
        name: text((*r).relname).unwrap_or_default(),
    }
}

unsafe fn tag(node: *const pg_sys::Node) -> Option<pg_sys::NodeTag> {
    (!node.is_null()).then(|| (*node).type_)
}

/// A node's type for messages: `AlterRoleStmt` for `T_AlterRoleStmt`.
fn kind(tag: Option<pg_sys::NodeTag>) -> String {
    match tag {
        Some(t) => format!("{t:?}").trim_start_matches("T_").to_string(),
        None => "empty".into(),
    }
}

/// A constraint kind for messages.
fn constraint_kind(contype: pg_sys::ConstrType::Type) -> String {
    match contype {
        pg_sys::ConstrType::CONSTR_CHECK => "CHECK".into(),
        pg_sys::ConstrType::CONSTR_PRIMARY => "PRIMARY KEY".into(),
        pg_sys::ConstrType::CONSTR_UNIQUE => "UNIQUE".into(),
        pg_sys::ConstrType::CONSTR_EXCLUSION => "EXCLUDE".into(),
        pg_sys::ConstrType::CONSTR_NOTNULL => "NOT NULL".into(),
        other => format!("kind {other}"),
    }
}

unsafe fn command(cmd: *const pg_sys::AlterTableCmd) -> AlterCommand {
    let def = (*cmd).def;
    match ((*cmd).subtype, tag(def)) {
        (pg_sys::AlterTableType::AT_AddConstraint, Some(pg_sys::NodeTag::T_Constraint)) => {
            let c = def as *const pg_sys::Constraint;
            if (*c).contype == pg_sys::ConstrType::CONSTR_FOREIGN {
                AlterCommand::AddForeignKey {
                    name: text((*c).conname).unwrap_or_default(),
                    referenced: relation((*c).pktable),
                    not_valid: (*c).skip_validation,
                }
            } else if (*c).contype == pg_sys::ConstrType::CONSTR_CHECK {
                AlterCommand::AddCheck {
                    name: text((*c).conname).unwrap_or_default(),
                    not_valid: (*c).skip_validation,
                }
            } else {
                AlterCommand::Other {
                    kind: format!("ADD CONSTRAINT {}", constraint_kind((*c).contype)),
                }
            }
        }
        (pg_sys::AlterTableType::AT_AttachPartition, Some(pg_sys::NodeTag::T_PartitionCmd)) => {
            AlterCommand::AttachPartition {
                partition: relation((*(def as *const pg_sys::PartitionCmd)).name),
            }
        }
        (subtype, _) => AlterCommand::Other {
            kind: format!("ALTER command {subtype}"),
        },
    }
}

unsafe fn statement(node: *const pg_sys::Node) -> Statement {
    match tag(node) {
        Some(pg_sys::NodeTag::T_IndexStmt) => {
            let i = node as *const pg_sys::IndexStmt;
            Statement::CreateIndex {
                index: text((*i).idxname).unwrap_or_default(),
                table: relation((*i).relation),
                concurrently: (*i).concurrent,
                if_not_exists: (*i).if_not_exists,
            }
        }
        Some(pg_sys::NodeTag::T_AlterTableStmt) => {
            let a = node as *const pg_sys::AlterTableStmt;
            let cmds = PgList::<pg_sys::Node>::from_pg((*a).cmds);
            Statement::Alter {
                object: match (*a).objtype {
                    pg_sys::ObjectType::OBJECT_TABLE => AlterObject::Table,
                    pg_sys::ObjectType::OBJECT_INDEX => AlterObject::Index,
                    _ => AlterObject::Other,
                },
                relation: relation((*a).relation),
                commands: cmds
                    .iter_ptr()
                    .map(|c| match tag(c) {
                        Some(pg_sys::NodeTag::T_AlterTableCmd) => {
                            command(c as *const pg_sys::AlterTableCmd)
                        }
                        other => AlterCommand::Other { kind: kind(other) },
                    })
                    .collect(),
            }
        }
        other => Statement::Other { kind: kind(other) },
    }
}

/// Parses `sql` with the server's grammar into statements, or the parser's
/// error message (a syntax error is caught in a subtransaction, not raised).
pub fn parse(sql: &str) -> Result<Vec<Statement>, String> {
    let c = CString::new(sql).map_err(|_| "the text holds a NUL byte".to_string())?;
    subxact::run(|| {
        // SAFETY: raw_parser reads a NUL-terminated string and returns a List
        // of RawStmt nodes in the current memory context (or raises, which
        // subxact::run turns into Err); the walk only reads those nodes.
        unsafe {
            let list = pg_sys::raw_parser(c.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
            PgList::<pg_sys::RawStmt>::from_pg(list)
                .iter_ptr()
                .map(|raw| statement((*raw).stmt))
                .collect()
        }
    })
}

/// Whether `text` (a `--where` condition or `--transform` expression) is one
/// SQL expression on its own, as the CLI's `parse::one_expression` asks with
/// libpg_query: `SELECT text` is one plain select of one column, and
/// `SELECT (text)` parses too (text that only balances where it is pasted,
/// such as `false) OR (true`, or ends in `;`, is not one expression).
pub fn one_expression(text: &str) -> Result<(), String> {
    if text.to_lowercase().contains(pgcopy_core::subset::ROW_ALIAS) {
        return Err(format!(
            "it names {}, pgcopy's alias of the row: name the columns alone",
            pgcopy_core::subset::ROW_ALIAS
        ));
    }
    let not_one = || "it is not one SQL expression".to_string();
    let plain = CString::new(format!("SELECT {text}")).map_err(|_| not_one())?;
    let wrapped = CString::new(format!("SELECT ({text})")).map_err(|_| not_one())?;
    let one = subxact::run(|| {
        // SAFETY: as in `parse`: raw_parser returns a List of RawStmt nodes
        // (or raises, caught by subxact::run); only their fields are read.
        unsafe {
            let list = pg_sys::raw_parser(plain.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
            let stmts = PgList::<pg_sys::RawStmt>::from_pg(list);
            let [raw] = stmts.iter_ptr().collect::<Vec<_>>()[..] else {
                return false;
            };
            let node = (*raw).stmt;
            if tag(node) != Some(pg_sys::NodeTag::T_SelectStmt) {
                return false;
            }
            let s = &*(node as *const pg_sys::SelectStmt);
            let len = |l: *mut pg_sys::List| PgList::<pg_sys::Node>::from_pg(l).len();
            len(s.targetList) == 1
                && s.fromClause.is_null()
                && s.whereClause.is_null()
                && s.groupClause.is_null()
                && s.havingClause.is_null()
                && s.windowClause.is_null()
                && s.sortClause.is_null()
                && s.limitCount.is_null()
                && s.limitOffset.is_null()
                && s.lockingClause.is_null()
                && s.intoClause.is_null()
                && s.withClause.is_null()
                && s.larg.is_null()
                && s.rarg.is_null()
                && s.distinctClause.is_null()
                && s.valuesLists.is_null()
        }
    })
    .unwrap_or(false);
    let parenthesized = subxact::run(|| {
        // SAFETY: as above.
        unsafe {
            let list =
                pg_sys::raw_parser(wrapped.as_ptr(), pg_sys::RawParseMode::RAW_PARSE_DEFAULT);
            PgList::<pg_sys::RawStmt>::from_pg(list).len() == 1
        }
    })
    .unwrap_or(false);
    match one && parenthesized {
        true => Ok(()),
        false => Err(not_one()),
    }
}
