#!/bin/sh
# Resident memory per rank under data parallelism, ZeRO-1 and expert parallelism (--ep 2: each
# rank holds half of every MoE layer's experts): `moelens train lm` (preset small by default,
# fixture corpus, SETTINGS appended, e.g. "--set n_experts=32") at mpirun -np 2 for 4 steps and a
# final checkpoint. Prints per mode the parameters rank 0 holds (rank_params), the median of both
# ranks' VmRSS sampled every second while steps 2-3 run (after start-up, before the checkpoint),
# and each rank's peak RSS over the whole run, start-up and checkpoint included (GNU time).
# usage: sh bench/mpi_memory.sh [PRESET [DATA [SETTINGS]]]
set -e
cd "$(dirname "$0")/.."
PRESET=${1:-small} DATA=${2:-} SETTINGS=${3:-}
. bench/mpi_env.sh
cfg="--data $DATA --preset $PRESET --set steps=4 --set log_every=1 --set eval_every=0
     --set eval_batches=1 --set ckpt_every=0 $SETTINGS"
for mode in "" "--zero1" "--ep 2"; do
    rm -rf "$T/run" "$T"/peak.*
    mpirun -np 2 --bind-to none sh -c '/usr/bin/time -f "%M" -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' \
        "$T/peak" ./moelens train lm --out "$T/run" $cfg $mode 2>/dev/null &
    mp=$!
    : >"$T/samples"
    while kill -0 $mp 2>/dev/null; do
        n=$(grep -c tokens_per_s "$T/run/metrics.jsonl" 2>/dev/null || true)
        if [ "${n:-0}" -ge 1 ] && [ "${n:-0}" -le 3 ]; then
            for p in $(pgrep -f "^\./moelens train lm --out $T/run"); do
                awk '/VmRSS/ {print $2}' /proc/$p/status 2>/dev/null || true
            done >>"$T/samples"
        fi
        sleep 1
    done
    wait $mp
    held=$(sed -n 's/.*"rank_params":\([0-9.e+]*\).*/\1/p' "$T/run/metrics.jsonl" | head -n 1)
    sort -n "$T/samples" | awk -v m="${mode:-DP}" -v held="$held" -v p0="$(cat "$T/peak.0")" \
        -v p1="$(cat "$T/peak.1")" '{v[NR] = $1}
        END {printf "np 2 %s: rank 0 holds %.2f M parameters; resident per rank during steps 2-3: " \
             "median %.0f MB (%d samples); peak rank 0 %.0f MB, rank 1 %.0f MB\n",
             m, held / 1e6, v[int((NR + 1) / 2)] / 1024, NR, p0 / 1024, p1 / 1024}'
done
