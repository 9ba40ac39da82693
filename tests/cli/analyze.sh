#!/bin/sh
# `moelens analyze` and `moelens compare` on a tiny model trained for a few steps on generated text.
set -e
export OMP_NUM_THREADS=1
. tests/cli/lib/corpus.sh
word_test_dir
./moelens analyze --help | grep -q -- "--lens-tokens"
./moelens compare --help | grep -q -- "--margin"
./moelens data text --only en,fr --domain en=lines:$T/en.txt --domain fr=lines:$T/fr.txt --vocab 300 \
    --val-fraction 0.2 --out $T/text --quiet
SET="--preset tiny --set d_model=32 --set n_layer=2 --set n_head=2 --set expert_hidden=32 --set seq_len=32 \
     --set batch=4 --set steps=5 --set eval_every=0 --set n_experts=4"
for s in 1 2; do
    ./moelens train lm --out $T/learned_$s --data $T/text $SET --set seed=$s > /dev/null 2>&1
    ./moelens train lm --out $T/hash_$s --data $T/text $SET --set router=hash --set seed=$s > /dev/null 2>&1
done
./moelens analyze $T/learned_1 --max-tokens 2048 --lens-tokens 32 --quiet
A=$T/learned_1/analysis
for f in analyze.json routing.json routing_stats.csv routing_counts.npy trace_ids.npy specialise.json \
         lift_domain.npy topk.json topk_ppl.csv lens.json lens_tokens.csv lens_experts.csv; do
    test -s "$A/$f" || { echo "missing $f"; exit 1; }
done
/usr/bin/python3 - "$A" <<'PY'
import json, sys, numpy as np
a = sys.argv[1]
meta = json.load(open(f"{a}/analyze.json"))
n = meta["tokens"]
ids = np.load(f"{a}/trace_ids.npy"); w = np.load(f"{a}/trace_weights.npy")
assert ids.shape == (n, 2, 2) and w.shape == ids.shape and ids.dtype == np.int32, ids.shape
c = np.load(f"{a}/routing_counts.npy")
assert c.shape == (2, 2, 4, 2) and c.sum() == n * 2 * 2, (c.shape, c.sum())
t = json.load(open(f"{a}/topk.json"))["perplexity"]
assert t["raw"][-1] == t["full"], t    # k' = k with raw weights is the model itself
assert np.load(f"{a}/lift_domain.npy").shape == (2, 4, 2)
s = json.load(open(f"{a}/specialise.json"))["layers"]
assert len(s) == 2 and all(0 <= x["nmi_domain"] <= 1 for x in s)
# document bootstrap: the point value is the full-data NMI
bs = json.load(open(f"{a}/bootstrap.json"))
assert bs["unit"] == "document" and set(bs["units"]) <= {"en", "fr"}, bs["units"]
for x, y in zip(s, bs["layers"]):
    i = y["nmi_domain"]
    assert abs(i["value"] - x["nmi_domain"]) < 1e-9 and i["lo"] <= i["hi"], (x, y)
    assert y["n50"]["all"]["lo"] <= y["n50"]["all"]["hi"]
assert len(bs["ppl_increase_pct"]["raw"]) == 2 and abs(bs["ppl_increase_pct"]["raw"][1]["all"]["value"]) < 1e-9
PY
./moelens report $T/learned_1 > /dev/null 2>&1
grep -q "Intervals over documents" $T/learned_1/report.html
# --domain texts and --only
./moelens analyze $T/hash_1 --domain en=$T/en.txt --domain fr=$T/fr.txt --only routing --max-tokens 1024 \
    --out $T/only --quiet
test -f $T/only/routing.json && test ! -f $T/only/lens.json
./moelens compare $T/learned_1 $T/learned_2 $T/hash_1 $T/hash_2 --out $T/cmp.json | grep -q "TOST"
/usr/bin/python3 -c "import json,sys; j=json.load(open('$T/cmp.json')); assert len(j['arms'])==2 and len(j['pairs'])==1"
# paired by seed: the per-seed differences' mean is the difference of the means (same seeds)
./moelens compare $T/learned_1 $T/learned_2 $T/hash_1 $T/hash_2 --paired --margin-rel 0.02 --out $T/cmpp.json > /dev/null
/usr/bin/python3 - $T/cmp.json $T/cmpp.json <<'PY'
import json, sys
w, p = (json.load(open(f))["pairs"][0] for f in sys.argv[1:])
assert p["paired_seeds"] == 2 and abs(p["diff"] - w["diff"]) < 1e-9 and p["p_over"].startswith("seeds"), p
assert p["ci95"][0] <= p["diff"] <= p["ci95"][1]
PY
# errors: one line, exit 1
if ./moelens analyze $T/learned_1 --only nope 2> $T/err; then exit 1; fi
grep -q "unknown analysis 'nope'" $T/err
if ./moelens compare $T/nothing 2> $T/err; then exit 1; fi
grep -q "nothing" $T/err
echo ok
