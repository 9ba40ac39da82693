#!/bin/sh
# Routing interventions (--top-k, --renorm, --mask, --router-bias) in eval, sample and analyze, on a
# tiny llama-style MoE run and on its GGUF export; and `moelens analyze MODEL.gguf`:
#  - --top-k k (the model's own) equals the plain eval exactly; a mask changes the perplexity;
#  - a masked expert is never selected (routing counts 0); a +100 router bias puts an expert in
#    every token's top-k; every output records the intervention;
#  - analyze on the .gguf: k' = k (full) reproduces `moelens eval MODEL.gguf` on the same text,
#    raw k' = k is the model itself (renorm 0), classes/lens come from the GGUF vocabulary;
#  - malformed or out-of-range specs: one line naming the option, exit 1.
set -eu
export OMP_NUM_THREADS=1
. tests/cli/lib/corpus.sh
corpus_test_dir
head -c 4000 tests/fixtures/text/en.txt >"$T/en.txt"
head -c 3000 tests/fixtures/text/fr.txt >"$T/fr.txt"
./moelens train lm --out "$T/R" --data "$T/text" --preset tiny --set block=llama --set expert_act=swiglu \
    --set d_model=32 --set n_layer=2 --set n_head=2 --set expert_hidden=32 --set n_experts=4 --set top_k=2 \
    --set seq_len=64 --set batch=4 --set steps=6 --set eval_every=0 --set score=softmax_topk --set renorm=0 \
    --set rope_mode=neox --set qk_norm=2 --set tied=0 >/dev/null 2>&1
./moelens export "$T/R" --gguf "$T/R.gguf" >/dev/null
ppl() { tail -n 1 | sed -E 's/.*"ppl": ([0-9.]+).*/\1/'; }
fail() { echo "FAIL $*"; exit 1; }
# one scoring convention for --text: the run and its (F32) export agree; short texts are accepted
pr=$(./moelens eval "$T/R" --text "$T/en.txt" --json | ppl)
pg=$(./moelens eval "$T/R.gguf" --text "$T/en.txt" --json | ppl)
[ "$pr" = "$pg" ] || fail "eval --text: run $pr, its export $pg"
printf 'Hello there, world.' >"$T/short.txt"
./moelens eval "$T/R" --text "$T/short.txt" --json | tail -n 1 | grep -q '"tokens": [1-9]' ||
    fail "eval RUN --text: a short text is refused"
for M in "$T/R" "$T/R.gguf"; do
    TXT=""; [ "$M" = "$T/R.gguf" ] && TXT="--text $T/en.txt"
    p0=$(./moelens eval "$M" $TXT --json | ppl)
    p1=$(./moelens eval "$M" $TXT --top-k 2 --json 2>"$T/err" | ppl)
    [ "$p0" = "$p1" ] || fail "$M: --top-k 2 gives $p1, plain eval $p0"
    grep -q "routing intervention: top-k 2" "$T/err" || fail "$M: no intervention line on stderr"
    out=$(./moelens eval "$M" $TXT --mask 0:1,1:2 --json 2>/dev/null | tail -n 1)
    p2=$(echo "$out" | ppl)
    [ "$p2" != "$p0" ] || fail "$M: masking two experts left ppl unchanged ($p0)"
    echo "$out" | grep -q '"intervention": {.*"mask":\["0:1","1:2"\]' || fail "$M: mask not recorded: $out"
    p3=$(./moelens eval "$M" $TXT --top-k 1 --renorm 1 --json 2>/dev/null | ppl)
    [ "$p3" != "$p0" ] || fail "$M: top-1 renormalised equals top-2"
    # top-p routing: P = 1 is the model's top-k, a tiny P its top-1 (renorm 0: same raw weight)
    p4=$(./moelens eval "$M" $TXT --route-p 1 --json 2>/dev/null | tail -n 1)
    [ "$(echo "$p4" | ppl)" = "$p0" ] || fail "$M: --route-p 1 gives $p4, plain eval $p0"
    echo "$p4" | grep -q '"route_p":1,.*"mean_k":2[,}]' || fail "$M: route_p / mean_k not recorded: $p4"
    p5=$(./moelens eval "$M" $TXT --route-p 0.000001 --json 2>/dev/null | tail -n 1)
    p6=$(./moelens eval "$M" $TXT --top-k 1 --json 2>/dev/null | ppl)
    [ "$(echo "$p5" | ppl)" = "$p6" ] || fail "$M: tiny --route-p gives $p5, --top-k 1 $p6"
    echo "$p5" | grep -q '"mean_k":1[,}]' || fail "$M: tiny --route-p: mean_k not 1: $p5"
    echo "  $M: ppl $p0, masked 0:1,1:2 $p2, top-1 renorm $p3, route-p 1 = top-k, tiny = top-1 $p6"
