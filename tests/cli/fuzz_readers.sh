#!/bin/sh
# Runs every file reader's libFuzzer target (tests/fuzz/) briefly under ASan/UBSan: 3 s each by
# default (MOELENS_FUZZ_SECONDS); a crash, leak or sanitizer report fails the suite. Longer runs:
# make fuzz (sh scripts/fuzz.sh SECONDS [TARGET ...]). Skips (exit 77, with a message) when clang's
# fuzzer runtime is absent.
mkdir -p build
sh scripts/fuzz.sh "${MOELENS_FUZZ_SECONDS:-3}" >build/fuzz_readers.log 2>&1
rc=$?
if [ $rc -eq 77 ]; then
    echo "fuzz_readers: skipped: clang/libFuzzer not available (Debian clang + libclang-rt-14-dev)"
    exit 77
fi
grep -E "^fuzz " build/fuzz_readers.log
[ $rc -eq 0 ] || { tail -n 40 build/fuzz_readers.log; echo "fuzz_readers: FAILED (rc $rc)"; exit 1; }
echo "fuzz_readers: ok"
