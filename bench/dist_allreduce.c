/* Times the data-parallel collectives on an n-float gradient (default: the small preset's 27.0 M
 * parameters with the fixture vocabulary): the bucketed all-reduce (dist_sum_f32) and ZeRO-1's
 * reduce-scatter + all-gather. Prints the median seconds over reps and the bytes each rank sends
 * by the ring model, 2(N-1)/N·4n.
 *   mpicc -O2 -Isrc bench/dist_allreduce.c build/libmoelens.a -o build/dist_allreduce
 *   mpirun -np 2 build/dist_allreduce [N_FLOATS [REPS]] */
#include "core/mem.h"
#include "core/progress.h"
#include "dist/dist.h"
#include <stdio.h>
#include <stdlib.h>

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_seconds(float *x, long n, int reps, int zero1) {
    double t[reps];
    for (int r = 0; r < reps; r++) {
        dist_barrier();
        double t0 = ml_now();
        if (zero1) {
            dist_reduce_scatter_f32(x, n);
            dist_allgather_f32(x, n);
        } else {
            dist_sum_f32(x, n);
        }
        t[r] = ml_now() - t0;
    }
    qsort(t, reps, sizeof t[0], by_value);
    return t[reps / 2];
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    long n = argc > 1 ? atol(argv[1]) : 27021824;
    int reps = argc > 2 ? atoi(argv[2]) : 5, N = dist_size();
    float *x = ml_alloc_floats(n);
    for (long i = 0; i < n; i++) x[i] = 1e-3f * (float)(i % 1000);
    double ar = median_seconds(x, n, reps, 0), z1 = median_seconds(x, n, reps, 1);
    /* the sharded pair must give every rank the all-reduce's sum: N·x for x equal on all ranks */
    for (long i = 0; i < n; i++) x[i] = (float)(i % 1000);
    dist_reduce_scatter_f32(x, n);
    dist_allgather_f32(x, n);
    long wrong = 0;
    for (long i = 0; i < n; i++) wrong += x[i] != (float)N * (float)(i % 1000);
    double sent = 2.0 * (N - 1) / N * 4.0 * n;
    if (dist_rank() == 0)
        printf(
            "np %d, %ld floats (%.1f MB): all-reduce %.4f s, reduce-scatter + all-gather %.4f s; "
            "ring sends %.1f MB/rank (%.2f GB/s at the all-reduce's time); %ld wrong sums\n",
            N, n, 4e-6 * n, ar, z1, sent / 1e6, sent / ar / 1e9, wrong);
    ml_free(x);
    return 0;
}
