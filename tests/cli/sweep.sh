#!/bin/sh
# `moelens sweep`: a 2-arm × 2-seed grid of tiny runs, then resume behaviour: a second call skips
# finished runs; a run cut short (checkpoint, no model) continues with --resume; bad grids fail clearly.
set -e
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. tests/cli/lib/corpus.sh
fixture_corpus "$T/text" 300 en,code >/dev/null
cat > "$T/grid.json" <<JSON
{"preset": "tiny", "data": "$T/text",
 "set": {"d_model": 32, "n_layer": 1, "n_head": 2, "seq_len": 32, "batch": 4, "expert_hidden": 32,
         "n_experts": 4, "steps": 6, "warmup": 1, "eval_every": 3, "eval_batches": 1, "log_every": 2,
         "ckpt_every": 3},
 "axes": {"router": ["learned", "hash"]}, "seeds": [1, 2]}
JSON
./moelens sweep --grid "$T/grid.json" --out "$T/sw" 2> "$T/log1" || { cat "$T/log1"; exit 1; }
for r in router-learned-seed1 router-learned-seed2 router-hash-seed1 router-hash-seed2; do
    test -s "$T/sw/$r/model.safetensors" || { echo "missing $r"; exit 1; }
done
/usr/bin/python3 -c "import json,sys; c=json.load(open(sys.argv[1])); assert c['router']=='hash' and int(c['seed'])==2, c" \
    "$T/sw/router-hash-seed2/config.json"
test -s "$T/sw/report.html"
grep -q "Runs of the sweep" "$T/sw/report.html"
grep -q "router-hash-seed1" "$T/sw/report.html"
if ./moelens compare --help > /dev/null 2>&1; then
    test -s "$T/sw/compare.json"
    grep -q "Design arms and equivalence" "$T/sw/report.html"
fi
# second call: everything finished, nothing trained
./moelens sweep --grid "$T/grid.json" --out "$T/sw" 2> "$T/log2"
grep -q "4 runs: 0 trained, 4 already finished" "$T/log2"
# a run cut short: drop its model and final metrics → resumed from the step-3 checkpoint
R="$T/sw/router-learned-seed2"
rm "$R/model.safetensors"
./moelens train lm --out "$T/cut" --data "$T/text" --set d_model=32 --set steps=6 --set ckpt_every=3 --set n_layer=1 \
    --set n_head=2 --set seq_len=32 --set batch=4 --set expert_hidden=32 --set n_experts=4 --set eval_batches=1 \
    --set log_every=2 --set eval_every=3 --set warmup=1 --set seed=2 --stop-after 3 2> /dev/null || true
cp "$T/cut/checkpoint.safetensors" "$T/cut/metrics.jsonl" "$R/"
./moelens sweep --grid "$T/grid.json" --out "$T/sw" 2> "$T/log3"
grep -q "resuming .*router-learned-seed2" "$T/log3"
grep -q "4 runs: 1 trained, 3 already finished" "$T/log3"
test -s "$R/model.safetensors"
# errors
echo '{"axes": {"router": "learned"}}' > "$T/bad.json"
if ./moelens sweep --grid "$T/bad.json" --out "$T/x" 2> "$T/err"; then exit 1; fi
grep -q "axes.router: expected a list" "$T/err"
if ./moelens sweep --out "$T/x" 2> "$T/err"; then exit 1; fi
grep -q "\-\-grid FILE.json is required" "$T/err"
echo ok
