#!/bin/sh
# Data-parallel training over MPI (mpirun -np 2): the same losses, gradient norms and routing counts
# as one process within 1e-5 relative (measured: ≤ 2e-7), with and without ZeRO-1 and expert
# parallelism (with its experts reduced and updated by their owners alone), with the gradient sums
# after the backward or overlapped with it; a 2-rank checkpoint that loads in one process; resume
# at another rank count; and a failing, killed or stalled rank that ends the whole job with one
# clear error instead of a hang.
# Sharded analyze (8): every output file equal to one process's. Skipped (77) without mpirun or an
# MPI-capable build.
set -eu
command -v mpirun >/dev/null 2>&1 || { echo "mpirun not installed (apt-get install openmpi-bin)"; exit 77; }
ldd ./moelens | grep -q libmpi || { echo "moelens built without MPI (make MPI=1)"; exit 77; }
. tests/cli/lib/corpus.sh
# Open MPI refuses root without these; set here only, for this test's processes.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fixture_corpus "$T/text"
run2() { timeout 120 mpirun -np 2 --oversubscribe --bind-to none "$@"; }
same() { python3 tests/cli/lib/compare_metrics.py "$1/metrics.jsonl" "$2/metrics.jsonl" 1e-5; }

# 1. 50 steps with router noise, jitter and a capacity limit (every batch statistic that crosses
#    ranks: noise streams, capacity fill order, f_e and P_e of the load-balance loss).
cfg="--data $T/text --set d_model=64 --set n_layer=2 --set n_head=2 --set seq_len=32 --set batch=8
     --set expert_hidden=64 --set n_experts=4 --set steps=50 --set warmup=4 --set ckpt_every=0
     --set eval_every=25 --set log_every=1 --set router_noise=0.1 --set router_jitter=0.05
     --set capacity_factor=1.25"
./moelens train lm --out "$T/one" $cfg 2>"$T/one.err"
run2 ./moelens train lm --out "$T/two" $cfg 2>"$T/two.err"
same "$T/one" "$T/two"
[ "$(grep -c 'val loss' "$T/two.err")" = 1 ] # rank 0 alone reports progress
./moelens eval "$T/two" --json | tail -n 1 | grep -q '"ppl"'

# 1b. The runs here overlap the gradient sums with the backward (grad_overlap=1, the default: each
#     block's span begun nonblocking as the backward finishes it, the embeddings last; skipping one
#     block's sum gives 0.12 relative in the gradient norm, tried). The sums after the backward
#     (grad_overlap=0) equal one process too, and at 2 ranks (a + b either way) bit for bit the
#     overlapped ones.
run2 ./moelens train lm --out "$T/ov" $cfg --set grad_overlap=0 2>/dev/null
same "$T/one" "$T/ov"
python3 tests/cli/lib/compare_metrics.py "$T/two/metrics.jsonl" "$T/ov/metrics.jsonl" 0

# 2. Sequence-level routing, sigmoid scores with balancing bias, zero and shared experts, SwiGLU,
#    grad accumulation; the optimizer sharded over the ranks (ZeRO-1: reduce-scatter, AdamW on a
#    block, gather) and the experts spread over them (--ep 2: rows sent to the expert's rank and
#    back by all-to-all, forward and backward).
cfg2="--data $T/text --set d_model=64 --set n_layer=2 --set n_head=2 --set seq_len=32 --set batch=4
      --set expert_hidden=64 --set n_experts=4 --set n_zero=2 --set score=sigmoid
      --set expert_act=swiglu --set n_shared=1
      --set routing=seq_causal --set grad_accum=2 --set router_noise=0.2 --set steps=20
      --set warmup=2 --set ckpt_every=0 --set eval_every=0 --set log_every=1"
