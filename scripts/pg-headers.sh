#!/usr/bin/env bash
# Prints the path of a pg_config to build the extension for PostgreSQL MAJOR
# with: the system's for 15, else a small script answering what pgrx asks
# (the header directory, and Debian's layout for the files it installs),
# over server headers fetched once into target/pg-headers/MAJOR:
#
#   14  Ubuntu 22.04's postgresql-server-dev-14 14.2 (jammy's release pocket,
#       which never changes), checked against the SHA-256 pinned below:
#       Debian ships no 14 any more and this machine has no Ubuntu keyring.
#   16  the pgserver 0.1.4 wheel from PyPI (a PostgreSQL 16.2 installation
#       with include/server), its hash pinned below.
#   17  Debian trixie's postgresql-server-dev-17 } with an apt configuration
#   18  Debian sid's postgresql-server-dev-18    } of its own (signed by
#       Debian's keys, which this machine has); the machine's sources and
#       lists are left alone.
#
# Usage: scripts/pg-headers.sh MAJOR
set -Eeuo pipefail

major=${1:?usage: pg-headers.sh MAJOR}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=$root/target/pg-headers/$major
log=$root/target/pg-headers/$major.log

if [ "$major" = 15 ]; then
    echo /usr/lib/postgresql/15/bin/pg_config
    exit 0
fi
if [ -x "$cache/pg_config" ]; then
    echo "$cache/pg_config"
    exit 0
fi

mkdir -p "$root/target/pg-headers"
staging=$(mktemp -d "$root/target/pg-headers/.$major.XXXXXX")
trap 'rm -rf "$staging"' EXIT
exec 3>&1 >"$log" 2>&1
# Everything goes to the log; a failure says so in one line where it was run.
trap 'echo "pg-headers: fetching the headers of PostgreSQL $major failed; what happened is in $log" >&3' ERR

# Downloads one package of a Debian suite with its own apt state.
apt_download() { # suite package
    local suite=$1 package=$2 a=$staging/apt
    mkdir -p "$a/lists/partial" "$a/archives/partial" "$a/etc/preferences.d"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
        >"$a/etc/sources.list"
    : >"$a/status"
    local opts=(-o "Dir::Etc::SourceList=$a/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::Etc::Preferences=$a/etc/preferences" -o "Dir::Etc::PreferencesParts=$a/etc/preferences.d"
        -o "Dir::State::Lists=$a/lists" -o "Dir::State::Status=$a/status"
        -o "Dir::Cache=$a" -o "Dir::Cache::archives=$a/archives" -o Debug::NoLocking=1
        -o APT::Architecture=amd64 -o Acquire::Languages=none)
    apt-get "${opts[@]}" -q update
    (cd "$staging" && apt-get "${opts[@]}" -q download "$package")
    dpkg-deb -x "$staging"/"$package"_*.deb "$staging/root"
}

# Downloads a file and checks it against its pinned SHA-256.
fetch_pinned() { # url sha256 file
    curl -fsSL --retry 3 -o "$3" "$1"
    echo "$2  $3" | sha256sum -c -
}

case $major in
14)
    fetch_pinned \
        http://archive.ubuntu.com/ubuntu/pool/universe/p/postgresql-14/postgresql-server-dev-14_14.2-1ubuntu1_amd64.deb \
        deda952319c4298a36ab3383dfbefed204eec40cafb7a69390c9b72e00d6a3f2 "$staging/dev.deb"
    dpkg-deb -x "$staging/dev.deb" "$staging/root"
    server=$staging/root/usr/include/postgresql/14/server
    ;;
16)
    pip download -q --no-deps --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
        -d "$staging" pgserver==0.1.4
    wheel=$(ls "$staging"/pgserver-0.1.4-*.whl)
    echo "d595789b47624a3d963aa9aa6359da9be31beb7e61f1a45541953242068b8813  $wheel" | sha256sum -c -
    (cd "$staging" && python3 -m zipfile -e "$wheel" wheel >/dev/null)
    mkdir -p "$staging/root/usr/include/postgresql/16"
    mv "$staging/wheel/pgserver/pginstall/include/postgresql/server" "$staging/root/usr/include/postgresql/16/server"
    server=$staging/root/usr/include/postgresql/16/server
    ;;
17)
    apt_download trixie postgresql-server-dev-17
    server=$staging/root/usr/include/postgresql/17/server
    ;;
18)
    apt_download sid postgresql-server-dev-18
    server=$staging/root/usr/include/postgresql/18/server
    ;;
*)
    echo "no headers known for PostgreSQL $major (14, 16, 17 and 18 are; 15 is the system's)" >&3
    exit 1
    ;;
esac

version=$(sed -n 's/^#define PG_VERSION "\(.*\)"$/\1/p' "$server/pg_config.h")
case $version in
"$major".* | "$major"beta* | "$major"rc*) ;;
*)
    echo "the headers fetched for PostgreSQL $major say $version" >&3
    exit 1
    ;;
esac

mkdir -p "$staging/out/include"
mv "$server" "$staging/out/include/server"
# What pgrx asks pg_config: the headers it binds to, and where the files it
# installs go (Debian's layout, the one `make package` builds .debs for).
cat >"$staging/out/pg_config" <<EOF
#!/bin/sh
# pg_config for building against PostgreSQL $version's headers (scripts/pg-headers.sh).
here=\$(cd "\$(dirname "\$0")" && pwd)
case "\$1" in
--version) echo "PostgreSQL $version" ;;
--includedir-server) echo "\$here/include/server" ;;
--includedir | --pkgincludedir) echo "\$here/include" ;;
--bindir) echo /usr/lib/postgresql/$major/bin ;;
--libdir) echo /usr/lib/x86_64-linux-gnu ;;
--pkglibdir) echo /usr/lib/postgresql/$major/lib ;;
--sharedir) echo /usr/share/postgresql/$major ;;
--pgxs) echo /usr/lib/postgresql/$major/lib/pgxs/src/makefiles/pgxs.mk ;;
--cppflags) echo -D_GNU_SOURCE ;;
--configure) echo ;;
*) echo "pg_config (pgcopy headers $major): \$1 is not known" >&2; exit 1 ;;
esac
EOF
chmod +x "$staging/out/pg_config"
rm -rf "$cache"
mv "$staging/out" "$cache"
echo "$cache/pg_config" >&3
