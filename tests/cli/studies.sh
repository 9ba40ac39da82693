#!/bin/sh
# The committed study grids (studies/*.json) run end to end at a minutes-sized budget (one block of
# width 32, 4 steps) on the seven fixture domains, so a grid cannot rot: every arm trains, compare
# judges every claim, the report shows the findings view. Then `analyze` on one trained model writes
# the document-level bootstrap intervals.
set -e
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1
F=tests/fixtures/text
DOMS=""
for d in en fr en_tech code math de legal; do DOMS="$DOMS --domain $d=fortune:$F/$d.txt"; done
./moelens data text --quiet $DOMS --vocab 300 --val-fraction 0.2 --out "$T/text" > /dev/null
for g in studies/*.json; do
    name=$(basename "$g" .json)
    /usr/bin/python3 scripts/study_scale.py "$g" "$T/$name.json" data="$T/text" out="$T/$name" \
        d_model=32 n_layer=1 n_head=2 seq_len=32 batch=4 expert_hidden=32 steps=4 warmup=1 \
        eval_every=0 eval_batches=2 ckpt_every=2 log_every=2
    ./moelens sweep --grid "$T/$name.json" 2> "$T/$name.log" || { cat "$T/$name.log"; exit 1; }
    /usr/bin/python3 - "$g" "$T/$name" <<'PY'
import json, sys
grid, out = json.load(open(sys.argv[1])), sys.argv[2]
c = json.load(open(f"{out}/compare.json"))
arms = {a["arm"]: a for a in c["arms"]}
assert set(arms) == set(grid["arms"]), (set(arms), set(grid["arms"]))
assert all(a["n"] == len(grid["seeds"]) for a in arms.values()), arms
assert c["margin_rel"] == grid["margin_rel"]
n = len(arms)
assert len(c["pairs"]) == n * (n - 1) // 2
assert all(q["paired_seeds"] == len(grid["seeds"]) for q in c["pairs"]), c["pairs"]
f = c["findings"]
assert len(f) == len(grid["claims"])
for row in f:
    assert row["verdict"] in ("reproduced", "not reproduced", "inconclusive"), row
    assert row["p_over"].startswith("seeds run by both") and len(row["ci95"]) == 2, row
html = open(f"{out}/report.html").read()
assert "Findings" in html and grid["claims"][0]["claim"] in html
PY
done
# the dense arms really have the widths that keep equal active / total parameters
/usr/bin/python3 - "$T/design_choices" <<'PY'
import json, sys
d = sys.argv[1]
a = json.load(open(f"{d}/dense_active-seed1/config.json"))
t = json.load(open(f"{d}/dense_total-seed1/config.json"))
m = json.load(open(f"{d}/learned_tok_k2-seed1/config.json"))
h = m["expert_hidden"]
assert a["moe_every"] == 0 and a["dense_hidden"] == m["top_k"] * h, a
assert t["moe_every"] == 0 and t["dense_hidden"] == m["n_experts"] * h, t
PY
echo ok