./moelens train lm --out "$T/a1" $cfg2 2>/dev/null
run2 ./moelens train lm --out "$T/a2" $cfg2 --zero1 --ep 2 2>/dev/null
same "$T/a1" "$T/a2"
# --ep 2 alone: each rank holds, reduces and updates only its own experts (expert-parallel
# storage: nothing to all-gather after the step). Rank 0 sends exactly the experts' 2·4·3·64·64
# floats fewer bytes than pure data parallelism (ring model: an all-reduce sends the vector once at
# N = 2; each expert's shard is one rank here, so its sum sends nothing), less the one double of
# the group's gradient-norm sum. (With full copies, --zero1 --ep 2, half of that is all-gathered.)
run2 ./moelens train lm --out "$T/e2" $cfg2 --ep 2 2>/dev/null
same "$T/a1" "$T/e2"
run2 ./moelens train lm --out "$T/d2" $cfg2 2>/dev/null
# the sums after the backward (not overlapped): ZeRO-1's reduce-scatter of the whole gradient,
# EP's experts summed by their owners alone, the same bytes as the spans begun during it
run2 ./moelens train lm --out "$T/o2" $cfg2 --zero1 --ep 2 --set grad_overlap=0 2>/dev/null
same "$T/a1" "$T/o2"
run2 ./moelens train lm --out "$T/oe" $cfg2 --ep 2 --set grad_overlap=0 2>/dev/null
same "$T/a1" "$T/oe"
# And rank 0 holds its 2 of the 4 experts of each layer (weights, gradients, moments alike: one
# block of rank_params floats each); with --zero1 --ep 2 every rank holds all of them.
python3 - "$T/d2/metrics.jsonl" "$T/e2/metrics.jsonl" "$T/oe/metrics.jsonl" "$T/a2/metrics.jsonl" <<'PY'
import json, sys
steps = [[json.loads(l) for l in open(p) if '"comm_reduced_bytes"' in l][1] for p in sys.argv[1:]]
sent = [s["comm_reduced_bytes"] for s in steps]
held = [s["rank_params"] for s in steps]
assert sent[0] - sent[1] == 2 * 4 * 3 * 64 * 64 * 4 - 8 and sent[2] == sent[1], sent
assert held[0] - held[1] == 2 * 4 * 3 * 64 * 64 // 2 and held[3] == held[0], held
PY
# Expert-parallel storage in the library (tests/mpi/ep_store.c): each rank's block is the model
# less half of every MoE layer's experts, holding lm_create's values for its own; the group's
# checkpoint is byte for byte one process's file and loads there with identical losses; each rank
# reads its slabs of a one-process file; a forward through the owners equals the whole model's.
blas=/usr/lib/x86_64-linux-gnu/openblas-openmp
mpicc -O2 -fopenmp -Isrc tests/mpi/ep_store.c build/libmoelens.a -L$blas -Wl,-rpath,$blas \
    -lopenblas -lcjson -lpng -lz -lm -o "$T/ep_store"
run2 "$T/ep_store" "$T"
# Evaluation runs through the experts' owners too: 3 batches over 2 ranks leave rank 1 a last
# round without a batch, in which it still joins its group's exchanges.
short="$cfg2 --set steps=3 --set eval_batches=3"
./moelens train lm --out "$T/v1" $short 2>/dev/null
run2 ./moelens train lm --out "$T/v2" $short --ep 2 2>/dev/null
same "$T/v1" "$T/v2"

# 3. Resume at another rank count: stopped after 8 steps by one process, finished by two (ZeRO-1:
#    each rank takes its block of the saved moments, and the final checkpoint gathers them).
set +e
./moelens train lm --out "$T/r" $cfg2 --stop-after 8 2>/dev/null
rc=$?
set -e
[ "$rc" = 130 ]
run2 ./moelens train lm --out "$T/r" --data "$T/text" --resume --zero1 --ep 2 2>/dev/null
same "$T/a1" "$T/r"
# both continued by one process for 4 steps: equal only if the gathered AdamW moments are whole
./moelens train lm --out "$T/r" --data "$T/text" --resume --steps 24 2>/dev/null
./moelens train lm --out "$T/a1" --data "$T/text" --resume --steps 24 2>/dev/null
same "$T/a1" "$T/r"
# the same with --ep 2 alone: its checkpoint holds whole moments only if the group gathered every
# owner's slabs (without that the 4 steps by one process differ at ~1e-4)
set +e
./moelens train lm --out "$T/re" $cfg2 --stop-after 8 2>/dev/null
rc=$?
set -e
[ "$rc" = 130 ]
run2 ./moelens train lm --out "$T/re" --data "$T/text" --resume --ep 2 2>/dev/null
./moelens train lm --out "$T/re" --data "$T/text" --resume --steps 24 2>/dev/null
same "$T/a1" "$T/re"

