#!/bin/sh
# make bench: moelens vs the PyTorch peer on the same configs, 2 threads, order A B A B; prints
# the ratio moelens/PyTorch and the fraction of the machine's measured sgemm peak, for the MoE
# language model (bench_lm.c / lm_peer.py) and the conv-MoE vision model (bench_vision.c /
# vision_peer.py, training images/s on a fixed random batch); then GGUF batch forward against
# llama.cpp with peak RSS (bench/gguf_bench.sh; skipped with a message without the oracle).
set -e
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# Both sides sleep at OpenMP barriers: on a shared 2-core machine spinning threads starve each other
# (measured: the vision model trained 15-20 img/s spinning vs 400-800 passive; PyTorch 30-40 vs 300).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# OpenBLAS picks its kernels for the CPU when it loads unless OPENBLAS_CORETYPE names some (the
# machine this was developed on sets Haswell, AVX2, in its environment, although its CPU runs
# OpenBLAS's AVX-512 kernels at twice the sgemm rate). Both sides use Debian's OpenBLAS (PyTorch's
# BLAS is libblas.so.3 = OpenBLAS), so the bench gives both the same choice: OpenBLAS's own
# detection, or BENCH_CORETYPE for both (e.g. BENCH_CORETYPE=Haswell).
if [ -n "${BENCH_CORETYPE:-}" ]; then export OPENBLAS_CORETYPE="$BENCH_CORETYPE"; else unset OPENBLAS_CORETYPE; fi
BUILD=${BUILD:-build}
cc -O3 -march=native -fopenmp -Isrc bench/bench_lm.c $BUILD/libmoelens.a \
   -L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp \
   -lopenblas -lcjson -lpng -lz -lm -o $BUILD/bench_lm
cc -O3 -march=native -fopenmp -Isrc bench/bench_vision.c $BUILD/libmoelens.a \
   -L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp \
   -lopenblas -lcjson -lpng -lz -lm -o $BUILD/bench_vision
STEPS=${STEPS:-10}
out=$(mktemp)
# the peak is the best of three measurements (start, middle, end): one alone can land on a busy moment
# A B A B per preset: moelens' bench ($1) then its PyTorch peer ($2), $3 steps each
a_b_a_b() {
    for preset in tiny small; do
        for round in 1 2; do
            $BUILD/$1 $preset $3 | tee -a "$out"
            /usr/bin/python3 bench/$2 $preset $3 | tee -a "$out"
        done
    done
}
$BUILD/bench_lm sgemm | tee -a "$out"
a_b_a_b bench_lm lm_peer.py $STEPS
$BUILD/bench_lm sgemm | tee -a "$out"
a_b_a_b bench_vision vision_peer.py ${VSTEPS:-10}
$BUILD/bench_lm sgemm | tee -a "$out"
sh bench/gguf_bench.sh | tee -a "$out"
/usr/bin/python3 bench/summarize.py "$out"
rm -f "$out"