done
# analyze with a mask and a bias: on the run (val.tokens) and on the GGUF (a text file)
for M in "$T/R" "$T/R.gguf"; do
    DATA=""; [ "$M" = "$T/R.gguf" ] && DATA="--data $T/en.txt"
    ./moelens analyze "$M" $DATA --only routing --max-tokens 2048 --mask 0:1 --router-bias 1:3=100 \
        --out "$T/iv" --quiet
    /usr/bin/python3 - "$T/iv" <<'PY'
import json, sys, numpy as np
a = sys.argv[1]
meta = json.load(open(f"{a}/analyze.json"))
iv = meta["intervention"]
assert iv["mask"] == ["0:1"] and iv["router_bias"] == [{"layer": 1, "expert": 3, "value": 100}], iv
assert meta["routing_convention"]["score"] == "softmax_topk" and meta["routing_convention"]["renorm"] == 0
c = np.load(f"{a}/routing_counts.npy")          # [L, D, E, k]
n = meta["tokens"]
assert c[0, :, 1, :].sum() == 0, c[0].sum(axis=(0, 2))      # masked: never selected
assert c[1, :, 3, :].sum() == n, (c[1, :, 3, :].sum(), n)    # biased: in every top-k
assert c[1, :, 3, 0].sum() == n                              # ... as the first pick
PY
done
# analyze under top-p routing: the record says how many experts ran per token (1 < mean_k < 2)
./moelens analyze "$T/R.gguf" --data "$T/en.txt" --only routing --max-tokens 1024 --route-p 0.27 \
    --out "$T/rp" --quiet
/usr/bin/python3 - "$T/rp" <<'PY'
import json, sys
iv = json.load(open(f"{sys.argv[1]}/analyze.json"))["intervention"]
assert iv["route_p"] == 0.27 and 1 < iv["mean_k"] < 2, iv  # near-uniform router: P just above one expert
PY
# analyze MODEL.gguf: the whole battery, k' = k = eval
./moelens analyze "$T/R.gguf" --domain en="$T/en.txt" --domain fr="$T/fr.txt" --lens-tokens 64 --quiet \
    --batch 3   # default output: R.gguf.run/analysis
ln -s "$T/R.gguf.run/analysis" "$T/ga"
for d in en fr; do
    pe=$(./moelens eval "$T/R.gguf" --text "$T/$d.txt" --json | ppl)
    /usr/bin/python3 - "$T/ga" "$d" "$pe" <<'PY'
