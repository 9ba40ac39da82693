#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz/ (one per file reader) with clang under ASan/UBSan and
# runs each for SECONDS. Usage: sh scripts/fuzz.sh [SECONDS] [TARGET ...]   (default 60 s, all
# targets; `make fuzz` runs 300 s each). Targets: see TARGETS below (tests/fuzz/fuzz_NAME.c).
# Needs clang and its fuzzer runtime (Debian libclang-rt-14-dev); exits 77 when they are missing.
# Seeds: tests/fuzz/corpus/NAME/ (committed, small); new finds go to build/fuzz/corpus/NAME/;
# a crash leaves build/fuzz/crash-NAME-* and a non-zero exit. Per-target logs: build/fuzz/NAME.log.
set -e
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-"gguf safetensors npy tokenizer bpe shard images png gguf_vocab config sweep"}
CLANG=${CLANG:-clang}
OUT=build/fuzz
mkdir -p "$OUT/obj"
if ! command -v "$CLANG" >/dev/null 2>&1 ||
    ! echo 'int LLVMFuzzerTestOneInput(const char*d,unsigned long n){return 0;}' |
        "$CLANG" -fsanitize=fuzzer -x c - -o "$OUT/probe" 2>/dev/null; then
    echo "fuzz: clang with libFuzzer not available (install clang and libclang-rt-14-dev)" >&2
    exit 77
fi
rm -f "$OUT/probe"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-g -O1 -std=gnu11 -Isrc -Itests/fuzz -fopenmp=libgomp -Wno-unknown-pragmas $SAN"
BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp
LIBS="-L$BLAS -Wl,-rpath,$BLAS -lopenblas -lcjson -lpng -lz -lm -lgomp"

# The readers' part of the library, instrumented once; rebuilt when a source is newer.
LIB="$OUT/libmoelens_fuzz.a"
LIB_SRC="$(find src/core src/data src/gguf -name '*.c' | sort) src/model/lm_config.c
src/model/vision_config.c src/nn/moe_params.c src/nn/moe_kinds.c src/nn/moe_routers.c src/nn/linear.c
src/nn/param.c src/dist/dist_serial.c"
if [ ! -f "$LIB" ] || [ -n "$(find src -name '*.[ch]' -newer "$LIB" | head -n 1)" ]; then
    # a changed header rebuilds everything, a changed .c only its object
    all=$([ -f "$LIB" ] && [ -n "$(find src -name '*.h' -newer "$LIB" | head -n 1)" ] && echo 1 || true)
    for f in $LIB_SRC; do
        o="$OUT/obj/$(echo "$f" | tr / _).o"
        if [ -n "$all" ] || [ ! -f "$o" ] || [ "$f" -nt "$o" ]; then echo "$f $o"; fi
    done | xargs -r -P "${FUZZ_JOBS:-2}" -n 2 sh -c \
        "$CLANG $CFLAGS -fsanitize=fuzzer-no-link -c \"\$0\" -o \"\$1\""
    rm -f "$LIB"
    ar rcs "$LIB" $(for f in $LIB_SRC; do echo "$OUT/obj/$(echo "$f" | tr / _).o"; done)
fi

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
rc_all=0
for t in $TARGETS; do
    bin="$OUT/fuzz_$t"
    if [ ! -x "$bin" ] || [ "$LIB" -nt "$bin" ] || [ -n "$(find tests/fuzz src/cli -newer "$bin" | head -n 1)" ]; then
        "$CLANG" $CFLAGS -fsanitize=fuzzer "tests/fuzz/fuzz_$t.c" "$LIB" $LIBS -o "$bin"
    fi
    mkdir -p "$OUT/corpus/$t" "tests/fuzz/corpus/$t"
    set +e
    "$bin" -max_total_time="$SECONDS_TO_RUN" -max_len=8192 -rss_limit_mb=2048 -timeout=20 \
        -print_final_stats=1 -artifact_prefix="$OUT/crash-$t-" "$OUT/corpus/$t" \
        "tests/fuzz/corpus/$t" >"$OUT/$t.log" 2>&1
    rc=$?
    set -e
    runs=$(grep -E '^stat::number_of_executed_units' "$OUT/$t.log" | awk '{print $2}')
    if [ $rc -eq 0 ]; then
        echo "fuzz $t: ok, ${runs:-?} executions in ${SECONDS_TO_RUN} s"
    else
        echo "fuzz $t: FAILED (rc $rc); see $OUT/$t.log"
        grep -E "ERROR|SUMMARY|runtime error|#[0-9]+ 0x" "$OUT/$t.log" | head -n 20
        rc_all=1
    fi
done
exit $rc_all
