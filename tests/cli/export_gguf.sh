#!/bin/sh
# moelens export RUN --gguf: three tiny llama-style MoE LMs trained a few steps on the text fixtures
# (A → llama: NORM RoPE, GQA, topk_softmax, untied; B → llama: NEOX RoPE — exported with permuted
# q/k rows —, softmax_topk renormalised, tied; C → olmoe: full-width QK-norm, NEOX, softmax_topk
# without renormalisation), each exported F32 and F16:
#  - moelens info reads them; gguf-py reads them (metadata, tensor shapes and types);
#  - the file's tokenizer (moelens tokenize) gives the run's own ids (moelens tokenizer encode);
#  - a gpt2-block run is refused, naming the option;
#  with the llama.cpp oracle (tests/cli/lib/oracle.sh; else that part is skipped):
#  - llama.cpp (tests/gguf/llama_ref.c) tokenizes the text identically;
#  - --set block=llama alone exports (its conventions: SwiGLU experts, renormalised weights);
#  - on a text of exactly seq_len + 1 tokens (one chunk of seq_len scored, the same way by both)
#    llama.cpp's perplexity is within 0.1 % of `moelens eval RUN` for F32 and 0.5 % for F16;
#  - `moelens eval OUT.gguf` equals llama.cpp on the whole excerpt (same chunks) within 0.01 %, and
#    `moelens eval RUN` (the same chunks: eval --text scores a run as a GGUF file) within 1 %.
set -eu
export OMP_NUM_THREADS=2
. tests/cli/lib/corpus.sh
corpus_test_dir
head -c 3000 tests/fixtures/text/en.txt >"$T/en.txt"
SEQ=128
SET="--preset tiny --set block=llama --set expert_act=swiglu --set d_model=64 --set n_layer=2
     --set n_head=4 --set expert_hidden=64 --set n_experts=4 --set top_k=2 --set seq_len=$SEQ
     --set batch=4 --set steps=12 --set lr=0.003 --set eval_every=0"
./moelens train lm --out "$T/A" --data "$T/text" $SET --set rope_mode=norm --set n_kv_head=2 \
    --set score=topk_softmax --set tied=0 >/dev/null 2>&1
./moelens train lm --out "$T/B" --data "$T/text" $SET --set rope_mode=neox --set score=softmax_topk \
    --set renorm=1 --set tied=1 >/dev/null 2>&1
./moelens train lm --out "$T/C" --data "$T/text" $SET --set rope_mode=neox --set qk_norm=2 \
    --set score=softmax_topk --set renorm=0 --set tied=0 >/dev/null 2>&1
fails=0
fail() {
    echo "FAIL $*"
    fails=$((fails + 1))
}
words() { tr -s ' \n' '\n\n' | grep -v '^$' || true; }
for r in A B C; do
    ./moelens export "$T/$r" --gguf "$T/$r.gguf" >/dev/null
    ./moelens export "$T/$r" --gguf "$T/$r-f16.gguf" --type f16 >/dev/null
    for f in "$r" "$r-f16"; do
        info=$(./moelens info "$T/$f.gguf")
        arch=llama
        [ "$r" = C ] && arch=olmoe
        echo "$info" | grep -q "architecture *$arch" || fail "$f: info: $info"
        echo "$info" | grep -q "experts *4" || fail "$f: info experts"
        echo "$info" | grep -q "tokenizer *gpt2 / gpt-2, 512 tokens" || fail "$f: info tokenizer"
    done
    ./moelens tokenizer encode --tokenizer "$T/$r/tokenizer.txt" --ids "$T/en.txt" | words >"$T/run_ids"
    ./moelens tokenize "$T/$r.gguf" --text "$T/en.txt" | words >"$T/gguf_ids"
    [ -s "$T/run_ids" ] && cmp -s "$T/run_ids" "$T/gguf_ids" || fail "$r: moelens tokenize differs from the run's tokenizer"
done
./moelens export "$T/A" --gguf "$T/x.gguf" --type q8 2>"$T/err" && fail "--type q8 accepted"
grep -q "f32 or f16" "$T/err" || fail "--type error: $(cat "$T/err")"
./moelens train lm --out "$T/G" --data "$T/text" --preset tiny --set d_model=32 --set n_layer=1 \
    --set n_head=2 --set expert_hidden=32 --set seq_len=32 --set steps=1 --set eval_every=0 >/dev/null 2>&1
./moelens export "$T/G" --gguf "$T/G.gguf" 2>"$T/err" && fail "gpt2 block exported"
grep -q "export: block: block=gpt2" "$T/err" || fail "gpt2 refusal: $(cat "$T/err")"
[ ! -e "$T/G.gguf" ] || fail "a refused export left a file"
# --set block=llama alone: its FFN conventions come with it (SwiGLU, renormalised), so it exports
./moelens train lm --out "$T/L" --data "$T/text" --preset tiny --set block=llama --set d_model=32 \
    --set n_layer=1 --set n_head=2 --set expert_hidden=32 --set seq_len=32 --set steps=1 \
    --set eval_every=0 --quiet 2>"$T/err"
[ ! -s "$T/err" ] || fail "train lm --quiet printed: $(cat "$T/err")"
./moelens export "$T/L" --gguf "$T/L.gguf" >/dev/null || fail "--set block=llama alone: not exportable"

. tests/cli/lib/oracle.sh
if [ -d "$O/llama.cpp/gguf-py" ]; then
    /usr/bin/python3 - "$T" <<'PY' || fails=$((fails + 1))
