#!/bin/sh
# ZEDA side by side (docs/zeda.md): an original run and its adapted version, on the same
# validation windows: the share of routed slots that went to zero experts (skip_ratio), the
# perplexity change and the eval wall time, in the order A B A B ... (best of REPEATS each, so a
# busy moment on a shared machine does not decide), and the CPU time (user + system) besides. Adapts RUN into RUN2 first if RUN2 has no model.
#   sh bench/zeda.sh RUN RUN2 [Z] [REPEATS] [-- adapt options...]
# Z (default: half the experts) and the adapt options are used only when RUN2 is made here.
# WINDOWS (default 128) validation windows of seq_len tokens, spread evenly over the split (the
# tiny preset's training evaluations use the same 128: batch 16 × eval_batches 8).
set -e
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ $# -ge 2 ] || { echo "usage: sh bench/zeda.sh RUN RUN2 [Z] [REPEATS] [-- adapt options]" >&2; exit 1; }
RUN=$1 RUN2=$2
shift 2
Z="" REPEATS=5
[ $# -gt 0 ] && [ "$1" != "--" ] && { Z=$1; shift; }
[ $# -gt 0 ] && [ "$1" != "--" ] && { REPEATS=$1; shift; }
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
WINDOWS=${WINDOWS:-128}
if [ ! -e "$RUN2/model.safetensors" ]; then
    if [ -z "$Z" ]; then
        E=$(sed -nE 's/.*"n_experts":[[:space:]]*([0-9]+).*/\1/p' "$RUN/config.json")
        Z=$((E / 2))
    fi
    ./moelens adapt "$RUN" --zero-experts "$Z" --out "$RUN2" "$@"
fi
# a top-level field of eval's JSON line (before "domains": {...}, which repeats ppl and tokens)
field() { sed -E "s/^\{[^{]*\"$1\": ([0-9.eE+-]+).*/\1/"; }
now() { date +%s.%N; }
# CPU seconds (user + system) of the finished child processes so far: on a shared machine the
# wall time also counts waiting for a core, the CPU time only the work
# (`times` itself must run in this shell, not in a pipe's or $(...)'s subshell)
cpu() { tail -n 1 "$TMPT" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] } printf "%.4f", s }'; }
minof() { echo "$1 $2" | awk '{ print ($2 == "" || $1 < $2) ? $1 : $2 }'; }
best_a="" best_b="" cpu_a="" cpu_b=""
TMPJ=$(mktemp) TMPT=$(mktemp)
trap 'rm -f "$TMPJ" "$TMPT"' EXIT
for i in $(seq "$REPEATS"); do
    for M in A B; do
        [ $M = A ] && R=$RUN || R=$RUN2
        times >"$TMPT"
        t0=$(now) c0=$(cpu)
        ./moelens eval "$R" --json --max-windows "$WINDOWS" | tail -n 1 >"$TMPJ"
        t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.4f", b - a }')
        times >"$TMPT"
        c=$(awk -v a="$c0" -v b="$(cpu)" 'BEGIN { printf "%.4f", b - a }')
        if [ $M = A ]; then
            json_a=$(cat "$TMPJ") best_a=$(minof "$t" "$best_a") cpu_a=$(minof "$c" "$cpu_a")
        else
            json_b=$(cat "$TMPJ") best_b=$(minof "$t" "$best_b") cpu_b=$(minof "$c" "$cpu_b")
        fi
    done
done
pa=$(echo "$json_a" | field ppl) pb=$(echo "$json_b" | field ppl)
sa=$(echo "$json_a" | field skip_ratio) sb=$(echo "$json_b" | field skip_ratio)
tok=$(echo "$json_a" | field tokens)
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
speedup=$(calc %.4f "$best_a / $best_b") cpu_speedup=$(calc %.4f "$cpu_a / $cpu_b")
printf '%-10s %10s %10s %10s %10s %10s %10s\n' model skip_ratio ppl eval_s speedup cpu_s cpu_speedup
printf '%-10s %10.4f %10.3f %10.3f %10.3f %10.3f %10.3f\n' original "$sa" "$pa" "$best_a" 1 "$cpu_a" 1
printf '%-10s %10.4f %10.3f %10.3f %10.3f %10.3f %10.3f\n' adapted "$sb" "$pb" "$best_b" "$speedup" \
    "$cpu_b" "$cpu_speedup"
echo "{\"tokens\": $tok, \"repeats\": $REPEATS, \"threads\": $OMP_NUM_THREADS, \"skip_ratio\": $sb," \
    "\"ppl_original\": $pa, \"ppl_adapted\": $pb," \
    "\"ppl_change\": $(calc %.5f "$pb / $pa - 1")," \
    "\"eval_s_original\": $best_a, \"eval_s_adapted\": $best_b," \
    "\"speedup\": $speedup, \"cpu_s_original\": $cpu_a, \"cpu_s_adapted\": $cpu_b," \
    "\"cpu_speedup\": $cpu_speedup}"
