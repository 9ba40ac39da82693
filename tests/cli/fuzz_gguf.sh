#!/bin/sh
# Runs the GGUF parser's libFuzzer target briefly (10 s) under ASan/UBSan; longer runs: make fuzz
# (sh scripts/fuzz.sh SECONDS). Skips (exit 77, with a message) when clang's fuzzer runtime is absent.
sh scripts/fuzz.sh "${MOELENS_FUZZ_SECONDS:-10}" >build/fuzz_gguf.log 2>&1
rc=$?
if [ $rc -eq 77 ]; then
    echo "fuzz_gguf: skipped: clang/libFuzzer not available (Debian clang + libclang-rt-14-dev)"
    exit 77
fi
grep -E "^(Done|stat::average_exec_per_sec)" build/fuzz_gguf.log
[ $rc -eq 0 ] || { tail -n 40 build/fuzz_gguf.log; echo "fuzz_gguf: FAILED (rc $rc)"; exit 1; }
echo "fuzz_gguf: ok"
