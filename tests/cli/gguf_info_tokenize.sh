#!/bin/sh
# moelens info / tokenize on GGUF files. info runs on the committed fixture; tokenize runs on
# llama.cpp's vocab files when the oracle source is fetched (MOELENS_ORACLE=1 fetches it first:
# sh scripts/oracle.sh --src-only, about 40 s of npm), else that part is skipped with a message.
set -e
out=$(./moelens info tests/fixtures/gguf/dequant.gguf)
echo "$out" | grep -q "architecture *fixture"
echo "$out" | grep -q "q6_K *1 tensors, 420 bytes"
if ./moelens info tests/cli/gguf_info_tokenize.sh 2>err.tmp; then echo "info accepted a non-GGUF file"; exit 1; fi
grep -q "gguf_info_tokenize.sh: bad magic" err.tmp; rm -f err.tmp
[ "${MOELENS_ORACLE:-0}" = 1 ] && sh scripts/oracle.sh --src-only >/dev/null
M=${MOELENS_ORACLE_DIR:-.cache/oracle}/llama.cpp/models
if [ ! -f "$M/ggml-vocab-llama-bpe.gguf" ]; then
    echo "gguf_info_tokenize: tokenize part skipped (no oracle; MOELENS_ORACLE=1 fetches it)"
    exit 0
fi
t=$(mktemp)
printf 'Hello world' >"$t"
[ "$(./moelens tokenize "$M/ggml-vocab-llama-bpe.gguf" --text "$t")" = "9906 1917" ]
printf ' Hello world' >"$t"
[ "$(./moelens tokenize "$M/ggml-vocab-llama-spm.gguf" --text "$t")" = "29871 15043 3186" ]
rm -f "$t"
echo "gguf_info_tokenize: ok"
