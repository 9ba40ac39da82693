#!/bin/sh
# `moelens analyze RUN --pairs FILE`: routing sensitivity on a tiny model trained for a few steps.
set -e
export OMP_NUM_THREADS=1
. tests/cli/lib/corpus.sh
word_test_dir
/usr/bin/python3 - "$T" <<'PY'
import sys
pairs = ["# minimal pairs: a<TAB>b", "the cat sat on the mat\tthe dog sat on the mat",
         "the dog ran to the park\tthe cat ran to the park", "", "the sun was up\tthe sun was down",
         "the cat and the dog\tthe dog and the cat", "while the sun was up\twhile the moon was up",
         "same text\tsame text"]
open(f"{sys.argv[1]}/pairs.tsv", "w").write("\n".join(pairs) + "\n")
PY
./moelens analyze --help | grep -q -- "--pairs"
./moelens data text --only en --domain en=lines:$T/en.txt --vocab 300 --val-fraction 0.2 --out $T/text --quiet
./moelens train lm --out $T/run --data $T/text --preset tiny --set d_model=32 --set n_layer=2 --set n_head=2 \
    --set expert_hidden=32 --set seq_len=32 --set batch=4 --set steps=5 --set eval_every=0 --set n_experts=4 \
    --set top_k=2 > /dev/null 2>&1
./moelens analyze $T/run --only sensitivity --pairs $T/pairs.tsv --mask-top 3 --sens-ppl-tokens 512 --quiet
A=$T/run/analysis
for f in analyze.json sensitivity.json sensitivity_experts.csv sensitivity_pairs.npy sensitivity_probs.npy \
         sensitivity_pairs.csv; do
    test -s "$A/$f" || { echo "missing $f"; exit 1; }
done
test ! -f $A/routing.json
/usr/bin/python3 - "$A" <<'PY'
import csv, json, sys, numpy as np
a = sys.argv[1]
s = json.load(open(f"{a}/sensitivity.json"))
assert s["pairs"] == 6 and s["experts_per_layer"] == 4 and len(s["js"]) == 2, s
js = np.load(f"{a}/sensitivity_pairs.npy")
assert js.shape == (6, 2) and js.dtype == np.float64 and (js >= 0).all() and (js <= np.log(2)).all()
assert (js[5] == 0).all() and (js[:5] > 0).all()   # the identical pair moves nothing
for l, x in enumerate(s["js"]):
    assert abs(x["mean"] - js[:, l].mean()) < 1e-12
p = np.load(f"{a}/sensitivity_probs.npy")
assert p.shape == (6, 2, 2, 4) and np.allclose(p.sum(-1), 1)
rows = list(csv.DictReader(open(f"{a}/sensitivity_experts.csv")))
assert len(rows) == 8
S = [float(r["S"]) for r in rows]
assert all(abs(S[i]) >= abs(S[i + 1]) for i in range(7))     # ranked by |S|
d = (p[:, 0] - p[:, 1]).mean(0)                                # S from the saved probabilities
li = {x["layer"]: i for i, x in enumerate(s["js"])}
for r in rows:
    assert abs(d[li[int(r["layer"])], int(r["expert"])] - float(r["S"])) < 1e-9
    assert 0 <= float(r["p"]) <= 1 and float(r["p_bh"]) >= float(r["p"]) - 1e-15
m = s["masking"]
assert m["top"]["masked_experts"] == 3 and m["bottom"]["masked_experts"] == 3
assert m["top"]["masked_picks"] == 0 and m["bottom"]["masked_picks"] == 0
assert m["ppl_tokens"] > 0 and all(m[c]["ppl"] > 1 for c in ("unmasked", "top", "bottom"))
pr = list(csv.DictReader(open(f"{a}/sensitivity_pairs.csv")))
la = np.array([float(r["logp_a"]) for r in pr]); lb = np.array([float(r["logp_b"]) for r in pr])
assert abs(m["unmasked"]["preference_pct"] - 100 * (la > lb).mean()) < 1e-9
assert [int(r["line"]) for r in pr] == [2, 3, 5, 6, 7, 8]
assert {int(r["group"] == "top") for r in rows} == {0, 1}
PY
# --pairs next to the streamed analyses: all five run, the text set is the run's own
./moelens analyze $T/run --pairs $T/pairs.tsv --max-tokens 1024 --lens-tokens 16 --kprime-tokens 0 \
    --sens-ppl-tokens 0 --out $T/all --quiet
test -s $T/all/routing.json && test -s $T/all/sensitivity.json
/usr/bin/python3 -c "
import json; j = json.load(open('$T/all/analyze.json'))
assert j['analyses'] == ['routing', 'specialise', 'topk', 'lens', 'sensitivity'] and j['tokens'] > 0, j
m = json.load(open('$T/all/sensitivity.json'))['masking']
assert m['ppl_tokens'] == 0 and m['unmasked']['ppl'] is None, m"
# errors: one line naming file and line, exit 1
printf 'ok\tfine\nbroken line\n' > $T/bad.tsv
if ./moelens analyze $T/run --pairs $T/bad.tsv --only sensitivity --quiet 2> $T/err; then exit 1; fi
grep -q "bad.tsv:2: expected text_a<TAB>text_b" $T/err && test $(wc -l < $T/err) -eq 1
if ./moelens analyze $T/run --only sensitivity --quiet 2> $T/err; then exit 1; fi
grep -q "needs a pairs file" $T/err
echo ok
