#!/bin/sh
# Resident memory per rank with and without ZeRO-1: `moelens train lm` (preset small by default,
# fixture corpus) at mpirun -np 2, both ranks' VmRSS sampled every second while steps 2-3 run
# (after start-up, before the final checkpoint); prints the median over the samples.
# usage: sh bench/mpi_memory.sh [PRESET [DATA]]
set -e
cd "$(dirname "$0")/.."
PRESET=${1:-small} DATA=${2:-}
. bench/mpi_env.sh
cfg="--data $DATA --preset $PRESET --set steps=4 --set log_every=1 --set eval_every=0
     --set eval_batches=1 --set ckpt_every=0"
for mode in "" "--zero1"; do
    rm -rf "$T/run"
    mpirun -np 2 --bind-to none ./moelens train lm --out "$T/run" $cfg $mode 2>/dev/null &
    mp=$!
    : >"$T/samples"
    while kill -0 $mp 2>/dev/null; do
        n=$(grep -c tokens_per_s "$T/run/metrics.jsonl" 2>/dev/null || true)
        if [ "${n:-0}" -ge 1 ] && [ "${n:-0}" -le 3 ]; then
            for p in $(pgrep -P $mp); do awk '/VmRSS/ {print $2}' /proc/$p/status; done >>"$T/samples"
        fi
        sleep 1
    done
    sort -n "$T/samples" | awk -v m="${mode:-DP}" '{v[NR] = $1}
        END {printf "np 2 %s: resident per rank during steps 2-3: median %.0f MB (%d samples)\n",
             m, v[int((NR + 1) / 2)] / 1024, NR}'
done
