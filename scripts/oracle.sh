#!/bin/sh
# Fetches, builds and caches the llama.cpp oracle, pinned, never committed (.cache/ is ignored).
#   npm install node-llama-cpp@3.22.1      -> $DIR/npm/node_modules/node-llama-cpp/llama/gitRelease.bundle
#                                             and its prebuilt CPU libraries (@node-llama-cpp/linux-x64),
#                                             which the tests link (tests/cli/lib/oracle.sh)
#   git clone of that bundle               -> $DIR/llama.cpp   (source: ggml, gguf-py, models/ggml-vocab-*)
#   cmake: libllama + llama-quantize       -> $DIR/build/bin/llama-quantize, $DIR/build/bin/libllama.so
#                                             (optional, ~17 min on 2 cores: a native build for bench)
# Idempotent: each step is skipped when its stamp file exists. Prints the variables to use:
#   ORACLE_SRC (source tree), ORACLE_BIN (build/bin), PYTHONPATH for gguf-py (/usr/bin/python3).
# Usage: sh scripts/oracle.sh [--src-only]   (--src-only: fetch + clone, no cmake build)
# The cache folder is $MOELENS_ORACLE_DIR, by default <repo>/.cache/oracle.
set -e
VERSION=3.22.1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${MOELENS_ORACLE_DIR:-$ROOT/.cache/oracle}
JOBS=${ORACLE_JOBS:-2}
mkdir -p "$DIR"
log() { echo "oracle: $*" >&2; }

if [ ! -f "$DIR/npm.done" ]; then
    log "npm install node-llama-cpp@$VERSION (about 40 s)"
    mkdir -p "$DIR/npm"
    # --ignore-scripts: we want the source bundle, not its postinstall (which may try to build/download).
    (cd "$DIR/npm" && npm install --no-audit --no-fund --ignore-scripts --prefix "$DIR/npm" \
        "node-llama-cpp@$VERSION" >"$DIR/npm.log" 2>&1) || { log "npm install failed, see $DIR/npm.log"; exit 1; }
    touch "$DIR/npm.done"
fi

BUNDLE="$DIR/npm/node_modules/node-llama-cpp/llama/gitRelease.bundle"
if [ ! -f "$DIR/clone.done" ]; then
    [ -f "$BUNDLE" ] || { log "missing $BUNDLE"; exit 1; }
    log "git clone $BUNDLE"
    rm -rf "$DIR/llama.cpp"
    git -c advice.detachedHead=false clone -q "$BUNDLE" "$DIR/llama.cpp"
    touch "$DIR/clone.done"
fi

if [ "$1" != "--src-only" ] && [ ! -f "$DIR/build.done" ]; then
    log "cmake build of llama + llama-quantize with -j$JOBS (several minutes on 2 cores)"
    start=$(date +%s)
    cmake -S "$DIR/llama.cpp" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DBUILD_SHARED_LIBS=ON >"$DIR/cmake.log" 2>&1 || { log "cmake failed, see $DIR/cmake.log"; exit 1; }
    cmake --build "$DIR/build" --target llama llama-quantize -j"$JOBS" >>"$DIR/cmake.log" 2>&1 ||
        { log "build failed, see $DIR/cmake.log"; exit 1; }
    echo "$(( $(date +%s) - start ))" >"$DIR/build.seconds"
    log "built in $(cat "$DIR/build.seconds") s"
    touch "$DIR/build.done"
fi

echo "ORACLE_SRC=$DIR/llama.cpp"
echo "ORACLE_BIN=$DIR/build/bin"
echo "PYTHONPATH=$DIR/llama.cpp/gguf-py"
