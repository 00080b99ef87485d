//! The .deb packages (`make package`), installed with apt-get on this
//! machine as a DBA installs them, then used: `make test-package` runs this
//! as root after building them (ignored otherwise, since it installs into
//! the system and removes again).

use crate::common::{full_fingerprint, Pair};
use pgcopy_tests::{fixture, repo_root};
use std::path::PathBuf;
use std::process::Command;

/// The one package in target/debian whose name starts with `prefix`.
fn deb(prefix: &str) -> PathBuf {
    let dir = repo_root().join("target").join("debian");
    let found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run make package", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(".deb"))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{prefix}*.deb in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the packages again, also when the test fails.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("apt-get")
            .args(["remove", "-y", "-qq", "pgcopy", "postgresql-15-pgcopy"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
}

/// `apt-get install ./pgcopy_*.deb ./postgresql-15-pgcopy_*.deb`: the CLI
/// lands in /usr/bin with its man pages and completions, the extension where
/// Debian's server finds it, owned by its package; the installed pgcopy then
/// copies pagila into a database where the packaged extension is created.
#[test]
#[ignore = "installs into the system: make test-package runs it as root"]
fn installed_packages_copy_pagila() {
    let (cli, ext) = (deb("pgcopy_"), deb("postgresql-15-pgcopy_"));
    let _installed = Installed;
    run(
        "apt-get",
        &[
            "install",
            "-y",
            "-qq",
            "--reinstall",
            cli.to_str().unwrap(),
            ext.to_str().unwrap(),
        ],
    );
    let owner = run("dpkg", &["-S", "/usr/lib/postgresql/15/lib/pgcopy.so"]);
    assert!(owner.starts_with("postgresql-15-pgcopy:"), "{owner}");
    let owner = run("dpkg", &["-S", "/usr/share/man/man1/pgcopy-copy.1.gz"]);
    assert!(owner.starts_with("pgcopy:"), "{owner}");
    for f in [
        "/usr/share/bash-completion/completions/pgcopy",
        "/usr/share/zsh/vendor-completions/_pgcopy",
        "/usr/share/postgresql/15/extension/pgcopy.control",
    ] {
        assert!(std::path::Path::new(f).exists(), "{f}");
    }
    let version = run("/usr/bin/pgcopy", &["version"]);
    assert!(
        version.starts_with(&format!("pgcopy {} ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );

    let p = Pair::new("packaged");
    for c in [&p.src, &p.dst] {
        c.psql_file(&p.db, &fixture("pagila/pagila-schema.sql"));
    }
    p.src.psql_file(&p.db, &fixture("pagila/pagila-data.sql"));
    p.dst.psql(&p.db, "CREATE EXTENSION pgcopy");
    let before = full_fingerprint(&p.dst, &p.db);
    let (s, d) = p.urls();
    let out = Command::new("/usr/bin/pgcopy")
        .args(["copy", "-s", &s, "-d", &d, "--no-progress"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p.assert_same_data();
    let after = full_fingerprint(&p.dst, &p.db);
    assert_eq!(
        (before.fks, before.indexes, before.triggers),
        (after.fks, after.indexes, after.triggers),
        "the destination's schema is as it was"
    );
    assert_eq!(
        p.dst.psql(
            &p.db,
            "SELECT state || ' ' || pgcopy.extension_version() FROM pgcopy.jobs"
        ),
        format!("succeeded {}", env!("CARGO_PKG_VERSION"))
    );
}
