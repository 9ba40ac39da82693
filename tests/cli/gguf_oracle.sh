#!/bin/sh
# Tiny random-weight GGUF models of every family (tests/gguf/make_tiny_models.py, gguf-py), read by
# moelens info; each is quantised by llama.cpp's llama_model_quantize (Q8_0, Q4_0, Q4_K_M,
# Q5_K_M, Q6_K, F16, BF16) and every tensor's dequantisation is compared with gguf-py's
# (unit test gguf_oracle_cases). Needs the oracle (tests/cli/lib/oracle.sh): skipped with a message
# when it is absent; MOELENS_ORACLE=1 fetches it first (sh scripts/oracle.sh --src-only).
set -e
[ "${MOELENS_ORACLE:-0}" = 1 ] && sh scripts/oracle.sh --src-only >/dev/null
. tests/cli/lib/oracle.sh
oracle_or_skip gguf_oracle
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
oracle_tools "$dir"
/usr/bin/python3 tests/gguf/make_tiny_models.py "$dir" 256
for f in olmoe mixtral qwen2moe qwen3moe deepseek; do
    out=$(./moelens info "$dir/$f.gguf")
    echo "$out" | grep -q "experts *8" || { echo "$f: experts missing"; echo "$out"; exit 1; }
    echo "$out" | grep -q "top-k *2" || { echo "$f: top-k missing"; exit 1; }
done
./moelens info "$dir/deepseek.gguf" | grep -q "leading dense layers *1"
./moelens info "$dir/qwen3moe.gguf" | grep -q "head dim *128"
# the LM battery on every family: it runs, names the family's top-k convention, and k' = k (raw
# weights for raw families, renormalised for renormalising ones) reproduces `moelens eval`
head -c 1500 tests/fixtures/text/en.txt >"$dir/en.txt"
for f in olmoe mixtral qwen2moe qwen3moe deepseek; do
    OMP_NUM_THREADS=1 ./moelens analyze "$dir/$f.gguf" --domain en="$dir/en.txt" --lens-tokens 16 \
        --batch 1 --quiet
    pe=$(OMP_NUM_THREADS=1 ./moelens eval "$dir/$f.gguf" --text "$dir/en.txt" --json | tail -n 1)
    /usr/bin/python3 - "$dir/$f.gguf.run/analysis" "$f" "$pe" <<'PY'
import csv, json, sys
a, fam, pe = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])["ppl"]
meta = json.load(open(f"{a}/analyze.json"))
conv = meta["routing_convention"]
assert set(meta["analyses"]) >= {"routing", "specialise", "topk", "lens"}, meta["analyses"]
rows = list(csv.DictReader(open(f"{a}/topk_ppl.csv")))
full = [float(r["ppl"]) for r in rows if r["weights"] == "full" and r["domain"] == "en"][0]
assert abs(full - pe) <= 2e-6 * pe, (fam, full, pe)
k = str(conv["top_k"])
own = "renorm" if conv["renorm"] else "raw"
kk = [float(r["ppl"]) for r in rows if r["weights"] == own and r["k"] == k and r["domain"] == "en"]
assert kk and abs(kk[0] - full) <= 1e-6 * full, (fam, own, kk, full)
PY
done
Q="$dir/llama_quant"
cases="$dir/cases"
mkdir -p "$cases"
for f in olmoe qwen3moe; do
    for t in Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K F16 BF16; do
        "$Q" "$dir/$f.gguf" "$cases/$f-$t.gguf" "$t" 2 >"$dir/quantize.log" 2>&1 ||
            { tail -n 20 "$dir/quantize.log"; exit 1; }
        /usr/bin/python3 tests/gguf/dequant_reference.py "$cases/$f-$t.gguf" "$cases/$f-$t.want.gguf"
    done
done
./moelens info "$cases/olmoe-Q4_K_M.gguf" | grep -q "q4_K"
MOELENS_GGUF_CASES="$cases" ./build/moelens_tests gguf_oracle_cases
echo "gguf_oracle: ok"
