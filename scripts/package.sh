#!/usr/bin/env bash
# Builds the .deb packages into target/debian (make package):
#   pgcopy_VERSION_ARCH.deb              the CLI, its man pages and shell completions
#   postgresql-N-pgcopy_VERSION_ARCH.deb the extension for PostgreSQL N, for each
#                                        target/P/pgcopy-pgN that make ext-N built (P:
#                                        PACKAGE_EXT_PROFILE, release unless debug),
#                                        laid out as Debian's extension packages are
#                                        (usr/lib/postgresql/N/lib, usr/share/postgresql/N/extension)
# from target/release-lto/pgcopy (make build; PACKAGE_BIN names another
# build, as make test-package does with the debug one). dpkg-deb only: no debian/ tree
# to keep beside the Cargo manifests. PACKAGE_COMPRESSION is dpkg-deb's -Z
# (xz unless given; make test-package takes gzip: xz spent 19 s on the debug
# CLI alone, for packages that are installed once and removed).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
bin=${PACKAGE_BIN:-target/release-lto/pgcopy}
compression=${PACKAGE_COMPRESSION:-xz}
out=target/debian
maintainer="pgcopy developers <pgcopy@localhost>"
[ -x "$bin" ] || { echo "package: $bin is missing: run make build first" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rm -rf "$out"
mkdir -p "$out"

# The libc6 a binary needs: the newest GLIBC_ symbol version it uses.
libc_needed() {
    objdump -T "$@" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1
}

# Writes DEBIAN/control for the tree $1 and builds it.
build_deb() { # dir package depends description...
    local dir=$1 package=$2 depends=$3
    shift 3
    mkdir -p "$dir/DEBIAN"
    {
        echo "Package: $package"
        echo "Version: $version"
        echo "Architecture: $arch"
        echo "Maintainer: $maintainer"
        echo "Installed-Size: $(du -sk --exclude=DEBIAN "$dir" | cut -f1)"
        echo "Depends: $depends"
        echo "Section: database"
        echo "Priority: optional"
        printf 'Description: %s\n' "$1"
        shift
        for line in "$@"; do printf ' %s\n' "$line"; done
    } >"$dir/DEBIAN/control"
    dpkg-deb --root-owner-group "-Z$compression" --build "$dir" "$out/${package}_${version}_${arch}.deb" >/dev/null
    echo "package: $out/${package}_${version}_${arch}.deb"
}

# The CLI.
d=$stage/pgcopy
install -D -m 755 "$bin" "$d/usr/bin/pgcopy"
strip --strip-debug "$d/usr/bin/pgcopy"
mkdir -p "$d/usr/share/man/man1"
"$bin" man "$d/usr/share/man/man1" >/dev/null
gzip -9n "$d"/usr/share/man/man1/*.1
install -d "$d/usr/share/bash-completion/completions" "$d/usr/share/zsh/vendor-completions" \
    "$d/usr/share/fish/vendor_completions.d"
"$bin" completions bash >"$d/usr/share/bash-completion/completions/pgcopy"
"$bin" completions zsh >"$d/usr/share/zsh/vendor-completions/_pgcopy"
"$bin" completions fish >"$d/usr/share/fish/vendor_completions.d/pgcopy.fish"
install -D -m 644 LICENSE "$d/usr/share/doc/pgcopy/copyright"
install -m 644 README.md "$d/usr/share/doc/pgcopy/README.md"
install -d "$d/usr/share/doc/pgcopy/docs" && install -m 644 docs/*.md "$d/usr/share/doc/pgcopy/docs/"
find "$d/usr/share" -type f -exec chmod 644 {} +
build_deb "$d" pgcopy "libc6 (>= $(libc_needed "$d/usr/bin/pgcopy")), libgcc-s1" \
    "copies the data of a PostgreSQL database into another" \
    "Parallel workers stream every table from one consistent source snapshot as" \
    "binary COPY; foreign keys, indexes and triggers come back exactly as they" \
    "were, without superuser; resumable. The pgcopy extension" \
    "(postgresql-N-pgcopy) is optional."

# The extension, for each major built.
shopt -s nullglob
for package in target/${PACKAGE_EXT_PROFILE:-release}/pgcopy-pg*; do
    major=${package##*-pg}
    library=$package/usr/lib/postgresql/$major/lib/pgcopy.so
    [ -f "$library" ] || continue
    d=$stage/postgresql-$major-pgcopy
    mkdir -p "$d"
    cp -a "$package/usr" "$d/"
    strip --strip-debug "$d/usr/lib/postgresql/$major/lib/pgcopy.so"
    install -D -m 644 LICENSE "$d/usr/share/doc/postgresql-$major-pgcopy/copyright"
    find "$d/usr" -type f -exec chmod 644 {} +
    build_deb "$d" "postgresql-$major-pgcopy" \
        "postgresql-$major, libc6 (>= $(libc_needed "$d/usr/lib/postgresql/$major/lib/pgcopy.so")), libgcc-s1" \
        "pgcopy's state schema for PostgreSQL $major (CREATE EXTENSION pgcopy)" \
        "Job state, progress and the saved foreign keys and indexes of pgcopy" \
        "copies, with pgcopy.plan(), pgcopy.status() and pgcopy.restore_fks() to" \
        "inspect and repair a copy from psql. Trusted: a role with CREATE on the" \
        "database may install it."
done
