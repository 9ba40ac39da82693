#!/bin/sh
# Data-parallel scaling on this machine: `moelens train lm` at mpirun -np 1 and -np 2, one OpenMP
# thread per rank, the same global batch, order A B A B; prints each run's median training
# tokens/s over its steps after the first (metrics.jsonl) and the speed-up of 2 ranks over 1; the
# bytes per step each rank handed to collectives (metrics comm_*_bytes) with data parallelism and
# with --ep 2, to set against bench/comm_volume.py; then the time of the collectives alone on a
# gradient of the small preset's size (dist_allreduce.c).
# With MODE=overlap: only np 2, the gradient sums after the backward (grad_overlap=0) and
# overlapped with it (1), alternating ROUNDS times (0 1 0 1 …); each run's median step time, median
# share of the step in collectives and the load average when it ended.
# usage: [MODE=overlap [ROUNDS=3]] sh bench/mpi_scaling.sh [PRESET [STEPS [DATA]]]
#        (defaults: small 6, the test fixtures)
set -e
cd "$(dirname "$0")/.."
PRESET=${1:-small} STEPS=${2:-6} DATA=${3:-}
. bench/mpi_env.sh
# Median tokens/s over the steps after the first; with 2 ranks also the median share of a step
# spent inside collectives (comm_s: waiting for the peer included), the most that overlapping
# them with compute could win back.
median_tps() {
    python3 -c 'import json,sys,statistics
c=json.load(open(sys.argv[1] + "/config.json"))
tokens=c["batch"]*c["seq_len"]*c["grad_accum"]
v=[json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl") if "tokens_per_s" in l][1:]
out=str(round(statistics.median(x["tokens_per_s"] for x in v))) + " tokens/s"
out+=", step %.3f s" % statistics.median(tokens/x["tokens_per_s"] for x in v)
if "comm_s" in v[0]:
    share=statistics.median(x["comm_s"]*x["tokens_per_s"]/tokens for x in v)
    out+=" (collectives %.0f %% of a step, %.3f s)" % (100*share,
        statistics.median(x["comm_s"] for x in v))
print(out)' "$1"
}
cfg="--data $DATA --preset $PRESET --set steps=$STEPS --set log_every=1 --set eval_every=0
     --set eval_batches=1 --set ckpt_every=0"
if [ "${MODE:-}" = overlap ]; then
    r=0
    while [ $r -lt "${ROUNDS:-3}" ]; do
        r=$((r + 1))
        for ov in 0 1; do
            out=$T/ov$ov.$r
            mpirun -np 2 --bind-to none ./moelens train lm --out "$out" $cfg \
                --set grad_overlap=$ov 2>/dev/null
            echo "preset $PRESET np 2 grad_overlap=$ov round $r: $(median_tps "$out");" \
                "load $(cut -d' ' -f1-3 /proc/loadavg)"
        done
    done
    exit 0
fi
for round in 1 2; do
    for np in 1 2; do
        out=$T/np$np.$round
        mpirun -np $np --bind-to none ./moelens train lm --out "$out" $cfg 2>/dev/null
        echo "preset $PRESET np $np round $round: $(median_tps "$out")"
    done
done | tee "$T/log"
awk '{for (i = 2; i <= NF; i++) if ($i == "tokens/s") v = $(i - 1)}
     / np 1 / {a += v; na++} / np 2 / {b += v; nb++}
     END {printf "speed-up np2/np1: %.2f (mean of %d rounds)\n", (b / nb) / (a / na), na}' "$T/log"
for mode in "" "--ep 2"; do
    mpirun -np 2 --bind-to none ./moelens train lm --out "$T/traffic" $cfg --set steps=2 $mode 2>/dev/null
    python3 -c 'import json,sys
v=[json.loads(l) for l in open(sys.argv[1]) if "comm_reduced_bytes" in l][-1]
print("np 2 %s: per rank per step %.1f MB reduced, %.2f MB all-to-all" % (sys.argv[2] or "DP",
      v["comm_reduced_bytes"] / 1e6, v["comm_alltoall_bytes"] / 1e6))' "$T/traffic/metrics.jsonl" "$mode"
done
mpicc -O2 -Isrc bench/dist_allreduce.c build/libmoelens.a -o build/dist_allreduce
mpirun -np 2 --bind-to none build/dist_allreduce
