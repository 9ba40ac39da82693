#!/bin/sh
# Hostile values and files through the CLI (issue 21): each must fail with one clear line naming
# what was wrong, exit 1, and leave nothing half-written; a diverging run keeps its last good
# checkpoint; crash leftovers are cleaned; a virtual-memory limit does not hang start-up.
set -eu
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
F=tests/fixtures/text
. tests/cli/lib/corpus.sh
fixture_corpus "$T/text" 300 en,code >/dev/null
small="--data $T/text --set d_model=32 --set n_layer=1 --set n_head=2 --set seq_len=32 --set batch=4
       --set expert_hidden=32 --set n_experts=4 --set eval_batches=1"

# fails EXPECTED-TEXT CMD...: exit 1 (not a signal), the expected text in stderr
fails() {
    want=$1
    shift
    set +e
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    set -e
    [ $rc -eq 1 ] || { echo "expected exit 1, got $rc: $*"; cat "$T/err"; exit 1; }
    grep -q -- "$want" "$T/err" || { echo "expected '$want' in: $(cat "$T/err")"; exit 1; }
}

# 1. Config values refused before anything is written (no run folder).
fails "log_every" ./moelens train lm --out "$T/r1" $small --set log_every=0
fails "steps" ./moelens train lm --out "$T/r1" $small --set steps=-1
fails "lr.*not a finite" ./moelens train lm --out "$T/r1" $small --set lr=nan
fails "rope_base" ./moelens train lm --out "$T/r1" $small --set rope_base=1e39
fails "d_model" ./moelens train lm --out "$T/r1" $small --set d_model=4294967424
printf '{"n_layer": 2.7}' >"$T/c.json"
fails "n_layer" ./moelens train lm --out "$T/r1" $small --config "$T/c.json"
test ! -e "$T/r1" || { echo "a refused run left $T/r1"; exit 1; }
fails "'--stop-after' expects an integer, got 'abc'" ./moelens train lm --out "$T/r1" $small --stop-after abc

# 2. A folder where a file is expected says so.
fails "is a folder" ./moelens train lm --out "$T/r1" $small --config "$T"
fails "is a folder" ./moelens sweep --grid "$T" --dry-run
fails "is a folder" ./moelens tokenizer encode --tokenizer "$T" "$F/en.txt"

# 3. A diverging run stops before applying the bad step: the checkpoint on disk is finite and
#    loads; eval of a checkpoint with non-finite weights is an error, not "ppl nan".
#    Weights that are finite yet overflow in the forward pass make eval fail the same way.
fails "diverged at step 2: gradient norm is" ./moelens train lm --out "$T/div" $small --set lr=1e6 \
    --set warmup=0 --set ckpt_every=1 --set steps=12 --set log_every=1
./moelens eval "$T/div" >/dev/null 2>&1
fails "diverged at step 2: loss is" ./moelens train lm --out "$T/div2" $small --set lr=1e30 \
    --set warmup=0 --set ckpt_every=1 --set steps=12 --set log_every=1
fails "overflow" ./moelens eval "$T/div2" --json
./moelens train lm --out "$T/ok" $small --set steps=2 --set log_every=1 2>/dev/null
fails "is a folder" ./moelens eval "$T/ok" --text "$T"
/usr/bin/python3 - "$T/ok/model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
name = next(k for k in h if k != "__metadata__")
b[8 + n + h[name]["data_offsets"][0]:8 + n + h[name]["data_offsets"][0] + 4] = struct.pack("<f", float("nan"))
open(p, "wb").write(b)
PY
fails "non-finite" ./moelens eval "$T/ok"

# 4. A sweep checks every arm's config first, in --dry-run too, and trains none when one is bad.
cat >"$T/grid.json" <<JSON
{"preset": "tiny", "data": "$T/text", "set": {"d_model": 32, "n_layer": 1, "n_head": 2, "seq_len": 32,
 "batch": 4, "expert_hidden": 32, "n_experts": 4, "steps": 2}, "axes": {"top_k": [1, 99]}}
JSON
fails "top_k" ./moelens sweep --grid "$T/grid.json" --out "$T/sw" --dry-run
fails "top_k" ./moelens sweep --grid "$T/grid.json" --out "$T/sw"
test ! -e "$T/sw" || { echo "a refused sweep trained or created $T/sw"; exit 1; }

# 5. Leftovers of a killed process (dead pid) are removed when the run resumes.
./moelens train lm --out "$T/st" $small --set steps=4 --set ckpt_every=2 --stop-after 2 2>/dev/null || true
sh -c 'exit 0' &
dead=$!
wait $dead
echo junk >"$T/st/checkpoint.safetensors.tmp.$dead"
./moelens train lm --out "$T/st" --data "$T/text" --resume 2>/dev/null
test ! -e "$T/st/checkpoint.safetensors.tmp.$dead" || { echo "stale temp file kept"; exit 1; }

# 6. Under a virtual-memory limit start-up neither hangs nor retries forever.
set +e
(ulimit -v 300000 && OMP_NUM_THREADS=4 timeout 30 ./moelens --help) >/dev/null 2>"$T/err"
rc=$?
set -e
[ $rc -eq 0 ] || { echo "moelens --help under ulimit -v 300000: exit $rc"; cat "$T/err"; exit 1; }
echo "robust: ok"
