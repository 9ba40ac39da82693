#!/bin/sh
# `moelens analyze` keeps one layer's activations, whatever --batch: the analyses reduce each MoE
# layer's rows as the forward goes (docs/analysis.md, "Memory"). On this small model (8 layers,
# d 256, 8 experts, top-4) the peak RSS (GNU time) of --batch 8 must stay within 16 MiB of
# --batch 1: measured 87 and 87 MiB; before (per-layer captures for the whole batch, the trace
# allocated for --trace-tokens) 341 and 409 MiB. Memory, not time: no flakiness from the load.
# Also: the streamed routing trace picks the same experts at both batch sizes.
set -e
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
./moelens data text --only en,fr --domain en=tests/fixtures/text/en.txt \
    --domain fr=tests/fixtures/text/fr.txt --vocab 300 --val-fraction 0.3 --out $T/text --quiet
./moelens train lm --out $T/run --data $T/text --preset tiny --set d_model=256 --set n_layer=8 \
    --set n_head=4 --set expert_hidden=256 --set n_experts=8 --set top_k=4 --set seq_len=64 \
    --set batch=2 --set steps=1 --set eval_every=0 --set eval_batches=1 >/dev/null 2>&1
for b in 1 8; do
    /usr/bin/time -f %M -o $T/rss$b ./moelens analyze $T/run --max-tokens 2048 --batch $b \
        --lens-tokens 8 --kprime-tokens 128 --out $T/a$b --quiet
done
r1=$(cat $T/rss1) r8=$(cat $T/rss8)
echo "analyze peak RSS: --batch 1 $r1 KiB, --batch 8 $r8 KiB"
[ $((r8 - r1)) -lt 16384 ] || { echo "analyze memory grew with --batch: $r1 -> $r8 KiB"; exit 1; }
/usr/bin/python3 - "$T" <<'PY'
import sys, numpy as np
t = sys.argv[1]
a, b = (np.load(f"{t}/a{n}/trace_ids.npy") for n in (1, 8))
assert a.shape == b.shape and a.shape[1:] == (8, 4) and a.shape[0] > 512, (a.shape, b.shape)
assert (a == b).all(), "the trace differs between --batch 1 and --batch 8"
PY
echo ok