import sys
from gguf import GGUFReader, GGMLQuantizationType as Q
t = sys.argv[1]
for name, f16, tied in [("A", 0, 0), ("A-f16", 1, 0), ("B", 0, 1), ("B-f16", 1, 1),
                        ("C", 0, 0), ("C-f16", 1, 0)]:
    r = GGUFReader(f"{t}/{name}.gguf")
    f = r.fields
    arch = "olmoe" if name[0] == "C" else "llama"
    def val(k):
        return f[k.replace("llama.", arch + ".")].contents()
    assert val("general.architecture") == arch, name
    assert val("tokenizer.ggml.model") == "gpt2" and val("tokenizer.ggml.pre") == "gpt-2"
    toks = val("tokenizer.ggml.tokens")
    assert len(toks) == 512 and toks[-1] == "<|endoftext|>" and toks[32] == "Ġ", toks[:3]
    assert len(val("tokenizer.ggml.merges")) == 512 - 257
    assert val("tokenizer.ggml.token_type")[-1] == 3 and val("tokenizer.ggml.add_bos_token") is False
    assert val("llama.expert_count") == 4 and val("llama.expert_used_count") == 2
    assert val("llama.context_length") == 128 and val("llama.rope.dimension_count") == 16
    assert val("llama.attention.head_count_kv") == (2 if name[0] == "A" else 4)
    ts = {x.name: x for x in r.tensors}
    assert len(ts) == 1 + 2 * (12 if arch == "olmoe" else 10) + 1 + (0 if tied else 1), sorted(ts)
    e = ts["blk.1.ffn_down_exps.weight"]
    assert list(e.shape) == [64, 64, 4], e.shape
    assert e.tensor_type == (Q.F16 if f16 else Q.F32)
    assert ts["blk.0.ffn_gate_inp.weight"].tensor_type == Q.F32
    assert ts["output_norm.weight"].tensor_type == Q.F32
    if arch == "olmoe":
        assert list(ts["blk.1.attn_k_norm.weight"].shape) == [64]
    assert list(ts["token_embd.weight"].shape) == [64, 512]
print("gguf-py: 6 files read")
PY
fi
if ! oracle_found; then
    [ "$fails" = 0 ] || { echo "export_gguf: $fails failure(s)"; exit 1; }
    echo "export_gguf: ok; llama.cpp part skipped (no oracle in $O)"
    exit 0
fi
oracle_tools "$T"
ppl_of() { sed -E 's/.*"ppl": ([0-9.]+).*/\1/'; }
within() { # within A B TOL_PERCENT LABEL
    if awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = (a - b) / b * 100; if (d < 0) d = -d; exit !(d <= t) }'; then
        awk -v a="$1" -v b="$2" -v l="$4" 'BEGIN { printf "  %-44s %.5f vs llama.cpp %.5f (%+.5f %%)\n", l, a, b, (a - b) / b * 100 }'
    else
        fail "$4: moelens $1, llama.cpp $2 (tolerance $3 %)"
    fi
}
# A text of exactly SEQ+1 tokens: a prefix of the excerpt's ids, decoded, re-encoded to check.
win_text() {
    ids=$(./moelens tokenizer encode --tokenizer "$1/tokenizer.txt" --ids "$T/en.txt" | words)
    k=$((SEQ + 1))
    while [ $k -lt $((SEQ + 40)) ]; do
        echo "$ids" | head -n $k | ./moelens tokenizer decode --tokenizer "$1/tokenizer.txt" >"$2"
        n=$(./moelens tokenizer encode --tokenizer "$1/tokenizer.txt" --ids "$2" | words | wc -l)
        [ "$n" = $((SEQ + 1)) ] && return 0
        k=$((k + 1))
    done
    return 1
}
for r in A B C; do
    "$T/llama_ref" "$T/$r.gguf" "$T/en.txt" >"$T/ref.txt"
    head -n 1 "$T/ref.txt" | words >"$T/ref_ids"
    cmp -s "$T/ref_ids" "$T/run_ids" || fail "$r: llama.cpp tokenizes differently"
    win_text "$T/$r" "$T/win.txt" || { fail "$r: no text of $((SEQ + 1)) tokens"; continue; }
    # eval --text scores chunks of SEQ (a run as a GGUF file): SEQ - 1 tokens of the window
    run_win=$(./moelens eval "$T/$r" --text "$T/win.txt" --json | tail -n 1)
    echo "$run_win" | grep -q "\"tokens\": $((SEQ - 1))," || fail "$r: eval RUN on the window: $run_win"
    for q in "" -f16; do
        ref=$("$T/llama_ref" "$T/$r$q.gguf" "$T/win.txt" $SEQ | tail -n 1)
        echo "$ref" | grep -q "scored $((SEQ - 1)) " || fail "$r$q: llama_ref scored: $ref"
        tol=0.1
        [ -n "$q" ] && tol=0.5
        within "$(echo "$run_win" | ppl_of)" "$(echo "$ref" | awk '{print $6}')" $tol \
            "$r$q: eval RUN, one window of $SEQ"
        ref_all=$("$T/llama_ref" "$T/$r$q.gguf" "$T/en.txt" | tail -n 1 | awk '{print $6}')
        within "$(./moelens eval "$T/$r$q.gguf" --text "$T/en.txt" --json | tail -n 1 | ppl_of)" \
            "$ref_all" 0.01 "$r$q: eval OUT.gguf, whole excerpt"
        within "$(./moelens eval "$T/$r" --text "$T/en.txt" --json | tail -n 1 | ppl_of)" \
            "$ref_all" 1 "$r$q: eval RUN, whole excerpt"
    done
done
[ "$fails" = 0 ] || { echo "export_gguf: $fails failure(s)"; exit 1; }
echo "export_gguf: ok"
