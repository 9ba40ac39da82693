#!/bin/sh
# The LM trainer on real text: the tiny preset learns (val loss falls by a stated margin), runs are
# deterministic, an interrupted run resumes bit-identically, and bad input fails cleanly.
set -eu
. tests/cli/lib/corpus.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fixture_corpus "$T/text"
val_loss() { grep '"val_loss"' "$1/metrics.jsonl" | tail -n 1 | sed -E 's/.*"val_loss":([0-9.eE+-]+).*/\1/'; }

# 1. The tiny preset for 200 steps: the untrained model scores ln(512) = 6.24 nats; training must
#    bring validation loss below 4.74 (a fall of at least 1.5 nats; measured: 6.24 -> 4.02).
./moelens train lm --out "$T/tiny" --data "$T/text" --preset tiny --set steps=200 --set warmup=20 \
    --set eval_every=200 --set ckpt_every=0 2>/dev/null
./moelens train lm --out "$T/init" --data "$T/text" --preset tiny --set steps=0 2>/dev/null
before=$(val_loss "$T/init") after=$(val_loss "$T/tiny")
echo "val loss: untrained $before, after 200 steps $after"
awk -v b="$before" -v a="$after" 'BEGIN { exit !(b > 6.0 && a < b - 1.5) }'
./moelens eval "$T/tiny" --json | tail -n 1 | grep -q '"ppl"'
./moelens sample "$T/tiny" --prompt "The " --tokens 8 --seed 3 >/dev/null

# 2. Determinism: same seed and threads -> identical checkpoint bytes and losses.
small="--set d_model=64 --set n_layer=2 --set n_head=2 --set seq_len=32 --set batch=4 --set expert_hidden=64
       --set n_experts=4 --set steps=24 --set warmup=4 --set ckpt_every=8 --set eval_every=12 --set log_every=1
       --set routing=seq_causal --set router_noise=0.1"
./moelens train lm --out "$T/a" --data "$T/text" $small 2>/dev/null
./moelens train lm --out "$T/b" --data "$T/text" $small 2>/dev/null
cmp "$T/a/checkpoint.safetensors" "$T/b/checkpoint.safetensors"
losses() { sed -E 's/"tokens_per_s":[0-9.eE+-]+,//' "$1/metrics.jsonl"; }
[ "$(losses "$T/a")" = "$(losses "$T/b")" ]

# 3. Resume: stopped after 10 steps (mid-way between checkpoints), resumed -> the same bytes as the
#    uninterrupted run; the same from the last periodic checkpoint after a simulated kill.
set +e
./moelens train lm --out "$T/c" --data "$T/text" $small --stop-after 10 2>/dev/null
rc=$?
set -e
[ "$rc" = 130 ]
./moelens train lm --out "$T/c" --data "$T/text" --resume 2>/dev/null
cmp "$T/a/checkpoint.safetensors" "$T/c/checkpoint.safetensors"
[ "$(losses "$T/a")" = "$(losses "$T/c")" ]

# 3b. A real Ctrl-C: the step in flight finishes, a checkpoint is saved, exit status 130.
./moelens train lm --out "$T/int" --data "$T/text" $small --set steps=100000 2>"$T/int.err" &
pid=$!
i=0
while [ ! -s "$T/int/metrics.jsonl" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $pid
set +e
wait $pid
rc=$?
set -e
[ "$rc" = 130 ]
grep -q "checkpoint saved; continue with --resume" "$T/int.err"
./moelens train lm --out "$T/int" --data "$T/text" --resume --steps 100000 --stop-after 1 2>/dev/null || [ $? = 130 ]

# 4. Bad input: one clear error line, non-zero exit, nothing written. (`! cmd` would not do: set -e
# ignores a command behind `!`, so a wrong exit 0 would pass.)
fails() { if "$@"; then echo "expected a failure: $*" >&2; exit 1; fi; }
fails ./moelens train lm --out "$T/x" --data "$T/text" --bogus 2>"$T/err"
grep -q "unknown option '--bogus'" "$T/err"
fails ./moelens train lm --out "$T/x" --data "$T/text" --set d_model=abc 2>"$T/err"
grep -q "d_model" "$T/err"
fails ./moelens train lm --out "$T/x" --data "$T/text" --set router=magic 2>"$T/err"
grep -q "expected one of" "$T/err"
fails ./moelens train lm --out "$T/x" --data "$T/text" --set route_choice=expert 2>"$T/err"
grep -q "route_choice: expected token for the LM" "$T/err"
test ! -e "$T/x"
fails ./moelens eval "$T/missing" 2>"$T/err"
grep -q "not a run folder" "$T/err"
mkdir "$T/trunc" && cp "$T/a/run.json" "$T/a/tokenizer.txt" "$T/trunc/"
head -c 5000 "$T/a/model.safetensors" >"$T/trunc/model.safetensors"
fails ./moelens eval "$T/trunc" 2>"$T/err"
grep -q "truncated or corrupt" "$T/err"
[ "$(wc -l <"$T/err")" = 1 ]
# shape mismatch: a checkpoint whose config says d_model=128 but whose tensors are 64 wide
/usr/bin/python3 - "$T/a/model.safetensors" "$T/shape/model.safetensors" <<'PY'
import json, os, struct, sys
src, dst = sys.argv[1], sys.argv[2]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
cfg = json.loads(h["__metadata__"]["config"]); cfg["d_model"] = 128
h["__metadata__"]["config"] = json.dumps(cfg)
hb = json.dumps(h).encode(); hb += b" " * ((8 - len(hb) % 8) % 8)
os.makedirs(os.path.dirname(dst))
open(dst, "wb").write(struct.pack("<Q", len(hb)) + hb + raw[8 + n:])
PY
cp "$T/a/run.json" "$T/a/tokenizer.txt" "$T/shape/"
fails ./moelens eval "$T/shape" 2>"$T/err"
grep -q "expected .* (shape mismatch with config)" "$T/err"
fails ./moelens train lm --out "$T/nockpt" --data "$T/text" --resume 2>"$T/err"
grep -q "no checkpoint.safetensors to resume from" "$T/err"
# --help prints configured floats as a user writes them (1e-05, not 9.99999975e-06)
./moelens train lm --help | grep -Eq "^  norm_eps +1e-05 " || { echo "FAIL --help norm_eps"; exit 1; }
./moelens train lm --help | grep -Eq "^  aux_lb +0.01 " || { echo "FAIL --help aux_lb"; exit 1; }
echo "train_lm ok"
