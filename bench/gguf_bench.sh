#!/bin/sh
# GGUF batch forward (prompt processing): moelens eval vs llama.cpp (tests/gguf/llama_ref.c) on a
# synthetic OLMoE-shaped model (OLMoE-1B-7B's 16 layers, 16 heads and 50304-token vocabulary at
# half its width and experts: d 1024, 32 experts x 512, top-4, context 512) in F32, Q8_0 and
# Q4_K_M, on the same 3000-byte text (2594 tokens: 5 chunks of 512 and one of 34), same thread
# count (OMP_NUM_THREADS, default 2), order A B A B. Prints one JSON line per run: tokens/s
# (moelens: the whole command, load and tokenization included; llama.cpp: llama_decode time only),
# peak RSS (GNU time) and file size. The models are built once under .cache/gguf-bench/.
# GGUF_BENCH_QUANTS picks the types (default "F32 Q8_0 Q4_K_M"); MOELENS_QDOT=off runs moelens'
# dequantising path instead of its integer kernels (src/nn/qdot.h), for A/B comparisons.
# Needs the llama.cpp oracle (tests/cli/lib/oracle.sh: a cmake build from scripts/oracle.sh when
# there is one, else the npm package's prebuilt CPU libraries; MOELENS_ORACLE_DIR overrides .cache/oracle).
# OpenBLAS (moelens' sgemm) picks its kernels for the CPU unless OPENBLAS_CORETYPE names some: as
# bench/run.sh, the bench unsets a variable inherited from the environment (this machine's sets
# Haswell, AVX2) and takes BENCH_CORETYPE instead (e.g. BENCH_CORETYPE=Haswell); the header line
# names the kernels that ran. llama.cpp does not use OpenBLAS.
set -eu
cd "$(dirname "$0")/.."
if [ -n "${BENCH_CORETYPE:-}" ]; then export OPENBLAS_CORETYPE="$BENCH_CORETYPE"; else unset OPENBLAS_CORETYPE; fi
BLAS_CORE=$(/usr/bin/python3 -c "
import ctypes; b = ctypes.CDLL('/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0')
b.openblas_get_corename.restype = ctypes.c_char_p; print(b.openblas_get_corename().decode())" 2>/dev/null || echo unknown)
echo "gguf bench: OpenBLAS kernels $BLAS_CORE" >&2
TH=${OMP_NUM_THREADS:-2}
LLAMA_REF_THREADS=$TH
. tests/cli/lib/oracle.sh
if ! oracle_found; then
    echo "gguf bench: skipped (no llama.cpp oracle at $O: sh scripts/oracle.sh --src-only)" >&2
    exit 0
fi
D=.cache/gguf-bench
SHAPE="olmoe d=1024 n_layer=16 n_head=16 n_vocab=50304 n_exp=32 top_k=4 ff_exp=512 n_ctx=512"
mkdir -p "$D"
oracle_tools "$D"
echo "gguf bench: llama.cpp from $ORACLE_LIB" >&2
if [ "$(cat "$D/done" 2>/dev/null)" != "$SHAPE" ]; then
    echo "gguf bench: building the models ($SHAPE; about 2 minutes, 5.5 GB)" >&2
    /usr/bin/python3 -c "
import sys; sys.path.insert(0, 'tests/gguf'); import make_tiny_models as m
m.make('olmoe', '$D/bench-F32.gguf', d=1024, std=0.02, n_layer=16, n_head=16, n_vocab=50304,
       n_exp=32, top_k=4, ff_exp=512, n_ctx=512)"
    for q in Q8_0 Q4_K_M; do "$D/llama_quant" "$D/bench-F32.gguf" "$D/bench-$q.gguf" $q 2 >/dev/null 2>&1; done
    head -c 3000 tests/fixtures/text/en.txt >"$D/text.txt"
    echo "$SHAPE" >"$D/done"
fi
export OMP_NUM_THREADS="$TH"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for q in ${GGUF_BENCH_QUANTS:-F32 Q8_0 Q4_K_M}; do
    m="$D/bench-$q.gguf"
    mib=$(stat -c %s "$m" | awk '{printf "%.1f", $1 / 1048576}')
    for round in 1 2; do
        s=$(date +%s.%N)
        /usr/bin/time -f "%M" -o "$T/rss" ./moelens eval "$m" --text "$D/text.txt" --json >"$T/mine"
        e=$(date +%s.%N)
        n=$(sed -E 's/.*"text_tokens": ([0-9]+).*/\1/' "$T/mine")
        awk -v q=$q -v n="$n" -v s="$s" -v e="$e" -v rss="$(cat "$T/rss")" -v f="$mib" 'BEGIN {
            printf "{\"what\": \"gguf\", \"quant\": \"%s\", \"side\": \"moelens\", \"tok_s\": %.1f, \"rss_mib\": %.1f, \"file_mib\": %s}\n",
                   q, n / (e - s), rss / 1024, f }'
        /usr/bin/time -f "%M" -o "$T/rss" "$D/llama_ref" "$m" "$D/text.txt" 512 2>"$T/ref.err" >/dev/null
        awk -v q=$q -v rss="$(cat "$T/rss")" -v f="$mib" -v ref="$(grep 'tokens/s' "$T/ref.err")" 'BEGIN {
            split(ref, r, "[(]"); split(r[2], t, " ");
            printf "{\"what\": \"gguf\", \"quant\": \"%s\", \"side\": \"llama.cpp\", \"tok_s\": %.1f, \"rss_mib\": %.1f, \"file_mib\": %s}\n",
                   q, t[1], rss / 1024, f }'
    done
done
