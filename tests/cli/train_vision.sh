#!/bin/sh
# `moelens train vision`: help, bad input, Ctrl-C saves and exits cleanly, and --resume continues
# bit-identically to an unbroken run (same seed, same threads).
set -e
D=/usr/share/datasets/fashion-mnist
[ -d "$D" ] || { echo "skipped: no $D"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
./moelens train vision --help | grep -q -- '--resume'
# bad input: one clear line, non-zero exit, nothing written
if ./moelens train vision --out "$T/bad" --data "$D" --set nope=1 2>"$T/err"; then exit 1; fi
grep -q "unknown key 'nope'" "$T/err"
[ ! -e "$T/bad/model.safetensors" ]
if ./moelens train vision --out "$T/bad" --data "$T/missing" 2>"$T/err"; then exit 1; fi
[ "$(wc -l <"$T/err")" -eq 1 ]
# the Shazeer load loss needs its noise sd; expert choice fills every expert, nothing to balance;
# cross-style pairs need concepts and the style information loss styles (Fashion-MNIST has
# neither); the gate's own blocks feed the relu part of its input
for bad in "aux_load=1:expected router_noise > 0" \
    "route_choice=expert --set router_noise=1 --set aux_load=1:expected route_choice=token" \
    "aug_pair_style=0.5:names no concepts" "gate_style_mi=1:names no styles" \
    "gate_blocks=2 --set gate_source=conv:expected gate_source relu or both"; do
    # shellcheck disable=SC2086
    if ./moelens train vision --out "$T/bad" --data "$D" --set ${bad%%:*} 2>"$T/err"; then exit 1; fi
    grep -qF "${bad#*:}" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]
done
ARGS="--data $D --max-images 400 --set batch=16 --set steps=60 --set eval_every=0 --set probe_images=200 --set noise_std=0.5 --quiet"
./moelens train vision --out "$T/a" $ARGS
# interrupted run: SIGINT once some steps are done, then resume
./moelens train vision --out "$T/b" $ARGS --ckpt-every 7 &
pid=$!
steps_done() { n=$(grep -c '"loss"' "$T/b/metrics.jsonl" 2>/dev/null || true); echo "${n:-0}"; }
while [ "$(steps_done)" -lt 12 ]; do
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
done
kill -INT $pid 2>/dev/null || true
status=0
wait $pid || status=$?
[ "$status" -eq 130 ] || [ "$status" -eq 0 ] # 0 when it finished before the signal landed
./moelens train vision --out "$T/b" --resume --quiet --data $D --max-images 400
cmp "$T/a/model.safetensors" "$T/b/model.safetensors"
[ "$(grep -c '"loss"' "$T/b/metrics.jsonl")" -eq 60 ]
grep -q '"gate_usage"' "$T/b/eval.json"
# another run's config.json as --config (old key names too), --set after it: the same model at
# step 0, whose evaluation is that run's first line; the probes within each split are accuracies
./moelens train vision --out "$T/c" --data $D --max-images 400 --config "$T/a/config.json" \
    --set steps=0 --quiet
python3 - "$T/a" "$T/c" <<'PY'
import json, sys
a, c = (json.load(open(f"{r}/config.json")) for r in sys.argv[1:])
assert c.pop("steps") == 0 and a.pop("steps") == 60 and a == c, (a, c)
first = json.loads(open(f"{sys.argv[1]}/metrics.jsonl").readline())
e = json.load(open(f"{sys.argv[2]}/eval.json"))
assert e["probe_acc"] == first["probe_acc"], (e["probe_acc"], first["probe_acc"])
assert all(0 <= e[k] <= 1 for k in ("probe_within_train", "probe_within_heldout")), e
PY
echo '{"model": "vision", "stem_chh": 8}' >"$T/typo.json"
if ./moelens train vision --out "$T/bad" --data "$D" --config "$T/typo.json" 2>"$T/err"; then exit 1; fi
grep -q "typo.json.*stem_chh" "$T/err"
[ ! -e "$T/bad/config.json" ]
echo ok