# 4. A rank that fails (rank 1 alone is given a missing data folder): one error line naming the
#    rank and the file, non-zero exit, no hang while rank 0 waits in a collective.
set +e
timeout 60 mpirun -np 1 --bind-to none ./moelens train lm --out "$T/f" $cfg : \
    -np 1 --bind-to none ./moelens train lm --out "$T/f" $cfg --data "$T/nowhere" 2>"$T/f.err"
rc=$?
set -e
cat "$T/f.err"
[ "$rc" != 0 ] && [ "$rc" != 124 ]
[ "$(grep -c 'moelens: error' "$T/f.err")" = 1 ]
grep -q 'moelens: error: rank 1 of 2: .*nowhere/train.tokens' "$T/f.err"
[ ! -e "$T/f/checkpoint.safetensors" ]

# A long 2-rank run in the background (rank 1's pid in $victim, mpirun's in $mp), started once it
# has logged a step; stop_run waits for it (a watchdog turns a hang into a failure) and sets $rc.
big="$cfg --set steps=100000 --set eval_every=0"
start_run() {
    mpirun -np 2 --oversubscribe --bind-to none ./moelens train lm --out "$1" $big >/dev/null \
        2>"$1.err" &
    mp=$!
    (sleep 120 && kill $mp) 2>/dev/null &
    dog=$!
    i=0
    while [ ! -s "$1/metrics.jsonl" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    victim=""
    for p in $(pgrep -P $mp); do grep -qz '^OMPI_COMM_WORLD_RANK=1$' /proc/$p/environ && victim=$p; done
}
stop_run() {
    set +e
    wait $mp
    rc=$?
    set -e
    kill $dog 2>/dev/null || true
}

# 5. A rank killed mid-run (SIGKILL): mpirun stops the other and exits non-zero, naming the rank.
start_run "$T/k"
[ -n "$victim" ]
kill -9 "$victim"
stop_run
[ "$rc" != 0 ] && [ "$rc" != 143 ]
grep -q 'rank 1 .*exited on signal 9' "$T/k.err"

# 5a. A rank that stops without dying (SIGSTOP): the other waits in a collective until the
#     watchdog (MOELENS_COLLECTIVE_TIMEOUT, here 3 s) ends it with one error naming the collective.
export MOELENS_COLLECTIVE_TIMEOUT=3
start_run "$T/s"
[ -n "$victim" ]
kill -STOP "$victim"
t0=$(date +%s)
stop_run
unset MOELENS_COLLECTIVE_TIMEOUT
[ "$rc" != 0 ] && [ "$rc" != 143 ] && [ $(($(date +%s) - t0)) -lt 60 ]
grep -q 'moelens: error: rank 0 of 2: .* waited more than 3 s for the other ranks' "$T/s.err"
kill -9 "$victim" 2>/dev/null || true
# ... and one waiting for reductions begun nonblocking (the overlapped gradient sums): rank 1 joins
# 5 s late, rank 0's wait ends after 1 s with the same line (tests/mpi/dist_overlap.c, which also
# checks those reductions' sums and bytes against the blocking ones).
mpicc -O2 -Isrc tests/mpi/dist_overlap.c build/libmoelens.a -o "$T/dist_overlap"
run2 "$T/dist_overlap"
set +e
MOELENS_COLLECTIVE_TIMEOUT=1 run2 "$T/dist_overlap" stall 2>"$T/st.err"
rc=$?
set -e
[ "$rc" != 0 ] && [ "$rc" != 124 ]
grep -q 'moelens: error: rank 0 of 2: an overlapped reduction waited more than 1 s' "$T/st.err"

# 5b. SIGUSR1 to mpirun (forwarded to every rank, unlike SIGINT): all ranks stop at the same step,
#     rank 0 saves a checkpoint, status 130, and the run resumes.
start_run "$T/u"
kill -USR1 $mp
stop_run
[ "$rc" = 130 ]
done_steps=$(tail -n 1 "$T/u/metrics.jsonl" | sed -E 's/.*"step":([0-9]+).*/\1/')
run2 ./moelens train lm --out "$T/u" --data "$T/text" --resume --steps $((done_steps + 2)) 2>/dev/null

# 6. A batch that does not split over the ranks: one clear error.
set +e
run2 ./moelens train lm --out "$T/b" $cfg --set batch=7 2>"$T/b.err"
rc=$?
set -e
[ "$rc" != 0 ]
grep -q 'batch 7 does not split over 2 ranks' "$T/b.err"

# 7. Commands that are not distributed refuse to run as N copies writing the same files.
set +e
run2 ./moelens eval "$T/two" 2>"$T/e.err"
rc=$?
set -e
[ "$rc" != 0 ]
grep -q 'eval: runs in one process' "$T/e.err"
# 8. Sharded analyze (batch g of the stream to rank g mod N, statistics reduced, rank 0 writes) on
#    a run and on its GGUF export: every file as one process writes it; counts, traces and
#    per-token rows byte for byte, float statistics within 1e-6 (measured: ≤ 3e-15 for the
#    reassociated sums, ≤ 3e-9 for prune's held-out perplexities, whose windows are forwarded in
#    other groups). Small caps put the k', trace and lens cut-offs mid-stream.
./moelens train lm --out "$T/an" --data "$T/text" --set block=llama --set d_model=32 --set n_layer=2 \
    --set n_head=2 --set seq_len=32 --set batch=4 --set expert_hidden=32 --set n_experts=4 \
    --set steps=10 --set eval_every=0 --set ckpt_every=0 2>/dev/null
./moelens export "$T/an" --gguf "$T/an.gguf" >/dev/null
printf 'the cat sat on the mat\tthe dog sat on the mat\nfor i in range(3):\tfor j in range(3):\n' \
    >"$T/pairs.tsv"
caps="--kprime-tokens 1000 --trace-tokens 1500 --lens-tokens 64 --boot 50"
an_same() { /usr/bin/python3 tests/cli/lib/compare_analysis.py "$1" "$2" 1e-6; }
set -- "$T/an" --only routing,specialise,topk,lens,prune --prune-tokens 1024 $caps
./moelens analyze "$@" --quiet --out "$T/an1"
run2 ./moelens analyze "$@" --out "$T/an2" 2>"$T/an2.err"
an_same "$T/an1" "$T/an2"
[ "$(grep -c 'analyze: wrote' "$T/an2.err")" = 1 ] # rank 0 alone reports
set -- "$T/an.gguf" --data tests/fixtures/text/en.txt --batch 3 --pairs "$T/pairs.tsv" --mask-top 2 \
    --sens-ppl-tokens 512 $caps --quiet
./moelens analyze "$@" --out "$T/ag1"
run2 ./moelens analyze "$@" --out "$T/ag2"
an_same "$T/ag1" "$T/ag2"
# a rank that fails (rank 1 alone is given a missing text): one error line, no hang, no output
set +e
timeout 60 mpirun -np 1 --bind-to none ./moelens analyze "$T/an" --quiet --out "$T/af" : \
    -np 1 --bind-to none ./moelens analyze "$T/an" --data "$T/nowhere" --quiet --out "$T/af" \
    2>"$T/af.err"
rc=$?
set -e
[ "$rc" != 0 ] && [ "$rc" != 124 ]
[ "$(grep -c 'moelens: error' "$T/af.err")" = 1 ]
grep -q 'moelens: error: rank 1 of 2: .*nowhere/val.tokens' "$T/af.err"
[ ! -e "$T/af" ]
echo "mpi: data and expert parallel equal one process; failures stop the job"
