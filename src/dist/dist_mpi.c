/* The MPI world: one process per rank of MPI_COMM_WORLD. Only the main thread calls MPI (OpenMP
 * regions never do), so MPI_THREAD_FUNNELED is enough. */
#ifdef MOELENS_MPI
#include "core/error.h"
#include "core/mem.h"
#include "dist/dist.h"
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int started, rank, size = 1;
static MPI_Comm ep_comm = MPI_COMM_NULL;    /* expert-parallel group (dist_ep_init) */
static MPI_Comm shard_comm = MPI_COMM_NULL; /* rank g of every group: the same expert shard */
static int ep_rank, ep_size = 1, shard_size = 1;
static DistTraffic traffic;

/* Set by Open MPI's, MPICH's and PMIx launchers: a process started by hand is a world of one and
 * does not pay for (or depend on) MPI start-up. */
static int under_launcher(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

/* The collective watchdog. A killed rank ends the job through the launcher, but a rank that stops
 * without dying (frozen, swapped out, stuck on a file system, or diverged into another code path)
 * would leave the others waiting in a collective forever. Each collective below is bracketed by
 * watch_begin/watch_end; a thread checks every 200 ms and, when one has waited longer than
 * MOELENS_COLLECTIVE_TIMEOUT seconds (default 600; 0: never), prints one error naming the rank
 * and the collective and ends this process, after which the launcher stops the others. It calls
 * no MPI (MPI_THREAD_FUNNELED: only the main thread may), hence _exit and not MPI_Abort. */
static atomic_llong watch_since_ms; /* when the pending collective began; 0: none pending */
static const char *_Atomic watch_what;
static double watch_timeout_s = 600;

static long long monotonic_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Every collective is bracketed by these two, so they also add up its time (DistTraffic). */
static double watch_t0;
static void watch_begin(const char *what) {
    atomic_store(&watch_what, what);
    atomic_store(&watch_since_ms, monotonic_ms());
    watch_t0 = MPI_Wtime();
}
static void watch_end(void) {
    traffic.seconds += MPI_Wtime() - watch_t0;
    atomic_store(&watch_since_ms, 0);
}

static void *watchdog(void *arg) {
    (void)arg;
    for (;;) {
        usleep(200000);
        long long since = atomic_load(&watch_since_ms);
        if (!since || monotonic_ms() - since <= watch_timeout_s * 1000) continue;
        fprintf(stderr,
                "moelens: error: rank %d of %d: %s waited more than %g s for the other ranks "
                "(MOELENS_COLLECTIVE_TIMEOUT): a rank has stalled; stopping the job\n",
                rank, size, atomic_load(&watch_what), watch_timeout_s);
        fflush(stderr);
        _exit(1);
    }
    return NULL;
}

/* MOELENS_COLLECTIVE_TIMEOUT: seconds ≥ 0 (0: no watchdog); anything else is refused. */
static void start_watchdog(void) {
    const char *v = getenv("MOELENS_COLLECTIVE_TIMEOUT");
    if (v) {
        char *end;
        watch_timeout_s = strtod(v, &end);
        if (end == v || *end || !(watch_timeout_s >= 0))
            ml_fatal("MOELENS_COLLECTIVE_TIMEOUT: expected seconds >= 0 (0: never), got '%s'", v);
    }
    pthread_t t;
    if (watch_timeout_s > 0 && size > 1 && !pthread_create(&t, NULL, watchdog, NULL))
        pthread_detach(t);
}

void dist_init(int *argc, char ***argv) {
    if (started || !under_launcher()) return;
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    started = 1;
    atexit(dist_finalize);
    start_watchdog();
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

/* Nonblocking reductions begun and not yet waited for, in the order begun (reqs[i] is pend[i]'s
 * request; MPI_Testall wants them in one array). [oldest, n_pend) may still be in flight. */
typedef struct {
    long n;         /* floats in flight */
    int *counts;    /* a reduce-scatter's counts, which MPI reads until the request completes */
    float *to, *at; /* then this rank's sums move from `at` (the bucket's start) to `to` */
} Pending;
static Pending *pend;
static MPI_Request *reqs;
static int n_pend, cap_pend, oldest;
static long in_flight;

void dist_finalize(void) {
    free(pend), free(reqs); /* the overlapped reductions' lists (dist_wait emptied them) */
    pend = NULL, reqs = NULL, cap_pend = 0;
    int done = 0;
    if (started) MPI_Finalized(&done);
    if (started && !done && ep_comm != MPI_COMM_NULL) MPI_Comm_free(&ep_comm);
    if (started && !done && shard_comm != MPI_COMM_NULL) MPI_Comm_free(&shard_comm);
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

/* Bytes one rank sends in a collective over S ranks whose ring algorithm moves `bytes` in all:
 * an all-reduce 2(S−1)/S of the vector (reduce-scatter, then all-gather), an all-gather or a
 * reduce-scatter (S−1)/S. This is the model bench/comm_volume.py computes, whatever algorithm
 * the MPI library picks. */
static double ring_sent(int S, double bytes) {
    return S > 1 ? bytes * (S - 1) / S : 0;
}

/* Sums over comm (of comm_size ranks) in buckets: MPI counts are ints, and a bounded message
 * keeps memory flat. */
static void sum_buckets(void *x, long n, MPI_Datatype type, size_t elem, MPI_Comm comm,
                        int comm_size) {
    if (comm_size == 1) return;
    for (long i = 0; i < n; i += DIST_BUCKET_FLOATS) {
        int c = (int)(n - i < DIST_BUCKET_FLOATS ? n - i : DIST_BUCKET_FLOATS);
        watch_begin("an all-reduce");
        MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * elem, c, type, MPI_SUM, comm);
        watch_end();
        traffic.reduced += ring_sent(comm_size, 2.0 * c * elem);
    }
}

void dist_sum_f32(float *x, long n) {
    sum_buckets(x, n, MPI_FLOAT, sizeof *x, MPI_COMM_WORLD, size);
}
void dist_sum_f64(double *x, long n) {
    sum_buckets(x, n, MPI_DOUBLE, sizeof *x, MPI_COMM_WORLD, size);
}
void dist_shard_sum_f32(float *x, long n) {
    sum_buckets(x, n, MPI_FLOAT, sizeof *x, shard_comm, shard_size);
}
void dist_ep_sum_f64(double *x, long n) {
    sum_buckets(x, n, MPI_DOUBLE, sizeof *x, ep_comm, ep_size);
}

void dist_max_i32(int32_t *x, long n) {
    if (size == 1) return;
    for (long i = 0; i < n; i += DIST_BUCKET_FLOATS) {
        int c = (int)(n - i < DIST_BUCKET_FLOATS ? n - i : DIST_BUCKET_FLOATS);
        watch_begin("a maximum");
        MPI_Allreduce(MPI_IN_PLACE, x + i, c, MPI_INT32_T, MPI_MAX, MPI_COMM_WORLD);
        watch_end();
        traffic.reduced += ring_sent(size, 2.0 * c * sizeof *x);
    }
}

void dist_exscan_f64(double *x, long n) {
    if (size == 1 || n == 0) {
        for (long i = 0; i < n; i++) x[i] = 0;
        return;
    }
    watch_begin("a prefix sum");
    MPI_Exscan(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    watch_end();
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

/* The ZeRO-1 collectives go bucket by bucket like the all-reduce: Open MPI's in-place
 * reduce-scatter and all-gather allocate temporaries the size of what they are given, so one call
 * over the whole gradient would cost a gradient's worth of memory. In bucket [b0, b1) rank r's
 * part is its block cut to the bucket (often empty); counts and offsets are relative to b0. */
static void bucket_layout(long n, long b0, long b1, int *counts, int *displs) {
    for (int r = 0; r < size; r++) {
        long lo, hi;
        dist_block(n, r, &lo, &hi);
        lo = lo > b0 ? lo : b0, hi = hi < b1 ? hi : b1;
        counts[r] = hi > lo ? (int)(hi - lo) : 0, displs[r] = hi > lo ? (int)(lo - b0) : 0;
    }
}

/* The bucket loop both share: gather = 0 reduce-scatters x (rank r keeps the sums of its block),
 * gather = 1 all-gathers every rank's block into x. */
static void zero1_collective(float *x, long n, int gather) {
    if (size == 1) return;
    int counts[size], displs[size];
    for (long b0 = 0; b0 < n; b0 += DIST_BUCKET_FLOATS) {
        long b1 = n - b0 < DIST_BUCKET_FLOATS ? n : b0 + DIST_BUCKET_FLOATS;
        bucket_layout(n, b0, b1, counts, displs);
        if (gather) {
            watch_begin("an all-gather");
            MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x + b0, counts, displs, MPI_FLOAT,
                           MPI_COMM_WORLD);
            watch_end();
        } else { /* in place, MPI leaves this rank's part at the bucket's start: move it there */
            watch_begin("a reduce-scatter");
            MPI_Reduce_scatter(MPI_IN_PLACE, x + b0, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            watch_end();
            memmove(x + b0 + displs[rank], x + b0, (size_t)counts[rank] * sizeof *x);
        }
    }
    traffic.reduced += ring_sent(size, (double)n * sizeof *x);
}

void dist_reduce_scatter_f32(float *x, long n) {
    zero1_collective(x, n, 0);
}

void dist_allgather_f32(float *x, long n) {
    zero1_collective(x, n, 1);
}

static void wait_oldest(void) {
    watch_begin("an overlapped reduction");
    MPI_Wait(&reqs[oldest], MPI_STATUS_IGNORE);
    watch_end();
    in_flight -= pend[oldest++].n;
}

/* A slot for a request over n floats, once the ones in flight leave room for them. */
static MPI_Request *push_pending(long n, int *counts, float *to, float *at) {
    while (oldest < n_pend && in_flight + n > DIST_INFLIGHT_FLOATS) wait_oldest();
    if (n_pend == cap_pend) {
        cap_pend = cap_pend ? 2 * cap_pend : 64;
        pend = realloc(pend, sizeof *pend * cap_pend);
        reqs = realloc(reqs, sizeof *reqs * cap_pend);
        if (!pend || !reqs) ml_fatal("out of memory for the pending reductions");
    }
    pend[n_pend] = (Pending){n, counts, to, at};
    in_flight += n;
    return &reqs[n_pend++];
}

static void sum_begin(float *x, long n, MPI_Comm comm, int comm_size) {
    if (comm_size == 1) return;
    for (long i = 0; i < n; i += DIST_BUCKET_FLOATS) {
        int c = (int)(n - i < DIST_BUCKET_FLOATS ? n - i : DIST_BUCKET_FLOATS);
        MPI_Request *r = push_pending(c, NULL, NULL, NULL);
        watch_begin("an all-reduce");
        MPI_Iallreduce(MPI_IN_PLACE, x + i, c, MPI_FLOAT, MPI_SUM, comm, r);
        watch_end();
        traffic.reduced += ring_sent(comm_size, 2.0 * c * sizeof *x);
    }
}

void dist_sum_f32_begin(float *x, long n) {
    sum_begin(x, n, MPI_COMM_WORLD, size);
}
void dist_shard_sum_f32_begin(float *x, long n) {
    sum_begin(x, n, shard_comm, shard_size);
}

void dist_reduce_scatter_f32_begin(float *x, long n, long b0, long b1) {
    if (size == 1) return;
    for (long c0 = b0; c0 < b1; c0 += DIST_BUCKET_FLOATS) {
        long c1 = b1 - c0 < DIST_BUCKET_FLOATS ? b1 : c0 + DIST_BUCKET_FLOATS;
        int *counts = ml_alloc(sizeof(int) * 2 * size), *displs = counts + size;
        bucket_layout(n, c0, c1, counts, displs);
        MPI_Request *r = push_pending(c1 - c0, counts, x + c0 + displs[rank], x + c0);
        watch_begin("a reduce-scatter");
        MPI_Ireduce_scatter(MPI_IN_PLACE, x + c0, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, r);
        watch_end();
    }
    traffic.reduced += ring_sent(size, (double)(b1 - b0) * sizeof *x);
}

void dist_progress(void) {
    if (oldest == n_pend) return;
    int done;
    watch_begin("an overlapped reduction");
    MPI_Testall(n_pend - oldest, reqs + oldest, &done, MPI_STATUSES_IGNORE);
    watch_end();
}

void dist_wait(void) {
    if (n_pend == 0) return;
    watch_begin("an overlapped reduction");
    MPI_Waitall(n_pend - oldest, reqs + oldest, MPI_STATUSES_IGNORE);
    watch_end();
    for (int i = 0; i < n_pend; i++) {
        Pending *p = &pend[i];
        if (p->counts) memmove(p->to, p->at, (size_t)p->counts[rank] * sizeof *p->to);
        ml_free(p->counts);
    }
    n_pend = oldest = 0, in_flight = 0;
}

int dist_ep_init(int G) {
    if (G < 1 || size % G)
        return ml_error("ep=%d does not divide the %d ranks (expert-parallel groups of G ranks)", G,
                        size);
    if (ep_comm != MPI_COMM_NULL) MPI_Comm_free(&ep_comm);
    if (shard_comm != MPI_COMM_NULL) MPI_Comm_free(&shard_comm);
    ep_comm = shard_comm = MPI_COMM_NULL, ep_rank = 0, ep_size = shard_size = 1;
    if (G == 1) return 0;
    MPI_Comm_split(MPI_COMM_WORLD, rank / G, rank, &ep_comm);
    MPI_Comm_rank(ep_comm, &ep_rank);
    MPI_Comm_size(ep_comm, &ep_size);
    MPI_Comm_split(MPI_COMM_WORLD, rank % G, rank, &shard_comm);
    MPI_Comm_size(shard_comm, &shard_size);
    return 0;
}

/* In buckets of at most DIST_BUCKET_FLOATS over the group (a block's piece [j0, j1) from every
 * rank at a time), for the reason the ZeRO-1 collectives give below. */
void dist_ep_allgather_f32(float *x, long n) {
    if (ep_size == 1) return;
    const long bs = n / ep_size, piece = DIST_BUCKET_FLOATS / ep_size + 1;
    int counts[ep_size], displs[ep_size];
    for (long j0 = 0; j0 < bs; j0 += piece) {
        long j1 = bs - j0 < piece ? bs : j0 + piece;
        for (int g = 0; g < ep_size; g++)
            counts[g] = (int)(j1 - j0), displs[g] = (int)(g * bs + j0);
        watch_begin("an expert all-gather");
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, displs, MPI_FLOAT, ep_comm);
        watch_end();
    }
    traffic.reduced += ring_sent(ep_size, (double)n * sizeof *x);
}
/* Point to point within the group, in buckets (MPI counts are int). */
void dist_ep_slab_to_root(const float *x, float *recv, long n, int q) {
    if (q == 0 || (ep_rank != q && ep_rank != 0)) return;
    for (long i = 0; i < n; i += DIST_BUCKET_FLOATS) {
        int c = (int)(n - i < DIST_BUCKET_FLOATS ? n - i : DIST_BUCKET_FLOATS);
        watch_begin("an expert slab to the group's first rank");
        if (ep_rank == q)
            MPI_Send(x + i, c, MPI_FLOAT, 0, 0, ep_comm);
        else
            MPI_Recv(recv + i, c, MPI_FLOAT, q, 0, ep_comm, MPI_STATUS_IGNORE);
        watch_end();
    }
    if (ep_rank == q) traffic.reduced += (double)n * sizeof *x;
}
int dist_ep_size(void) {
    return ep_size;
}
int dist_ep_rank(void) {
    return ep_rank;
}

void dist_gather_blocks_f32(const float *block, float *full, long n, int root) {
    int counts[size], displs[size];
    block_layout(n, counts, displs);
    if (size == 1) {
        memmove(full, block, (size_t)n * sizeof *full);
        return;
    }
    watch_begin("a gather");
    MPI_Gatherv(block, counts[rank], MPI_FLOAT, full, counts, displs, MPI_FLOAT, root,
                MPI_COMM_WORLD);
    watch_end();
    if (rank != root) traffic.reduced += (double)counts[rank] * sizeof *block;
}

void dist_ep_alltoall_i32(const int32_t *send, int32_t *recv, int n) {
    if (ep_size == 1) {
        memmove(recv, send, (size_t)n * sizeof *recv);
        return;
    }
    watch_begin("an expert all-to-all (counts)");
    MPI_Alltoall(send, n, MPI_INT32_T, recv, n, MPI_INT32_T, ep_comm);
    watch_end();
    traffic.alltoall += (double)(ep_size - 1) * n * sizeof *send;
}

void dist_ep_alltoallv_f32(const float *send, const int *scounts, const int *sdispls, float *recv,
                           const int *rcounts, const int *rdispls) {
    if (ep_size == 1) {
        memmove(recv + rdispls[0], send + sdispls[0], (size_t)scounts[0] * sizeof *recv);
        return;
    }
    watch_begin("an expert all-to-all (rows)");
    MPI_Alltoallv(send, scounts, sdispls, MPI_FLOAT, recv, rcounts, rdispls, MPI_FLOAT, ep_comm);
    watch_end();
    for (int q = 0; q < ep_size; q++)
        if (q != ep_rank) traffic.alltoall += (double)scounts[q] * sizeof *send;
}

void *dist_gather_bytes(const void *x, long n, long *total, int root) {
    if (size == 1) { /* also a process started without a launcher: MPI never initialised */
        char *out = ml_alloc((size_t)n + 1);
        if (n) memcpy(out, x, (size_t)n);
        if (total) *total = n;
        return out;
    }
    long counts_l[size];
    watch_begin("a byte gather");
    MPI_Gather(&n, 1, MPI_LONG, counts_l, 1, MPI_LONG, root, MPI_COMM_WORLD);
    watch_end();
    int counts[size], displs[size];
    long all = 0;
    for (int r = 0; r < size && rank == root; r++) {
        counts[r] = (int)counts_l[r], displs[r] = (int)all, all += counts_l[r];
        if (all > 0x7fffffffL)
            ml_fatal("dist_gather_bytes: %ld bytes exceed MPI's int counts", all);
    }
    char *out = rank == root ? ml_alloc((size_t)all + 1) : NULL;
    watch_begin("a byte gather");
    MPI_Gatherv(x, (int)n, MPI_BYTE, out, counts, displs, MPI_BYTE, root, MPI_COMM_WORLD);
    watch_end();
    if (rank != root) traffic.reduced += (double)n;
    if (total) *total = rank == root ? all : 0;
    return out;
}

void dist_merge_bytes(void *x, long n, int root) {
    if (size == 1) return;
    for (long i = 0; i < n; i += DIST_BUCKET_FLOATS) {
        int c = (int)(n - i < DIST_BUCKET_FLOATS ? n - i : DIST_BUCKET_FLOATS);
        char *p = (char *)x + i;
        watch_begin("a byte merge");
        MPI_Reduce(rank == root ? MPI_IN_PLACE : p, p, c, MPI_BYTE, MPI_BOR, root, MPI_COMM_WORLD);
        watch_end();
        if (rank != root) traffic.reduced += (double)c;
    }
}

void dist_bcast_f32(float *x, long n, int root) {
    if (size == 1) return;
    for (long i = 0; i < n; i += DIST_BUCKET_FLOATS) {
        int c = (int)(n - i < DIST_BUCKET_FLOATS ? n - i : DIST_BUCKET_FLOATS);
        watch_begin("a broadcast");
        MPI_Bcast(x + i, c, MPI_FLOAT, root, MPI_COMM_WORLD);
        watch_end();
    }
}

static int all_equal(uint64_t v, MPI_Comm comm, int n) {
    if (n == 1) return 1;
    uint64_t lo = v, hi = v;
    watch_begin("a consistency check");
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, comm);
    watch_end();
    watch_begin("a consistency check");
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, comm);
    watch_end();
    return lo == hi;
}
int dist_all_equal_u64(uint64_t v) {
    return all_equal(v, MPI_COMM_WORLD, size);
}
int dist_shard_all_equal_u64(uint64_t v) {
    return all_equal(v, shard_comm, shard_size);
}

void dist_barrier(void) {
    if (size == 1) return;
    watch_begin("a barrier");
    MPI_Barrier(MPI_COMM_WORLD);
    watch_end();
}

DistTraffic dist_traffic(void) {
    return traffic;
}
#endif
