#!/bin/sh
# scripts/fetch_data.sh against a stand-in Debian archive (stub apt-get / apt-cache on PATH, a
# two-file .deb built here), no network: the pinned version is checked against the manifest; a pin
# the archive no longer has gives way to the archive's version with a warning and a stamp that
# says so; re-runs are no-ops; a corrupt package or a package with no version left fails with one
# clear line.
set -eu
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ROOT=$(pwd)

# the archive: fakedata 1.0-1 and 1.0-2 (different contents)
for v in 1.0-1 1.0-2; do
    d="$T/build-$v"
    mkdir -p "$d/DEBIAN" "$d/usr/share/fakedata"
    printf 'Package: fakedata\nVersion: %s\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n' \
        "$v" >"$d/DEBIAN/control"
    echo "contents of $v" >"$d/usr/share/fakedata/a.txt"
    ln -s a.txt "$d/usr/share/fakedata/b.txt"
    dpkg-deb -b "$d" "$T/fakedata_$v.deb" >/dev/null
done
mkdir -p "$T/bin"
# ARCHIVE names the versions the stand-in archive holds; the candidate is the last
cat >"$T/bin/apt-get" <<EOF
#!/bin/sh
[ "\$1" = update ] && exit 0
[ "\$1" = download ] || exit 100
shift; [ "\$1" = -q ] && shift
v=\${1#fakedata=}
case " \$ARCHIVE " in *" \$v "*) cp "$T/fakedata_\$v.deb" . ;; *) exit 100 ;; esac
EOF
cat >"$T/bin/apt-cache" <<'EOF'
#!/bin/sh
[ -n "$ARCHIVE" ] && echo "  Candidate: ${ARCHIVE##* }" || echo "  Candidate: (none)"
EOF
chmod +x "$T/bin/apt-get" "$T/bin/apt-cache"
export PATH="$T/bin:$PATH" MOELENS_FETCH_PACKAGES="deb fakedata 1.0-1"
export MOELENS_FETCH_MANIFEST="$T/manifest"
fetch() { sh "$ROOT/scripts/fetch_data.sh" --data-dir "$T/data" "$@"; }

# maintainers write the manifest for the pin; a fetch checks it and stamps the package
ARCHIVE="1.0-1" fetch --update-manifest 2>/dev/null
grep -q "deb/fakedata  1.0-1" "$T/manifest"
rm -rf "$T/data"
ARCHIVE="1.0-1" fetch 2>"$T/log"
grep -q "contents of 1.0-1" "$T/data/deb/fakedata/usr/share/fakedata/a.txt"
test "$(cut -d' ' -f1 "$T/data/deb/fakedata.ok")" = 1.0-1
ARCHIVE="" fetch 2>"$T/log" # stamped: a no-op, even with the archive gone
grep -q "complete and verified" "$T/log"

# --verify re-hashes: a tampered extraction fails with one line naming the package and loses its
# stamp, so the next fetch downloads it again
echo tampered >>"$T/data/deb/fakedata/usr/share/fakedata/a.txt"
if ARCHIVE="1.0-1" fetch --verify 2>"$T/log"; then echo "tampering went unnoticed"; exit 1; fi
grep -q "checksum mismatch for deb/fakedata (fakedata 1.0-1)" "$T/log"
test ! -f "$T/data/deb/fakedata.ok"
ARCHIVE="1.0-1" fetch 2>"$T/log"
grep -q "fetching fakedata 1.0-1" "$T/log"
if grep -q tampered "$T/data/deb/fakedata/usr/share/fakedata/a.txt"; then echo "not re-fetched"; exit 1; fi

# a pinned version whose files differ from the manifest: one clear error, no stamp
printf '%s  deb/fakedata  1.0-1\n' "$(printf 0%.0s $(seq 64))" >"$T/bad-manifest"
rm -rf "$T/data"
if ARCHIVE="1.0-1" MOELENS_FETCH_MANIFEST="$T/bad-manifest" fetch 2>"$T/log"; then
    echo "a checksum mismatch was accepted"; exit 1
fi
grep -q "checksum mismatch for deb/fakedata (fakedata 1.0-1)" "$T/log"
test ! -f "$T/data/deb/fakedata.ok"

# Debian replaced the pin: the archive's version, a warning, a stamp that records both
rm -rf "$T/data"
ARCHIVE="1.0-2" fetch 2>"$T/log"
grep -q "warning: fakedata=1.0-1 is gone from the Debian archive" "$T/log"
grep -q "taken from the archive instead of the gone pin: 1.0-2" "$T/log"
grep -q "contents of 1.0-2" "$T/data/deb/fakedata/usr/share/fakedata/a.txt"
test "$(cut -d' ' -f1,3,4 "$T/data/deb/fakedata.ok")" = "1.0-2 archive-for 1.0-1"
ARCHIVE="" fetch 2>"$T/log" # a no-op now
if grep -q "fetching" "$T/log"; then echo "the archive's version was fetched again"; exit 1; fi

# no version of the package left at all: one clear error
rm -rf "$T/data"
if ARCHIVE="" fetch 2>"$T/log"; then echo "a missing package was accepted"; exit 1; fi
grep -q "fakedata=1.0-1 is not in the Debian archive this machine sees, nor any other version" "$T/log"
echo ok
