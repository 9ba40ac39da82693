#!/bin/sh
# `moelens demo --quick`: the whole main job on the committed text fixtures, a tiny config and a
# few dozen steps; every stage's output must be there and the report must hold its figures.
set -e
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
./moelens demo --help | grep -q -- "--quick"
./moelens demo --quick --out "$T/demo" 2> "$T/log"
grep -q "demo \[1/" "$T/log"
grep -q "demo: done in" "$T/log"
for f in text/train.tokens lm/model.safetensors lm/metrics.jsonl lm/eval.json lm/report.html; do
    test -s "$T/demo/$f" || { echo "missing $f"; cat "$T/log"; exit 1; }
done
/usr/bin/python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j" "$T/demo/lm/eval.json"
[ "$(grep -c '<svg' "$T/demo/lm/report.html")" -ge 6 ]
grep -q "Expert load over training" "$T/demo/lm/report.html"
if ./moelens demo --bogus 2> "$T/err"; then exit 1; fi
grep -q "unknown option '--bogus'" "$T/err"
echo ok
