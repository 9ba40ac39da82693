#!/bin/sh
# Options declared as tables (src/cli/cli_opts.h): every option a command's --help lists is one
# its parser takes, and the parser's refusals are one line naming the command and the option.
set -eu
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# fails EXPECTED-TEXT CMD...: exit 1, the expected text in stderr
fails() {
    want=$1
    shift
    if "$@" >"$T/out" 2>"$T/err"; then echo "FAIL: accepted: $*"; exit 1; fi
    grep -qF -- "$want" "$T/err" || { echo "FAIL: $*: wanted '$want', got: $(cat "$T/err")"; exit 1; }
    [ "$(wc -l <"$T/err")" -eq 1 ] || { echo "FAIL: $*: more than one line"; exit 1; }
}

# every listed option is parsed: followed by a value and an unknown option (so nothing runs), it
# is never the one reported unknown
for cmd in "data images" "data text" "data fetch" "tokenizer train" "tokenizer encode" "tokenizer decode" \
    "prune" "export" "tokenize" "report" "train lm" "train vision" "demo" "analyze" "eval" "sample" "adapt" "compare" "sweep"; do
    # shellcheck disable=SC2086
    ./moelens $cmd --help >"$T/help"
    opts=$(grep -oE '^  --[a-z0-9-]+' "$T/help" | tr -d ' ' | sort -u)
    [ -n "$opts" ] || { echo "FAIL: $cmd --help lists no options"; exit 1; }
    for o in $opts; do
        # shellcheck disable=SC2086
        if ./moelens $cmd "$o" 1 --zz-bogus </dev/null >/dev/null 2>"$T/err"; then
            echo "FAIL: $cmd $o 1 --zz-bogus ran"
            exit 1
        fi
        if grep -qF "unknown option '$o'" "$T/err"; then echo "FAIL: $cmd lists $o, refuses it"; exit 1; fi
    done
done
./moelens analyze --images x --help | grep -q -- "--synth-steps"

fails "prune: unknown option '--bogus' (see moelens prune --help)" ./moelens prune m --bogus
fails "export: option '--type' needs a value" ./moelens export RUN --type
fails "prune: option '--ctx' expects an integer, got 'ten'" ./moelens prune m --ctx ten
fails "train lm: option '--stop-after': 99999999999 is out of range" \
    ./moelens train lm --out "$T/r" --stop-after 99999999999
fails "export: unexpected argument 'b'" ./moelens export a b
fails "report: one folder expected, got 'a' and 'b'" ./moelens report a b
fails "data images: unknown style 'nope'" ./moelens data images --train-styles nope
fails "data info: unknown option '--bogus'" ./moelens data info --bogus
fails "data info: needs a PATH" ./moelens data info
fails "info: unexpected argument 'b'" ./moelens info a b
fails "tokenizer decode: needs --tokenizer FILE" ./moelens tokenizer decode
echo "options: ok"
