#!/bin/sh
# Sharded analysis on this machine: `moelens analyze` at one process and at mpirun -np 2, one
# OpenMP thread per rank, order A B A B A B; prints each run's whole-process wall time, the
# start-up of mpirun alone, and the files compared (tests/cli/lib/compare_analysis.py).
# The model: PRESET (block llama) trained 5 steps on DATA; analysed on DATA's validation set.
# usage: sh bench/mpi_analyze.sh [PRESET [DATA]]   (defaults: tiny, the test fixtures)
set -e
cd "$(dirname "$0")/.."
PRESET=${1:-tiny} DATA=${2:-}
. bench/mpi_env.sh
./moelens train lm --out "$T/run" --data "$DATA" --preset "$PRESET" --set block=llama \
    --set steps=5 --set eval_every=0 --set ckpt_every=0 >/dev/null 2>&1
wall() { # seconds the command takes, whole process
    s=$(date +%s.%N)
    "$@"
    python3 -c "import sys, time; print('%.2f' % (time.time() - float(sys.argv[1])))" "$s"
}
for round in 1 2 3; do
    echo "np 1 round $round: $(wall ./moelens analyze "$T/run" --boot 200 --quiet --out "$T/a1") s"
    echo "np 2 round $round: $(wall mpirun -np 2 --oversubscribe --bind-to none ./moelens analyze \
        "$T/run" --boot 200 --quiet --out "$T/a2") s"
done
quiet() { "$@" >/dev/null; }
echo "mpirun -np 2 alone: $(wall quiet mpirun -np 2 --oversubscribe --bind-to none ./moelens \
    analyze --help) s"
python3 -c 'import json, sys
for d in sys.argv[1:]:
    s = json.load(open(d + "/analyze.json"))["seconds"]
    print(d[-2:], "rank 0 seconds:", {k: round(v, 2) for k, v in s.items()})' "$T/a1" "$T/a2"
/usr/bin/python3 tests/cli/lib/compare_analysis.py "$T/a1" "$T/a2" 1e-6
uptime
