#!/bin/sh
# analyze --only topk,prune on a tiny run (docs/analysis.md, "Pruning curve"): prune.json,
# prune_ppl.csv (full + freq/reap at each kept count, overall and per domain) and
# prune_saliency.csv are written, the held-out tokens are half the windows, and the report draws
# the section beside the k' curve.
set -eu
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
. tests/cli/lib/corpus.sh
corpus_test_dir
./moelens train lm --out "$T/run" --data "$T/text" --preset tiny --set d_model=32 --set n_layer=2 \
    --set n_head=2 --set n_experts=8 --set top_k=2 --set seq_len=64 --set batch=4 --set steps=6 \
    --set eval_every=0 >/dev/null 2>&1
./moelens analyze "$T/run" --domain en=tests/fixtures/text/en.txt --domain fr=tests/fixtures/text/fr.txt \
    --only topk,prune --max-tokens 4096 --prune-tokens 1024 --quiet >/dev/null
A="$T/run/analysis"
for f in prune.json prune_ppl.csv prune_saliency.csv topk.json; do [ -s "$A/$f" ] || { echo "FAIL: no $f"; exit 1; }; done
# E 8, k 2: kept 6, 4, 2; rows: (1 full + 2 criteria x 3) x (all, en, fr)
[ "$(tail -n +2 "$A/prune_ppl.csv" | wc -l)" -eq 21 ] || { echo "FAIL: prune_ppl.csv rows"; cat "$A/prune_ppl.csv"; exit 1; }
grep -q '^reap,2,8,fr,' "$A/prune_ppl.csv" || { echo "FAIL: no reap 2/8 fr row"; exit 1; }
[ "$(tail -n +2 "$A/prune_saliency.csv" | wc -l)" -eq 16 ] || { echo "FAIL: saliency rows"; exit 1; }
/usr/bin/python3 - "$A/prune.json" <<'PY'
import json, math, sys
j = json.load(open(sys.argv[1]))
assert j["kept"] == [6, 4, 2] and j["experts"] == 8 and j["top_k"] == 2, j
assert 0 < j["eval_tokens"] <= 1024 + 64 and j["calibration_tokens"] > 0, j
for c in ("freq", "reap"):
    assert len(j["ppl"][c]) == 3 and all(math.isfinite(v) and v > 1 for v in j["ppl"][c]), j
PY
./moelens report "$T/run" >/dev/null 2>&1
grep -q 'id="prune"' "$T/run/report.html" && grep -q "k&#39;, raw weights\|k', raw weights" "$T/run/report.html" ||
    { echo "FAIL: report has no prune section beside k'"; exit 1; }
if ./moelens analyze "$T/run" --only prunes 2>"$T/err"; then echo "FAIL: --only prunes accepted"; exit 1; fi
grep -q "sensitivity, prune)" "$T/err" || { echo "FAIL: $(cat "$T/err")"; exit 1; }
echo "analyze_prune: ok"