import json, sys, csv
a, d, pe = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = [r for r in csv.DictReader(open(f"{a}/topk_ppl.csv")) if r["domain"] == d]
full = [float(r["ppl"]) for r in rows if r["weights"] == "full"][0]
raw2 = [float(r["ppl"]) for r in rows if r["weights"] == "raw" and r["k"] == "2"][0]
assert abs(full - pe) <= 2e-6 * pe, (d, full, pe)     # eval prints 6 decimals
assert raw2 == full, (raw2, full)                     # renorm 0 model: raw k' = k is the model
PY
done
/usr/bin/python3 - "$T/ga" <<'PY'
import json, sys
a = sys.argv[1]
meta = json.load(open(f"{a}/analyze.json"))
assert set(meta["analyses"]) == {"routing", "specialise", "topk", "lens"}, meta["analyses"]
assert meta["domains"] == ["en", "fr"] and meta["routing_convention"]["architecture"] == "olmoe"
s = json.load(open(f"{a}/specialise.json"))["layers"]
assert all(0 <= x["nmi_class"] <= 1 and 0 <= x["nmi_domain"] <= 1 for x in s), s
lens = open(f"{a}/lens_tokens.csv").read()
assert lens.count("\n") > 10
PY
# report: the MoE Lens view of the GGUF analysis, straight from its run-like folder
./moelens report "$T/R.gguf.run" --out "$T/r.html" >/dev/null
for w in "MoE Lens view" "Expert usage % per layer" "Table A (papers.md" "Table B (papers.md" \
    "Routing convention of olmoe" "100·k/E = 50 %"; do
    grep -q "$w" "$T/r.html" || fail "report lacks '$w'"
done
/usr/bin/python3 -c "open('$T/r.html', encoding='utf-8').read()"   # valid UTF-8 (lens token texts)
# sample: the intervention on stderr; --top-k stays the sampling top-k there
./moelens sample "$T/R.gguf" --prompt "The" --tokens 4 --route-k 1 --mask 1:0 >/dev/null 2>"$T/err"
grep -q "routing intervention: top-k 1 (model 2) mask 1:0" "$T/err" || fail "sample: $(cat "$T/err")"
./moelens sample "$T/R.gguf" --prompt "The" --tokens 4 --route-p 0.5 >/dev/null 2>"$T/err"
grep -q "mean_k" "$T/err" || fail "sample --route-p: no mean_k: $(cat "$T/err")"
# errors: one line naming the option, exit 1
bad() {
    if ./moelens "$@" >/dev/null 2>"$T/err"; then fail "accepted: $*"; fi
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "not one line: $(cat "$T/err")"
}
bad eval "$T/R" --mask 5:0;          grep -q -- "--mask: layer 5 out of range 0..1" "$T/err"
bad eval "$T/R" --mask 0:4;          grep -q -- "--mask: expert 4 out of range 0..3 in layer 0" "$T/err"
bad eval "$T/R" --mask 0-1;          grep -q -- "--mask: expected L:E" "$T/err"
bad eval "$T/R" --mask 0:0,0:1,0:2;  grep -q -- "--mask: layer 0 would keep 1 unmasked experts" "$T/err"
bad eval "$T/R" --router-bias 0:1;   grep -q -- "--router-bias: expected L:E=V" "$T/err"
bad eval "$T/R" --router-bias 0:1=x; grep -q -- "--router-bias: expected a finite number" "$T/err"
bad eval "$T/R" --top-k 0;           grep -q -- "--top-k: expected a positive integer" "$T/err"
bad eval "$T/R" --top-k 5;           grep -q -- "--top-k: 5 exceeds layer 0's 4 experts" "$T/err"
bad eval "$T/R" --renorm 2;          grep -q -- "--renorm: expected 0" "$T/err"
bad eval "$T/R" --route-p 0;         grep -q -- "--route-p: expected a router mass in (0, 1]" "$T/err"
bad eval "$T/R" --route-min 1;       grep -q -- "--route-min: expected a router mass in (0, 1)" "$T/err"
bad analyze "$T/R.gguf" --data "$T/en.txt" --mask 2:0; grep -q -- "--mask: layer 2" "$T/err"
bad sample "$T/R" --prompt x --mask 0:9; grep -q -- "--mask: expert 9" "$T/err"
bad analyze "$T/R.gguf"; grep -q "needs --data TEXT" "$T/err"
echo ok
