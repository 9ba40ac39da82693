/* The MPI world: one process per rank of MPI_COMM_WORLD. Only the main thread calls MPI (OpenMP
 * regions never do), so MPI_THREAD_FUNNELED is enough. */
#ifdef MOELENS_MPI
#include "dist/dist.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int started, rank, size = 1;

/* Set by Open MPI's, MPICH's and PMIx launchers: a process started by hand is a world of one and
 * does not pay for (or depend on) MPI start-up. */
static int under_launcher(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

void dist_init(int *argc, char ***argv) {
    if (started || !under_launcher()) return;
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    started = 1;
    atexit(dist_finalize);
}

int dist_rank(void) {
    return rank;
}
int dist_size(void) {
    return size;
}
int dist_available(void) {
    return 1;
}

void dist_finalize(void) {
    int done = 0;
    if (started) MPI_Finalized(&done);
    if (started && !done) MPI_Finalize();
}

void dist_abort(int status) {
    fflush(stdout);
    fflush(stderr);
    if (started && size > 1) MPI_Abort(MPI_COMM_WORLD, status);
    exit(status);
}

void dist_error_pause(void) {
    if (started && rank > 0) sleep(2);
}

/* Sums in buckets: MPI counts are ints, and a bounded message keeps memory flat. */
static void sum_buckets(void *x, long n, MPI_Datatype type, size_t elem) {
    if (size == 1) return;
    for (long i = 0; i < n; i += DIST_BUCKET_FLOATS) {
        int c = (int)(n - i < DIST_BUCKET_FLOATS ? n - i : DIST_BUCKET_FLOATS);
        MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * elem, c, type, MPI_SUM, MPI_COMM_WORLD);
    }
}

void dist_sum_f32(float *x, long n) {
    sum_buckets(x, n, MPI_FLOAT, sizeof *x);
}
void dist_sum_f64(double *x, long n) {
    sum_buckets(x, n, MPI_DOUBLE, sizeof *x);
}

void dist_exscan_f64(double *x, long n) {
    if (size == 1 || n == 0) {
        for (long i = 0; i < n; i++) x[i] = 0;
        return;
    }
    MPI_Exscan(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) /* MPI leaves rank 0's buffer undefined */
        for (long i = 0; i < n; i++) x[i] = 0;
}

void dist_block(long n, int r, long *lo, long *hi) {
    *lo = n * r / size, *hi = n * (r + 1) / size;
}

/* Counts and displacements of the S blocks (ints: a block must stay under 2^31 elements). */
static void block_layout(long n, int *counts, int *displs) {
    for (int r = 0; r < size; r++) {
        long lo, hi;
        dist_block(n, r, &lo, &hi);
        counts[r] = (int)(hi - lo), displs[r] = (int)lo;
    }
}

void dist_reduce_scatter_f32(float *x, long n) {
    if (size == 1) return;
    int counts[size], displs[size];
    block_layout(n, counts, displs);
    /* in place, MPI leaves this rank's block at the start of x: move it to where it belongs */
    MPI_Reduce_scatter(MPI_IN_PLACE, x, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    memmove(x + displs[rank], x, (size_t)counts[rank] * sizeof *x);
}

void dist_allgather_f32(float *x, long n) {
    if (size == 1) return;
    int counts[size], displs[size];
    block_layout(n, counts, displs);
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, displs, MPI_FLOAT,
                   MPI_COMM_WORLD);
}

void dist_bcast_f32(float *x, long n, int root) {
    if (size == 1) return;
    for (long i = 0; i < n; i += DIST_BUCKET_FLOATS) {
        int c = (int)(n - i < DIST_BUCKET_FLOATS ? n - i : DIST_BUCKET_FLOATS);
        MPI_Bcast(x + i, c, MPI_FLOAT, root, MPI_COMM_WORLD);
    }
}

int dist_all_equal_u64(uint64_t v) {
    if (size == 1) return 1;
    uint64_t lo = v, hi = v;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

void dist_barrier(void) {
    if (size > 1) MPI_Barrier(MPI_COMM_WORLD);
}
#endif
