/* The nonblocking reductions of src/dist/dist.h under mpirun (tests/cli/mpi.sh builds and runs it):
 * spans of uneven sizes begun one after another, more than DIST_INFLIGHT_FLOATS in all (so begins
 * wait for the oldest), give every rank the sums the blocking all-reduce and reduce-scatter give,
 * and send the same bytes. `stall`: rank 1 joins late, and rank 0's wait for the begun reduction
 * must end under MOELENS_COLLECTIVE_TIMEOUT with the watchdog's error line.
 *   mpicc -O2 -Isrc tests/mpi/dist_overlap.c build/libmoelens.a -o dist_overlap
 *   mpirun -np 2 dist_overlap [stall] */
#include "core/mem.h"
#include "dist/dist.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { N = 9 * DIST_BUCKET_FLOATS + 12345 };

/* Span i's length: irregular, some larger than a bucket, some tiny. */
static long span_len(int i) {
    static const long len[] = {3, DIST_BUCKET_FLOATS + 7, 1000, 2 * DIST_BUCKET_FLOATS, 1, 77777};
    return len[i % 6];
}

/* A value whose sum over the ranks is exact in float: small integers. */
static float value(int r, long i) {
    return (float)((i * 7 + r * 13) % 1024);
}

static float expected(long i) {
    float s = 0;
    for (int r = 0; r < dist_size(); r++) s += value(r, i);
    return s;
}

static void fill(float *x) {
    for (long i = 0; i < N; i++) x[i] = value(dist_rank(), i);
}

/* Begins x's reduction in spans of span_len, progressing between them; returns the bytes sent. */
static double begin_spans(float *x, int scatter) {
    double sent = dist_traffic().reduced;
    long at = 0;
    for (int i = 0; at < N; i++) {
        long n = span_len(i) < N - at ? span_len(i) : N - at;
        if (scatter)
            dist_reduce_scatter_f32_begin(x, N, at, at + n);
        else
            dist_sum_f32_begin(x + at, n);
        dist_progress();
        at += n;
    }
    dist_wait();
    return dist_traffic().reduced - sent;
}

static long wrong_sums(const float *x, long lo, long hi) {
    long wrong = 0;
    for (long i = lo; i < hi; i++) wrong += x[i] != expected(i);
    return wrong;
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    float *x = ml_alloc_floats(N);
    if (argc > 1 && !strcmp(argv[1], "stall")) {
        if (dist_rank() == 1) sleep(5); /* rank 0 waits alone: the watchdog must end the job */
        dist_sum_f32_begin(x, N);
        dist_wait();
        printf("rank %d: the wait returned\n", dist_rank());
        return 0;
    }
    long lo, hi;
    dist_block(N, dist_rank(), &lo, &hi);
    fill(x);
    double sent = begin_spans(x, 0);
    long wrong = wrong_sums(x, 0, N);
    fill(x);
    double blocking = dist_traffic().reduced;
    dist_sum_f32(x, N);
    blocking = dist_traffic().reduced - blocking;
    fill(x);
    double sent_rs = begin_spans(x, 1);
    long wrong_rs = wrong_sums(x, lo, hi);
    fill(x);
    double blocking_rs = dist_traffic().reduced;
    dist_reduce_scatter_f32(x, N);
    blocking_rs = dist_traffic().reduced - blocking_rs;
    printf("rank %d: all-reduce %ld wrong of %d, %.0f bytes (blocking %.0f); reduce-scatter %ld "
           "wrong of %ld, %.0f bytes (blocking %.0f)\n",
           dist_rank(), wrong, N, sent, blocking, wrong_rs, hi - lo, sent_rs, blocking_rs);
    ml_free(x);
    return wrong || wrong_rs || sent != blocking || sent_rs != blocking_rs;
}
