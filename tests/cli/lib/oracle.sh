# Sourced by the scripts that compare moelens with llama.cpp. Finds the oracle under
# ${MOELENS_ORACLE_DIR:-.cache/oracle} (scripts/oracle.sh): a cmake build of its source when one
# exists (build/bin/libllama.so), otherwise the CPU libraries that the npm package ships prebuilt
# (@node-llama-cpp/linux-x64: libllama.v0.5.0.so and one ggml CPU backend per CPU generation),
# which `make test` always has. Sets O (oracle folder), ORACLE_LIB (the libraries' folder) and
# ORACLE_BACKENDS (exported; the prebuilt backends' folder, empty for a cmake build) and exports
# PYTHONPATH for gguf-py.
#   oracle_found          0 when the libraries and the source (llama.h, gguf-py) are there
#   oracle_or_skip NAME   skips the test NAME (exit 77, with a line saying how to fetch the oracle)
#                         unless oracle_found
#   oracle_tools DIR      compiles DIR/llama_ref (tests/gguf/llama_ref.c: ids and perplexity),
#                         DIR/llama_tok (tests/gguf/llama_tok.c: ids from a vocabulary-only file)
#                         and DIR/llama_quant (tests/gguf/llama_quant.c: llama-quantize's function)
O=${MOELENS_ORACLE_DIR:-.cache/oracle}
ORACLE_PREBUILT="$O/npm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
if [ -f "$O/build/bin/libllama.so" ]; then
    ORACLE_LIB=$(cd "$O/build/bin" && pwd)
    ORACLE_LINK="-lllama"
    ORACLE_BACKENDS=""
elif [ -f "$ORACLE_PREBUILT/libllama.v0.5.0.so" ]; then
    ORACLE_LIB=$(cd "$ORACLE_PREBUILT" && pwd)
    ORACLE_LINK="-l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -l:libggml-base.so"
    ORACLE_BACKENDS=$ORACLE_LIB
else
    ORACLE_LIB=""
fi
export ORACLE_BACKENDS PYTHONPATH="$O/llama.cpp/gguf-py"
# llama.cpp's thread pool spins: one thread keeps the tests steady on a busy machine (bench sets 2).
export LLAMA_REF_THREADS="${LLAMA_REF_THREADS:-1}"

oracle_found() {
    [ -n "$ORACLE_LIB" ] && [ -f "$O/llama.cpp/include/llama.h" ] && [ -d "$O/llama.cpp/gguf-py" ]
}

oracle_or_skip() {
    oracle_found && return 0
    echo "$1: skipped (no llama.cpp oracle in $O: sh scripts/oracle.sh --src-only fetches it)"
    exit 77
}

oracle_tools() {
    for tool in llama_ref llama_tok llama_quant; do
        # shellcheck disable=SC2086 # ORACLE_LINK is a list of flags
        cc -O2 -o "$1/$tool" "tests/gguf/$tool.c" -I"$O/llama.cpp/include" -I"$O/llama.cpp/ggml/include" \
            -L"$ORACLE_LIB" $ORACLE_LINK -lm -Wl,-rpath,"$ORACLE_LIB" || return 1
    done
}
