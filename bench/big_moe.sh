#!/bin/sh
# Measurement (not a test, not in CI): moelens on random-weight files at real MoE shapes, against
# the file size and llama.cpp. For each FAMILY (bench/make_big_moe.py: olmoe = OLMoE-1B-7B,
# qwen3moe = Qwen3-30B-A3B, deepseek = DeepSeekMoE-16B; Q4_K_M-like, written already quantised),
# makes .cache/big/FAMILY.gguf if missing, then measures peak RSS (GNU time %M) and tokens/s of
#   moelens eval     the first EVAL_BYTES of tests/fixtures/text/en.txt, chunks of 512;
#   llama.cpp        the same text and chunks (tests/gguf/llama_ref.c: its batch forward, decode
#                    seconds as it reports them);
#   moelens analyze  AN_TOKENS tokens of en.txt in windows of AN_SEQ, for each --batch in BATCHES,
#                    the default battery (routing, specialise, topk, lens) with k' forwards off and
#                    --lens-tokens LENS (k' forwards reuse the same activations: memory is the same,
#                    time would be 2k+1 forwards);
# and prints a table with the load average at each row (the machine is shared: RSS is reliable,
# speeds are not). Usage: sh bench/big_moe.sh [FAMILY...]   (default: olmoe deepseek qwen3moe)
# env: EVAL_BYTES=1500 AN_TOKENS=1024 AN_SEQ=128 BATCHES="1 8" LENS=16 THREADS=2 KEEP=1 (0: delete
# each file after its rows) MOELENS=./moelens (another binary to compare, e.g. main's) LLAMA=1 (0:
# skip llama.cpp; norepack: LLAMA_REF_NO_REPACK=1, without its CPU_REPACK copy of the weights,
# ~0.6-1x the file in anonymous memory beside the mapped file, which does not fit 24 GiB at
# Qwen3-30B-A3B's size)
set -eu
EVAL_BYTES=${EVAL_BYTES:-1500} AN_TOKENS=${AN_TOKENS:-1024} AN_SEQ=${AN_SEQ:-128}
BATCHES=${BATCHES:-1 8} LENS=${LENS:-16} THREADS=${THREADS:-2} KEEP=${KEEP:-1}
MOELENS=${MOELENS:-./moelens} LLAMA=${LLAMA:-1}
LLAMA_REF_THREADS=$THREADS
. tests/cli/lib/oracle.sh
export OMP_NUM_THREADS="$THREADS" OMP_WAIT_POLICY=passive
C=.cache/big
mkdir -p "$C"
NICE="nice -n 10"
oracle_found || { echo "big_moe: no llama.cpp oracle at $O (sh scripts/oracle.sh --src-only)" >&2; exit 1; }
[ -x "$C/llama_ref" ] || oracle_tools "$C"
head -c "$EVAL_BYTES" tests/fixtures/text/en.txt >"$C/text.txt"
load() { cut -d' ' -f1 /proc/loadavg; }
row() { # FAMILY LABEL TOKENS SECONDS RSS_KIB SIZE
    awk -v m="$1" -v l="$2" -v n="$3" -v s="$4" -v r="$5" -v f="$6" -v a="$(load)" 'BEGIN {
        printf "%-9s %-34s %6d %8.1f %8.2f %8.0f %6.3f %5.1f\n", m, l, n, s, n / s, r / 1024,
            r * 1024 / f, a }' | tee -a "$C/table"
}
: >"$C/table"
for fam in ${*:-olmoe deepseek qwen3moe}; do
    M="$C/$fam.gguf"
    if [ ! -f "$M" ]; then
        /usr/bin/time -f "%e %M" -o "$C/make.time" $NICE /usr/bin/python3 bench/make_big_moe.py "$fam" "$M.part"
        mv "$M.part" "$M"
        echo "made $M: $(stat -c %s "$M") bytes in $(cut -d' ' -f1 "$C/make.time") s, peak RSS $(($(cut -d' ' -f2 "$C/make.time") / 1024)) MiB"
    fi
    size=$(stat -c %s "$M")
    echo "$fam: $M, $size bytes ($(awk -v f="$size" 'BEGIN { printf "%.2f", f / 2^30 }') GiB)"
    /usr/bin/time -f "%e %M" -o "$C/t" $NICE "$MOELENS" eval "$M" --text "$C/text.txt" --json >"$C/eval.json"
    n=$(sed -E 's/.*"text_tokens": ([0-9]+).*/\1/' "$C/eval.json")
    row "$fam" "moelens eval (whole command)" "$n" "$(cut -d' ' -f1 "$C/t")" "$(cut -d' ' -f2 "$C/t")" "$size"
    echo "$fam perplexity: moelens $(sed -E 's/.*"ppl": ([0-9.]+).*/\1/' "$C/eval.json")"
    if [ "$LLAMA" != 0 ]; then
        [ "$LLAMA" = norepack ] && export LLAMA_REF_NO_REPACK=1
        /usr/bin/time -f "%e %M" -o "$C/t" $NICE "$C/llama_ref" "$M" "$C/text.txt" 512 >"$C/ref.txt" 2>"$C/ref.err"
        dec=$(sed -E 's/.*decode ([0-9.]+) s.*/\1/' "$C/ref.err" | tail -n 1)
        row "$fam" "llama.cpp decode (llama_ref${LLAMA_REF_NO_REPACK:+, no repack})" "$n" "$dec" "$(cut -d' ' -f2 "$C/t")" "$size"
        echo "$fam perplexity: llama.cpp $(tail -n 1 "$C/ref.txt" | awk '{print $6}')"
    fi
    for b in $BATCHES; do
        out="$C/analysis-$fam-b$b"
        /usr/bin/time -f "%e %M" -o "$C/t" $NICE "$MOELENS" analyze "$M" --domain en=tests/fixtures/text/en.txt \
            --max-tokens "$AN_TOKENS" --seq "$AN_SEQ" --batch "$b" --kprime-tokens 0 --lens-tokens "$LENS" \
            --out "$out" --quiet
        set -- $(/usr/bin/python3 -c "import json; j = json.load(open('$out/analyze.json')); s = j['seconds']
print(j['tokens'], s['forward'], s['total'])")
        row "$fam" "analyze --batch $b (forward)" "$1" "$2" "$(cut -d' ' -f2 "$C/t")" "$size"
        row "$fam" "analyze --batch $b (whole command)" "$1" "$(cut -d' ' -f1 "$C/t")" "$(cut -d' ' -f2 "$C/t")" "$size"
    done
    [ "$KEEP" = 1 ] || rm -f "$M"
done
echo "$THREADS threads, $(nproc) cores; columns: family, command, tokens, seconds, tokens/s, peak RSS MiB, RSS/file, load (1 min)"
cat "$C/table"
