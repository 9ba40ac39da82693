#!/bin/sh
# moelens eval on GGUF models against llama.cpp (the oracle's libllama, tests/gguf/llama_ref.c).
# Tiny random-weight models of every family (make_tiny_models.py, d 256, weight std 0.05, context
# 128), quantised by llama.cpp's llama_model_quantize (two types per family), score an excerpt of
# tests/fixtures/text/en.txt (1500 bytes, ≈ 1300 tokens: 11 chunks of 128):
#  1. token ids identical (llama.cpp's add_special: BOS only when the file says);
#  2. same file, both programs: perplexity within 0.1 % (F32, F16, BF16), 1 % (Q8_0), 3 % (Q4_0,
#     K-quants). llama.cpp rounds the activations to the weights' dot type (f16, bf16, q8_0,
#     q8_K); moelens multiplies in f32, or for Q8_0, Q4_K and Q6_K weights rounds them to 8 bits
#     per group of 32 or 16 (its integer kernels, src/nn/qdot.h): only F32 can agree exactly;
#  3. exactness of moelens' dequantising path (MOELENS_QDOT=off): moelens on a quantised file
#     against llama.cpp on gguf-py's F32 dequantisation of it (tests/gguf/dequant_model.py; F32
#     weights, no activation rounding): within 0.001 %.
# Skipped (exit 77) without the oracle (tests/cli/lib/oracle.sh: the npm package's prebuilt
# libraries, or a cmake build of its source).
set -eu
. tests/cli/lib/oracle.sh
oracle_or_skip gguf_eval
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
oracle_tools "$T"
/usr/bin/python3 tests/gguf/make_tiny_models.py "$T" 256 0.05
head -c 1500 tests/fixtures/text/en.txt >"$T/en.txt"
fails=0
ppl_of() { sed -E 's/.*"ppl": ([0-9.]+).*/\1/'; }
# within A B TOL_PERCENT LABEL
within() {
    if awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = (a - b) / b * 100; if (d < 0) d = -d; exit !(d <= t) }'; then
        awk -v a="$1" -v b="$2" -v l="$4" 'BEGIN { printf "  %-34s moelens %.4f  llama.cpp %.4f  (%+.5f %%)\n", l, a, b, (a - b) / b * 100 }'
    else
        echo "FAIL $4: moelens $1, llama.cpp $2 (tolerance $3 %)"
        fails=$((fails + 1))
    fi
}
tol() { case $1 in F32 | F16 | BF16) echo 0.1 ;; Q8_0) echo 1 ;; *) echo 3 ;; esac; }
# every family in F32 and two quantised types each (all 7 types covered)
types() { case $1 in olmoe) echo F32 F16 Q4_K_M ;; mixtral) echo F32 Q8_0 Q6_K ;; qwen2moe) echo F32 BF16 Q5_K_M ;;
    qwen3moe) echo F32 Q4_0 BF16 ;; deepseek) echo F32 Q8_0 Q4_K_M ;; esac; }
for f in olmoe mixtral qwen2moe qwen3moe deepseek; do
    for q in $(types $f); do
        m="$T/$f-$q.gguf"
        if [ "$q" = F32 ]; then cp "$T/$f.gguf" "$m"; else
            "$T/llama_quant" "$T/$f.gguf" "$m" "$q" 2 >"$T/q.log" 2>&1 || { tail "$T/q.log"; exit 1; }
        fi
        "$T/llama_ref" "$m" "$T/en.txt" >"$T/ref.txt"
        mine=$(./moelens eval "$m" --text "$T/en.txt" --json | tail -n 1)
        if [ "$q" = F32 ]; then # ids: moelens tokenize gives the text's ids; eval adds BOS when asked
            ./moelens tokenize "$m" --text "$T/en.txt" >"$T/ids.txt"
            head -n 1 "$T/ref.txt" | tr ' ' '\n' >"$T/ref_ids"
            tr ' ' '\n' <"$T/ids.txt" >"$T/my_ids"
            n_ref=$(wc -l <"$T/ref_ids") n_my=$(wc -l <"$T/my_ids")
            [ "$n_ref" -gt "$n_my" ] && sed -i 1d "$T/ref_ids" # llama.cpp's BOS
            cmp -s "$T/ref_ids" "$T/my_ids" || { echo "FAIL $f: token ids differ"; fails=$((fails + 1)); }
            echo "$mine" | grep -q "\"text_tokens\": $n_ref," || { echo "FAIL $f: eval token count"; fails=$((fails + 1)); }
        fi
        within "$(echo "$mine" | ppl_of)" "$(tail -n 1 "$T/ref.txt" | awk '{print $6}')" "$(tol $q)" "$f $q"
        if [ "$q" != F32 ]; then # the dequantise + sgemm path (MOELENS_QDOT=off): exact
            /usr/bin/python3 tests/gguf/dequant_model.py "$m" "$T/deq.gguf"
            deq=$(MOELENS_QDOT=off ./moelens eval "$m" --text "$T/en.txt" --json | tail -n 1)
            within "$(echo "$deq" | ppl_of)" "$("$T/llama_ref" "$T/deq.gguf" "$T/en.txt" | tail -n 1 | awk '{print $6}')" \
                0.001 "$f $q vs llama.cpp on its F32 dequant"
        fi
    done
done
# an SPM vocabulary without tokenizer.ggml.scores: llama.cpp takes every score as 0; so must we
/usr/bin/python3 -c "import sys; sys.path.insert(0, 'tests/gguf'); import make_tiny_models as m; \
m.make('mixtral', '$T/noscores.gguf', 256, seed=1, std=0.05, spm_scores=False)"
"$T/llama_ref" "$T/noscores.gguf" "$T/en.txt" >"$T/ref.txt"
head -n 1 "$T/ref.txt" | tr ' ' '\n' | sed 1d >"$T/ref_ids" # llama.cpp's BOS
./moelens tokenize "$T/noscores.gguf" --text "$T/en.txt" | tr ' ' '\n' >"$T/my_ids"
cmp -s "$T/ref_ids" "$T/my_ids" || { echo "FAIL: SPM without scores: token ids differ"; fails=$((fails + 1)); }
within "$(./moelens eval "$T/noscores.gguf" --text "$T/en.txt" --json | tail -n 1 | ppl_of)" \
    "$(tail -n 1 "$T/ref.txt" | awk '{print $6}')" 0.1 "mixtral F32, SPM without scores"
# a family moelens does not run: one clear error naming it
/usr/bin/python3 - "$T/olmoe.gguf" "$T/gpt9.gguf" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(b.replace(b"olmoe", b"gpt9x"))
PY
if ./moelens eval "$T/gpt9.gguf" --text "$T/en.txt" 2>"$T/err"; then echo "FAIL: unknown family accepted"; fails=$((fails + 1)); fi
grep -q "architecture 'gpt9x'" "$T/err" || { echo "FAIL: error does not name the family"; cat "$T/err"; fails=$((fails + 1)); }
./moelens sample "$T/mixtral-Q6_K.gguf" --prompt "the" --tokens 8 --temperature 0 >/dev/null
[ "$fails" = 0 ] || { echo "gguf_eval: $fails failure(s)"; exit 1; }
echo "gguf_eval: ok"
