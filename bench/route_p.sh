#!/bin/sh
# Top-p routing (--route-p P) against a smaller fixed k (--top-k k') on one trained MoE LM: the
# experts run per token (mean_k), the perplexity, and the wall and CPU (user + system) seconds of
# the whole `moelens eval` process (load, tokenization, scoring), in one markdown table. The
# model: the tiny preset with 8 experts, top-4, renormalised weights, trained for STEPS steps
# (default 400) on the committed fixture corpus (tests/fixtures/text, 7 domains). The text: the
# first BYTES (default 60000) of the fixture files concatenated, scored as `eval --text` scores
# it (chunks of seq_len back to back). Each setting runs REPS times (default 3), k' first, then P;
# the table gives the fastest run. Threads: OMP_NUM_THREADS (default 2).
# Usage: sh bench/route_p.sh [OUT_DIR]   (the model is kept in OUT_DIR, default .cache/route-p-bench)
set -eu
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
STEPS=${STEPS:-400}
REPS=${REPS:-3}
BYTES=${BYTES:-60000}
D=${1:-.cache/route-p-bench}
mkdir -p "$D"
make -s build/moelens
cp build/moelens "$D/moelens" # a copy: rebuilding the tree while this runs changes nothing here
M="$D/moelens"
. tests/cli/lib/corpus.sh
if [ ! -f "$D/R/model.safetensors" ]; then
    echo "route-p bench: training the model ($STEPS steps)" >&2
    fixture_corpus "$D/text" >/dev/null 2>&1
    "$M" train lm --out "$D/R" --data "$D/text" --preset tiny --set n_experts=8 --set top_k=4 \
        --set renorm=1 --set steps="$STEPS" --set eval_every=0 >"$D/train.log" 2>&1
fi
cat tests/fixtures/text/*.txt | head -c "$BYTES" >"$D/all.txt"
# one setting: "label options..." → "label mean_k ppl wall_s cpu_s" (the fastest of REPS runs; cpu =
# user + system seconds of the process, less sensitive than wall time to other load on the machine)
measure() {
    label=$1
    shift
    for r in $(seq "$REPS"); do
        /usr/bin/time -f "%e %U %S" -o "$D/time" "$M" eval "$D/R" --text "$D/all.txt" --json "$@" \
            >"$D/out" 2>/dev/null
        cat "$D/time"
    done >"$D/times"
    /usr/bin/python3 - "$D/out" "$label" "$D/times" <<'PY'
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
mk = j.get("intervention", {}).get("mean_k", 4.0)
t = [[float(x) for x in l.split()] for l in open(sys.argv[3]) if l.strip()]
wall, cpu = min(r[0] for r in t), min(r[1] + r[2] for r in t)
print(f"{sys.argv[2]}\t{mk:.3f}\t{j['ppl']:.3f}\t{wall:.2f}\t{cpu:.2f}")
PY
}
{
    for k in 4 3 2 1; do measure "k'=$k" --top-k "$k"; done
    for p in 0.95 0.9 0.8 0.7 0.6 0.5; do measure "p=$p" --route-p "$p"; done
} >"$D/rows.tsv"
/usr/bin/python3 - "$D/rows.tsv" "$OMP_NUM_THREADS" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
w0, c0 = float(rows[0][3]), float(rows[0][4])
print(f"| routing | experts run per token (mean_k) | perplexity | wall s (OMP_NUM_THREADS={sys.argv[2]}) | CPU s | CPU vs k'=4 |")
print("| --- | --- | --- | --- | --- | --- |")
for lab, mk, ppl, w, c in rows:
    print(f"| {lab} | {mk} | {ppl} | {w} | {c} | {c0 / float(c):.2f}x |")
PY
