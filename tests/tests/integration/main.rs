//! Integration tests: real PostgreSQL clusters (a source and a destination per
//! test), the real `pgcopy` binary, real psql. One binary, one module a topic.

mod chaos;
mod classes;
mod common;
mod conditions;
mod copy;
mod errors;
mod extension;
mod faults;
mod fidelity;
mod fks;
mod generated;
mod keys;
mod list_dry_run;
mod package;
mod resume;
mod security;
mod signals;
mod state;
mod subset;
mod tls;
mod types;
mod ui;
mod verify;
mod versions;
