#!/bin/sh
# ZEDA end to end on a tiny run (docs/zeda.md): `moelens adapt` grows the router, self-distils
# against the frozen original with the group loss, and writes a normal run: eval --json reports
# skip_ratio (0 for the original, > 0 after adapting), metrics.jsonl the zero-slot ratio and the
# load violations per layer; sample and analyze work on it, export refuses zero experts; an
# interrupted adaptation resumes bit-identically; bad input fails with one clear line.
set -eu
. tests/cli/lib/corpus.sh
export OMP_NUM_THREADS=1
corpus_test_dir
fails() { if "$@"; then echo "expected a failure: $*" >&2; exit 1; fi; }
skip() { tail -n 1 | sed -E 's/.*"skip_ratio": ([0-9.]+).*/\1/'; }
# llama style, so that export could write it if it had no zero experts
./moelens train lm --out "$T/R" --data "$T/text" --preset tiny --set block=llama --set expert_act=swiglu \
    --set tied=0 --set qk_norm=2 --set renorm=0 --set d_model=32 --set n_layer=2 --set n_head=2 --set expert_hidden=32 --set n_experts=4 --set top_k=2 --set seq_len=32 \
    --set batch=4 --set steps=30 --set eval_every=0 >/dev/null 2>&1
s0=$(./moelens eval "$T/R" --json | skip)
[ "$s0" = "0.000000" ] || { echo "original skip_ratio $s0"; exit 1; }

# 1. adapt: 2 zero experts per layer (w = 2: equilibrium share 2·2/(2·2+4) = 0.5)
ad="--set steps=20 --set warmup=2 --set eval_every=10 --set ckpt_every=8 --set log_every=1 --set lr=3e-3"
./moelens adapt "$T/R" --zero-experts 2 --out "$T/A" $ad 2>/dev/null
s1=$(./moelens eval "$T/A" --json | skip)
echo "skip_ratio: original $s0, adapted $s1"
awk -v s="$s1" 'BEGIN { exit !(s > 0 && s <= 1) }'
grep -Eq '"n_zero":[[:space:]]*2,' "$T/A/config.json"
last=$(grep '"zero_ratio"' "$T/A/metrics.jsonl" | tail -n 1)
for key in zero_ratio max_vio avg_vio aux_group student_ce; do
    echo "$last" | grep -q "\"$key\"" || { echo "metrics lack $key"; exit 1; }
done
grep '"val_loss"' "$T/A/metrics.jsonl" | tail -n 1 | grep -q '"skip_ratio"'
./moelens sample "$T/A" --prompt "The " --tokens 8 --seed 3 >/dev/null
./moelens analyze "$T/A" --only routing,topk --max-tokens 2000 >/dev/null 2>&1
test -s "$T/A/analysis/topk_ppl.csv"
./moelens export "$T/R" --gguf "$T/R.gguf" >/dev/null
fails ./moelens export "$T/A" --gguf "$T/A.gguf" 2>"$T/err"
grep -q "zero-output experts" "$T/err"
test ! -e "$T/A.gguf"

# 2. resume: stopped after 5 steps, resumed -> the same bytes and metrics as the uninterrupted
#    adaptation
set +e
./moelens adapt "$T/R" --zero-experts 2 --out "$T/B" $ad --stop-after 5 2>/dev/null
rc=$?
set -e
[ "$rc" = 130 ]
./moelens adapt --resume --out "$T/B" 2>/dev/null
cmp "$T/A/checkpoint.safetensors" "$T/B/checkpoint.safetensors"
losses() { sed -E 's/"tokens_per_s":[0-9.eE+-]+,//' "$1/metrics.jsonl"; }
[ "$(losses "$T/A")" = "$(losses "$T/B")" ]

# 3. bad input
fails ./moelens adapt "$T/R" --zero-experts 0 --out "$T/X" 2>"$T/err"
grep -q "zero-experts" "$T/err"
fails ./moelens adapt "$T/R" --zero-experts 2 --out "$T/X" --set d_model=64 2>"$T/err"
grep -q "architecture" "$T/err"
fails ./moelens adapt "$T/R" --zero-experts 2 --out "$T/X" --set n_zero=1 2>"$T/err"
grep -q "n_zero" "$T/err"
[ "$(wc -l <"$T/err")" = 1 ]
fails ./moelens adapt "$T/R" --zero-experts 2 --out "$T/X" --data "$T/nowhere" 2>"$T/err"
grep -q "no train.tokens" "$T/err"
test ! -e "$T/X"
fails ./moelens adapt "$T/R" --zero-experts 2 --out "$T/A" 2>"$T/err"
grep -q "already holds a run" "$T/err"
echo "adapt ok"
