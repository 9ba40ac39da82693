#!/bin/sh
# moelens prune on GGUF models of the five families, checked against llama.cpp (docs/gguf.md,
# "Pruning"). Tiny random-weight models (tests/gguf/make_tiny_models.py: d 256, 8 experts top-2),
# one quantised copy each (llama.cpp's llama_model_quantize), ranked on 1500 bytes of en.txt and
# scored on the next 1500:
#  1. every pruned file (F32 by reap to half the experts; the quantised one by freq to 6) loads in
#     llama.cpp and both programs' perplexities agree (0.1 % F32, as gguf_eval.sh per type; the
#     quantised ones also, through moelens' dequantising path (MOELENS_QDOT=off), within 0.001 %
#     of llama.cpp on gguf-py's F32 dequantisation of them, since llama.cpp rounds activations to
#     the weights' dot type);
#  2. the pruned F32 olmoe scores exactly as the original with the dropped experts masked
#     (moelens eval --mask, the kept ids read back from the file by gguf-py);
#  3. --keep 1.0 on a quantised file leaves every tensor byte-identical;
#  4. bad --keep values, a top-k above the kept count, an empty calibration text: one error line,
#     nothing written;
#  5. a run folder is exported then pruned; llama.cpp scores the result as moelens does.
# Skipped (exit 77) without the oracle (tests/cli/lib/oracle.sh).
set -eu
. tests/cli/lib/oracle.sh
oracle_or_skip prune_gguf
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
T=$(mktemp -d) && trap 'rm -rf "$T"' EXIT && oracle_tools "$T"
/usr/bin/python3 tests/gguf/make_tiny_models.py "$T" 256 0.05
head -c 1500 tests/fixtures/text/en.txt >"$T/calib.txt"
head -c 3000 tests/fixtures/text/en.txt | tail -c 1500 >"$T/en.txt"
fails=0
fail() {
    echo "FAIL $*"
    fails=$((fails + 1))
}
ppl_of() { sed -E 's/.*"ppl": ([0-9.]+).*/\1/'; }
# agree FILE TOL_PERCENT LABEL [REF]: moelens eval on FILE, llama.cpp on REF (default FILE)
agree() {
    mine=$(./moelens eval "$1" --text "$T/en.txt" --json | tail -n 1 | ppl_of)
    ref=$("$T/llama_ref" "${4:-$1}" "$T/en.txt" 2>/dev/null | tail -n 1 | awk '{print $6}')
    if awk -v a="$mine" -v b="$ref" -v t="$2" 'BEGIN { d = (a - b) / b * 100; if (d < 0) d = -d; exit !(d <= t) }'; then
        awk -v a="$mine" -v b="$ref" -v l="$3" 'BEGIN { printf "  %-30s moelens %.4f  llama.cpp %.4f  (%+.6f %%)\n", l, a, b, (a - b) / b * 100 }'
    else
        fail "$3: moelens $mine, llama.cpp $ref (tolerance $2 %)"
    fi
}
quant() { case $1 in olmoe) echo Q4_K_M ;; mixtral) echo Q8_0 ;; qwen2moe) echo Q5_K_M ;; qwen3moe) echo Q4_0 ;; deepseek) echo Q6_K ;; esac; }
tol() { case $1 in F32) echo 0.1 ;; Q8_0) echo 1 ;; *) echo 3 ;; esac; }
for f in olmoe mixtral qwen2moe qwen3moe deepseek; do
    q=$(quant $f)
    "$T/llama_quant" "$T/$f.gguf" "$T/$f-$q.gguf" "$q" 2 >"$T/q.log" 2>&1 || { tail "$T/q.log"; exit 1; }
    ./moelens prune "$T/$f.gguf" --keep 0.5 --by reap --calib "$T/calib.txt" --out "$T/$f-reap.gguf" >/dev/null
    ./moelens prune "$T/$f-$q.gguf" --keep 6 --by freq --calib "$T/calib.txt" --out "$T/$f-$q-freq.gguf" >/dev/null
    agree "$T/$f-reap.gguf" "$(tol F32)" "$f F32 reap 4/8"
    agree "$T/$f-$q-freq.gguf" "$(tol "$q")" "$f $q freq 6/8"
    /usr/bin/python3 tests/gguf/dequant_model.py "$T/$f-$q-freq.gguf" "$T/deq.gguf"
    # the dequantising path (MOELENS_QDOT=off; the integer kernels round activations like llama.cpp)
    export MOELENS_QDOT=off
    agree "$T/$f-$q-freq.gguf" 0.001 "  vs its F32 dequantisation" "$T/deq.gguf"
    unset MOELENS_QDOT
