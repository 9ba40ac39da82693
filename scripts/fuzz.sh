#!/bin/sh
# Builds the GGUF parser's libFuzzer target (tests/fuzz/fuzz_gguf.c) with clang under
# ASan/UBSan and runs it. Usage: sh scripts/fuzz.sh [SECONDS] (default 60; `make fuzz`).
# Needs clang and its fuzzer runtime (Debian libclang-rt-14-dev); exits 77 when they are missing.
# Seeds: tests/fuzz/corpus/*.gguf (committed, small); new finds go to build/fuzz/corpus/;
# a crash leaves build/fuzz/crash-* and a non-zero exit.
set -e
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
CLANG=${CLANG:-clang}
OUT=build/fuzz
mkdir -p "$OUT/corpus"
if ! command -v "$CLANG" >/dev/null 2>&1 ||
    ! echo 'int LLVMFuzzerTestOneInput(const char*d,unsigned long n){return 0;}' |
        "$CLANG" -fsanitize=fuzzer -x c - -o "$OUT/probe" 2>/dev/null; then
    echo "fuzz: clang with libFuzzer not available (install clang and libclang-rt-14-dev)" >&2
    exit 77
fi
rm -f "$OUT/probe"
SRC="tests/fuzz/fuzz_gguf.c src/gguf/gguf.c src/gguf/gguf_meta.c src/gguf/gguf_quant.c src/gguf/gguf_types.c
src/core/error.c src/core/mem.c"
# Rebuild only when a source changed.
if [ ! -x "$OUT/fuzz_gguf" ] || [ -n "$(find $SRC src/gguf/gguf.h -newer "$OUT/fuzz_gguf" 2>/dev/null)" ]; then
    "$CLANG" -g -O1 -std=gnu11 -Isrc -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -fno-omit-frame-pointer $SRC -o "$OUT/fuzz_gguf"
fi
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$OUT/fuzz_gguf" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -rss_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$OUT/" "$OUT/corpus" tests/fuzz/corpus
