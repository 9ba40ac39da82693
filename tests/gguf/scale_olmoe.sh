#!/bin/sh
# Measurement (not a test): moelens at OLMoE-1B-7B's shape. Makes, if missing, a random-weight
# olmoe GGUF of that shape under .cache/scale/ (tests/gguf/make_olmoe_shaped.py writes F16 tensor
# by tensor, llama.cpp's llama_model_quantize turns it into QTYPE, the F16 file is then deleted), then measures peak
# RSS (GNU time) and tokens/s of
#   moelens eval        on the first EVAL_BYTES of tests/fixtures/text/en.txt (chunks of 512);
#   llama.cpp           the same text and chunks (tests/gguf/llama_ref.c, decode time);
#   moelens analyze     on en.txt, AN_TOKENS tokens, --batch 1 (one 512-token window per forward),
#                       k' forwards off, --lens-tokens 256; then the same with --batch 2 (memory
#                       grows with the batch: ~4.6 GiB of activations and MoE scratch per
#                       512-token window at this shape, so --batch 4 would not fit in 24 GiB).
# and prints a table. Needs the oracle (tests/cli/lib/oracle.sh) and ./moelens.
# Usage: sh tests/gguf/scale_olmoe.sh   (env: LAYERS=16 QTYPE=Q4_K_M EVAL_BYTES=3000
#        AN_TOKENS=2048 THREADS=2 BATCHES="1 2" EVAL=1 (0: skip eval and llama.cpp);
#        each heavy step runs alone, under nice -n 10)
set -eu
LAYERS=${LAYERS:-16} QTYPE=${QTYPE:-Q4_K_M} EVAL_BYTES=${EVAL_BYTES:-3000}
AN_TOKENS=${AN_TOKENS:-2048} THREADS=${THREADS:-2} BATCHES=${BATCHES:-1 2} EVAL=${EVAL:-1}
LLAMA_REF_THREADS=$THREADS
. tests/cli/lib/oracle.sh
export OMP_NUM_THREADS="$THREADS"
C=.cache/scale
mkdir -p "$C"
M="$C/olmoe-shaped-${LAYERS}L-$QTYPE.gguf"
NICE="nice -n 10"
oracle_found || { echo "scale_olmoe: no llama.cpp oracle at $O (sh scripts/oracle.sh --src-only)" >&2; exit 1; }
oracle_tools "$C"
if [ ! -f "$M" ]; then
    F="$C/olmoe-shaped-${LAYERS}L-F16.gguf"
    if [ ! -f "$F" ]; then
        /usr/bin/time -f "%e %M" -o "$C/make.time" $NICE /usr/bin/python3 tests/gguf/make_olmoe_shaped.py \
            "$F.part" --layers "$LAYERS"
        mv "$F.part" "$F"
    fi
    [ -f "$C/make.time" ] && echo "made $F: $(stat -c %s "$F") bytes in $(cut -d' ' -f1 "$C/make.time") s, peak RSS $(($(cut -d' ' -f2 "$C/make.time") / 1024)) MiB"
    /usr/bin/time -f "%e %M" -o "$C/quant.time" $NICE "$C/llama_quant" "$F" "$M.part" "$QTYPE" "$THREADS" \
        >"$C/quant.log" 2>&1 || { tail "$C/quant.log"; exit 1; }
    mv "$M.part" "$M"
    echo "quantised to $QTYPE: $(stat -c %s "$M") bytes in $(cut -d' ' -f1 "$C/quant.time") s, peak RSS $(($(cut -d' ' -f2 "$C/quant.time") / 1024)) MiB"
    rm -f "$F"
fi
size=$(stat -c %s "$M")
head -c "$EVAL_BYTES" tests/fixtures/text/en.txt >"$C/text.txt"
row() { # LABEL TOKENS SECONDS RSS_KIB
    awk -v l="$1" -v n="$2" -v s="$3" -v r="$4" -v f="$size" 'BEGIN {
        printf "%-44s %7d %8.1f %9.2f %9.0f %6.2f\n", l, n, s, n / s, r / 1024, r * 1024 / f }' >>"$C/table"
}
: >"$C/table"
if [ "$EVAL" = 1 ]; then
    # moelens eval: tokens/s over the whole command (load, tokenize, forward)
    /usr/bin/time -f "%e %M" -o "$C/t" $NICE ./moelens eval "$M" --text "$C/text.txt" --json >"$C/eval.json"
    n=$(sed -E 's/.*"text_tokens": ([0-9]+).*/\1/' "$C/eval.json")
    row "moelens eval (whole command)" "$n" "$(cut -d' ' -f1 "$C/t")" "$(cut -d' ' -f2 "$C/t")"
    # llama.cpp: decode seconds as llama_ref reports them; RSS of the whole process
    /usr/bin/time -f "%e %M" -o "$C/t" $NICE "$C/llama_ref" "$M" "$C/text.txt" 512 >"$C/ref.txt" 2>"$C/ref.err"
    dec=$(sed -E 's/.*decode ([0-9.]+) s.*/\1/' "$C/ref.err")
    row "llama.cpp decode (llama_ref, 512-chunks)" "$n" "$dec" "$(cut -d' ' -f2 "$C/t")"
    echo "perplexity: moelens $(sed -E 's/.*"ppl": ([0-9.]+).*/\1/' "$C/eval.json"), llama.cpp $(tail -n 1 "$C/ref.txt" | awk '{print $6}')"
fi
for b in $BATCHES; do
    out="$C/analysis-b$b"
    /usr/bin/time -f "%e %M" -o "$C/t" $NICE ./moelens analyze "$M" --domain en=tests/fixtures/text/en.txt \
        --max-tokens "$AN_TOKENS" --batch $b --kprime-tokens 0 --lens-tokens 256 --out "$out" --quiet
    secs=$(/usr/bin/python3 -c "import json; j = json.load(open('$out/analyze.json')); s = j['seconds']
print(j['tokens'], s['total'], s['forward'], s['lens'], s['accumulate'])")
    set -- $secs
    row "moelens analyze --batch $b (streamed part)" "$1" "$2" "$(cut -d' ' -f2 "$C/t")"
    row "moelens analyze --batch $b (whole command)" "$1" "$(cut -d' ' -f1 "$C/t")" "$(cut -d' ' -f2 "$C/t")"
    echo "analyze --batch $b seconds: forward $3, lens $4, accumulate $5 (of $2)"
done
echo "model $M: $size bytes ($(awk -v f="$size" 'BEGIN { printf "%.0f", f / 1048576 }') MiB), $THREADS threads, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-44s %7s %8s %9s %9s %6s\n" "command" "tokens" "seconds" "tokens/s" "RSS MiB" "RSS/file"
cat "$C/table"
