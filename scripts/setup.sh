#!/bin/sh
# Installs the Debian packages moelens needs to build, test and fetch its data. Idempotent: prints
# what it installs, and installs nothing when everything is present.
set -e
PKGS="build-essential libopenblas-dev libopenblas-openmp-dev libcjson-dev libpng-dev zlib1g-dev libstb-dev
python3-numpy python3-torch librsvg2-bin dataset-fashion-mnist chromium clang libclang-rt-14-dev nodejs npm
openmpi-bin libopenmpi-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "setup: all Debian packages present"
    exit 0
fi
# node and npm may come from elsewhere (the machine image); only install them if absent.
todo=""
for p in $missing; do
    case $p in
        nodejs) command -v node >/dev/null 2>&1 || todo="$todo $p" ;;
        npm) command -v npm >/dev/null 2>&1 || todo="$todo $p" ;;
        *) todo="$todo $p" ;;
    esac
done
[ -z "$todo" ] && { echo "setup: all Debian packages present"; exit 0; }
echo "setup: installing$todo"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $todo