done
# 2. pruned = masked original (within 1e-7 relative: the router GEMM is 8 experts wide in one and 4
#    in the other, and BLAS may sum by width in another order; an AMD EPYC gave 348.850594 vs
#    348.850593, an Intel Xeon the same digits)
mask=$(/usr/bin/python3 - "$T/olmoe-reap.gguf" <<'PY'
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
f = r.fields["moelens.prune.kept"]
kept = [int(f.parts[i][0]) for i in f.data]
E, n = 8, 4
blocks = len(kept) // n
print(",".join(f"{b}:{e}" for b in range(blocks) for e in range(E) if e not in kept[b * n:(b + 1) * n]))
PY
)
a=$(./moelens eval "$T/olmoe.gguf" --text "$T/en.txt" --mask "$mask" --json 2>/dev/null | tail -n 1 | ppl_of)
b=$(./moelens eval "$T/olmoe-reap.gguf" --text "$T/en.txt" --json | tail -n 1 | ppl_of)
if python3 -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(abs(a - b) > 1e-7 * abs(a))" "$a" "$b"; then
    echo "  olmoe pruned = masked original: ppl $a vs $b"
else
    fail "olmoe: masked $a, pruned $b"
fi
# 3. keeping everything changes no tensor byte
./moelens prune "$T/olmoe-Q4_K_M.gguf" --keep 1.0 --calib "$T/calib.txt" --out "$T/all.gguf" >/dev/null
/usr/bin/python3 - "$T/olmoe-Q4_K_M.gguf" "$T/all.gguf" <<'PY' || fail "--keep 1.0 changed tensors"
import sys, gguf
a, b = (gguf.GGUFReader(p) for p in sys.argv[1:])
ta = {t.name: t for t in a.tensors}
assert len(ta) == len(b.tensors)
for t in b.tensors:
    s = ta[t.name]
    assert s.tensor_type == t.tensor_type and list(s.shape) == list(t.shape), t.name
    assert s.data.tobytes() == t.data.tobytes(), t.name
print(f"  --keep 1.0: {len(ta)} tensors byte-identical")
PY
# 4. bad values: one error line, exit 1, nothing written
for v in 0 -1 1.5 9 abc 0.5x; do
    if ./moelens prune "$T/olmoe.gguf" --keep "$v" --calib "$T/calib.txt" --out "$T/bad.gguf" >/dev/null 2>"$T/err"; then
        fail "--keep $v accepted"
    fi
    [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -- "--keep: expected a fraction in (0, 1\] or an expert count 1..8, got '$v'" "$T/err" ||
        fail "--keep $v: $(cat "$T/err")"
    [ ! -e "$T/bad.gguf" ] || fail "--keep $v wrote a file"
done
./moelens prune "$T/olmoe.gguf" --keep 1 --calib "$T/calib.txt" --out "$T/bad.gguf" >/dev/null 2>"$T/err" && fail "top-k 2 of 1 kept accepted"
grep -q "top-k 2 exceeds the 1 experts kept per block" "$T/err" && [ ! -e "$T/bad.gguf" ] || fail "top-k: $(cat "$T/err")"
: >"$T/empty.txt"
./moelens prune "$T/olmoe.gguf" --keep 4 --calib "$T/empty.txt" --out "$T/bad.gguf" 2>"$T/err" && fail "empty calibration accepted"
grep -q "empty.txt: the calibration text has no tokens" "$T/err" && [ ! -e "$T/bad.gguf" ] || fail "empty: $(cat "$T/err")"
./moelens prune "$T/olmoe.gguf" --keep 1 --top-k 1 --calib "$T/calib.txt" --out "$T/one.gguf" >/dev/null
agree "$T/one.gguf" 0.1 "olmoe F32 reap 1/8 top-1"
# 5. a run folder: exported, then pruned
. tests/cli/lib/corpus.sh
fixture_corpus "$T/text" >/dev/null 2>&1
./moelens train lm --out "$T/run" --data "$T/text" --preset tiny --set block=llama --set expert_act=swiglu \
    --set d_model=64 --set n_layer=2 --set n_head=4 --set expert_hidden=64 --set n_experts=4 \
    --set top_k=2 --set seq_len=128 --set batch=4 --set steps=6 --set score=topk_softmax \
    --set eval_every=0 >/dev/null 2>&1
./moelens prune "$T/run" --keep 3 --by freq --calib "$T/calib.txt" --out "$T/run-p.gguf" >/dev/null
[ ! -e "$T/run-p.gguf.export" ] || fail "the run's export was left behind"
agree "$T/run-p.gguf" 0.1 "run F32 freq 3/4"
[ "$fails" -eq 0 ] || exit 1
echo "prune_gguf: ok"
