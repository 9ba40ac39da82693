#!/bin/sh
# Benchmark (not a test): batch forward (prompt processing) tokens/s of `moelens eval` against
# llama.cpp (tests/gguf/llama_ref.c, decode time only) on a synthetic OLMoE-shaped GGUF model
# (d 1024, 4 layers, 32 experts × 512, top-4, 16 heads; context 512) in F32, Q8_0 and Q4_K_M,
# on the same text, with peak RSS (GNU time) against the file size.
# Usage: sh tests/gguf/bench_eval.sh [THREADS]   (needs the built oracle, as gguf_eval.sh)
set -eu
O=${MOELENS_ORACLE_DIR:-.cache/oracle}
LIB="$O/build/bin"
TH=${1:-2}
export PYTHONPATH="$O/llama.cpp/gguf-py" OMP_NUM_THREADS="$TH"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cc -O2 -o "$T/llama_ref" tests/gguf/llama_ref.c -I"$O/llama.cpp/include" -I"$O/llama.cpp/ggml/include" \
    -L"$LIB" -lllama -lm -Wl,-rpath,"$(cd "$LIB" && pwd)"
/usr/bin/python3 -c "
import sys; sys.path.insert(0, 'tests/gguf'); import make_tiny_models as m
m.make('olmoe', '$T/bench.gguf', d=1024, std=0.02, n_layer=4, n_exp=32, top_k=4, ff_exp=512, n_ctx=512)"
head -c 6000 tests/fixtures/text/en.txt >"$T/text.txt"
for q in F32 Q8_0 Q4_K_M; do
    m="$T/bench-$q.gguf"
    if [ $q = F32 ]; then cp "$T/bench.gguf" "$m"; else "$LIB/llama-quantize" "$T/bench.gguf" "$m" $q "$TH" >/dev/null 2>&1; fi
    size=$(stat -c %s "$m")
    s=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$T/rss" ./moelens eval "$m" --text "$T/text.txt" --json >"$T/mine"
    e=$(date +%s.%N)
    n=$(sed -E 's/.*"text_tokens": ([0-9]+).*/\1/' "$T/mine")
    "$T/llama_ref" "$m" "$T/text.txt" 512 2>"$T/ref.err" >/dev/null
    awk -v q=$q -v n="$n" -v s="$s" -v e="$e" -v rss="$(cat "$T/rss")" -v size="$size" -v ref="$(cat "$T/ref.err")" 'BEGIN {
        split(ref, r, "[(]"); split(r[2], t, " ");
        printf "%-7s moelens %7.1f tokens/s (whole command)  llama.cpp %7.1f tokens/s (decode)  RSS %.0f MiB, file %.0f MiB\n",
               q, n / (e - s), t[1], rss / 1024, size / 1048576 }'
done
