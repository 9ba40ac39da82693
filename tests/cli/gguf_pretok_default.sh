#!/bin/sh
# The `default` GGUF pre-tokenizer against llama.cpp (the oracle's libllama, tests/gguf/llama_tok.c):
# `moelens tokenize` and llama.cpp must give identical ids on the multilingual fixture texts
# (tests/fixtures/text/*.txt, tests/fixtures/pretok/scripts.txt: punctuation of 16 scripts) for
#  - ggml-vocab-gpt-neox.gguf, which has no tokenizer.ggml.pre key (llama.cpp: "default"), and
#  - ggml-vocab-gpt-2.gguf copied with pre = "default" (tests/gguf/set_pre.py).
# The gpt-2 file as it is (pre "gpt-2") must give other ids, so the comparison can tell the two
# pre-tokenizers apart. The relatives built from the same pieces (falcon, starcoder, refact,
# command-r, deepseek-coder: llama.cpp's vocab files) are compared on scripts.txt and code.txt.
# Skipped (exit 77) without the oracle (tests/cli/lib/oracle.sh).
set -eu
. tests/cli/lib/oracle.sh
M="$O/llama.cpp/models"
if ! oracle_found || [ ! -f "$M/ggml-vocab-gpt-neox.gguf" ]; then
    echo "gguf_pretok_default: skipped (no oracle in $O; sh scripts/oracle.sh --src-only fetches it)"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
oracle_tools "$T"
/usr/bin/python3 tests/gguf/set_pre.py "$M/ggml-vocab-gpt-2.gguf" "$T/gpt2-default.gguf" default
fails=0
for model in "$M/ggml-vocab-gpt-neox.gguf" "$T/gpt2-default.gguf"; do
    for text in tests/fixtures/text/*.txt tests/fixtures/pretok/scripts.txt; do
        ./moelens tokenize "$model" --text "$text" >"$T/ours"
        "$T/llama_tok" "$model" "$text" >"$T/ref"
        if ! cmp -s "$T/ours" "$T/ref"; then
            echo "gguf_pretok_default: $(basename "$model") on $text: ids differ from llama.cpp"
            fails=$((fails + 1))
        fi
    done
done
for v in falcon starcoder refact command-r deepseek-coder; do
    for text in tests/fixtures/pretok/scripts.txt tests/fixtures/text/code.txt; do
        ./moelens tokenize "$M/ggml-vocab-$v.gguf" --text "$text" >"$T/ours"
        "$T/llama_tok" "$M/ggml-vocab-$v.gguf" "$text" >"$T/ref"
        if ! cmp -s "$T/ours" "$T/ref"; then
            echo "gguf_pretok_default: pre $v on $text: ids differ from llama.cpp"
            fails=$((fails + 1))
        fi
    done
done
# Bytes that are not UTF-8 (a stray continuation byte, an overlong 'A', a truncated sequence, a
# surrogate): llama.cpp reads them leniently and as U+FFFD, on every BPE pre-tokenizer. (It aborts
# on a value past U+10FFFF, F5..F7 leads, which moelens reads as U+FFFD: not compared.)
printf 'a\377b \301\201x \342\202 end \360\237\230\200 \355\240\200 z' >"$T/bad.txt"
for v in gpt-2 llama-bpe qwen2 deepseek-llm deepseek-coder falcon starcoder; do
    ./moelens tokenize "$M/ggml-vocab-$v.gguf" --text "$T/bad.txt" >"$T/ours"
    "$T/llama_tok" "$M/ggml-vocab-$v.gguf" "$T/bad.txt" >"$T/ref"
    cmp -s "$T/ours" "$T/ref" || { echo "gguf_pretok_default: pre $v on invalid UTF-8: ids differ"; fails=$((fails + 1)); }
done
./moelens tokenize "$M/ggml-vocab-gpt-2.gguf" --text tests/fixtures/pretok/scripts.txt >"$T/gpt2"
./moelens tokenize "$T/gpt2-default.gguf" --text tests/fixtures/pretok/scripts.txt >"$T/default"
if cmp -s "$T/gpt2" "$T/default"; then
    echo "gguf_pretok_default: pre gpt-2 and default gave the same ids: the test cannot tell them apart"
    fails=$((fails + 1))
fi
[ "$fails" = 0 ] || exit 1
echo "gguf_pretok_default: ok (default: 2 vocabularies x every fixture text; 5 relatives x 2 texts; invalid UTF-8 on 7 vocabularies: ids identical to llama.cpp)"
