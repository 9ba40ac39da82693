/* Distributed execution: the small set of collectives moelens uses across processes. Built on MPI
 * when the build found it (dist_mpi.c, the only file that includes mpi.h), else on a serial
 * implementation (dist_serial.c) where the world is rank 0 of 1 and every collective is the
 * identity, so callers never test for MPI. Under a launcher (mpirun) each process is one rank;
 * started directly, even an MPI build is rank 0 of 1 and never initialises MPI.
 *
 * Every collective must be called by every rank in the same order (MPI's rule). A rank that hits a
 * fatal error aborts the whole job (ml_fatal → dist_abort) instead of leaving the others waiting in
 * a collective. */
#pragma once
#include <stdint.h>

/* Starts MPI when launched by mpirun (and registers dist_finalize at exit); idempotent. */
void dist_init(int *argc, char ***argv);
int dist_rank(void);
int dist_size(void);
/* 1 in an MPI-capable build (whether or not this process runs under a launcher). */
int dist_available(void);
/* Ends MPI cleanly (called at exit by dist_init's registration; safe to call twice). */
void dist_finalize(void);
/* Stops every rank of the job with this exit status (size 1: exit). Never returns. */
void dist_abort(int status) __attribute__((noreturn));

/* Ranks other than 0 wait here (2 s) before reporting a fatal error: when rank 0 meets the same
 * error it aborts the job first, so the message is printed once. Size 1: returns at once. */
void dist_error_pause(void);

/* In-place sums over all ranks; every rank receives the same result. Large arrays go in buckets
 * (DIST_BUCKET_FLOATS elements at a time) so no temporary the size of the model is needed. */
#define DIST_BUCKET_FLOATS (1L << 20)
void dist_sum_f32(float *x, long n);
void dist_sum_f64(double *x, long n);
/* Nonblocking reductions, to overlap the gradient's reduction with the backward that produces
 * it: each _begin starts summing x in place (dist_sum_f32's and dist_shard_sum_f32's
 * communicators; reduce_scatter: part [b0, b1) of dist_reduce_scatter_f32(x, n), this rank's
 * block within it correct afterwards) and returns at once; x is not to be touched until
 * dist_wait, which completes every begun reduction. MPI moves a nonblocking collective along only
 * inside MPI calls: dist_progress (non-blocking) between pieces of work lets it. Requests go in
 * buckets of DIST_BUCKET_FLOATS, and at most DIST_INFLIGHT_FLOATS are outstanding (a begin past
 * that first waits for the oldest), which bounds MPI's temporaries. The ranks must begin the same
 * reductions in the same order; their time counts in DistTraffic.seconds, and the waits are under
 * the collective watchdog. Size 1: no-ops. */
#define DIST_INFLIGHT_FLOATS (8 * DIST_BUCKET_FLOATS)
void dist_sum_f32_begin(float *x, long n);
void dist_shard_sum_f32_begin(float *x, long n);
void dist_reduce_scatter_f32_begin(float *x, long n, long b0, long b1);
void dist_progress(void);
void dist_wait(void);
/* In-place maxima over all ranks; every rank receives the result. */
void dist_max_i32(int32_t *x, long n);
/* Exclusive prefix sum in rank order: rank r gets Σ_{q<r} x_q (rank 0: zeros). */
void dist_exscan_f64(double *x, long n);
/* ZeRO-1 blocks: rank r owns elements [n·r/S, n·(r+1)/S) of an n-element vector. */
void dist_block(long n, int r, long *lo, long *hi);
/* Sums x over the ranks, keeping only this rank's block correct (the rest is left unspecified). */
void dist_reduce_scatter_f32(float *x, long n);
/* Every rank's block of x to every rank (after each updated its own). */
void dist_allgather_f32(float *x, long n);
/* Every rank's block (its dist_block share of n, held alone in `block`) into root's full[n]. */
void dist_gather_blocks_f32(const float *block, float *full, long n, int root);
/* Expert parallel: the world split into groups of G consecutive ranks (G must divide the size;
 * -1 + ml_error otherwise). Before it, and in the serial world, the group is the rank alone. */
int dist_ep_init(int G);
int dist_ep_size(void);
int dist_ep_rank(void);
/* Across the groups: in-place sums over the ranks holding the same expert shard (rank g of every
 * group, N/G ranks; the rank alone when G = 1 or N = G). */
void dist_shard_sum_f32(float *x, long n);
/* Within the group: in-place sums. */
void dist_ep_sum_f64(double *x, long n);
/* Within the group: x holds G equal blocks of n/G (G divides n); rank g's block g to every rank
 * of the group. */
void dist_ep_allgather_f32(float *x, long n);
/* Within the group: rank q's (q > 0) x[n] into recv[n] of the group's rank 0 (the others, and
 * q = 0, do nothing). Called by every rank of the group alike. */
void dist_ep_slab_to_root(const float *x, float *recv, long n, int q);
/* Within the group: n int32 to each rank, n from each (MPI_Alltoall). */
void dist_ep_alltoall_i32(const int32_t *send, int32_t *recv, int n);
/* Within the group: variable-size float exchange (MPI_Alltoallv; counts and offsets in floats). */
void dist_ep_alltoallv_f32(const float *send, const int *scounts, const int *sdispls, float *recv,
                           const int *rcounts, const int *rdispls);
/* Every rank's n bytes to root, back to back in rank order: returns them there (ml_alloc'd, *total
 * bytes; the caller frees), NULL elsewhere. The total must stay under 2^31 bytes. */
void *dist_gather_bytes(const void *x, long n, long *total, int root);
/* Parts of an n-byte array that each rank filled alone (zeros elsewhere) merged into root's x
 * (bitwise OR); the other ranks' x is left as it was. */
void dist_merge_bytes(void *x, long n, int root);
/* Rank 0's values to every rank. */
void dist_bcast_f32(float *x, long n, int root);
/* 1 when every rank holds the same 64-bit value; _shard: every rank of this rank's expert shard
 * (dist_shard_sum_f32's ranks). */
int dist_all_equal_u64(uint64_t v);
int dist_shard_all_equal_u64(uint64_t v);
void dist_barrier(void);

/* Bytes this rank has sent in collectives so far: the reductions and gathers as their ring
 * algorithm sends them (all-reduce 2(S−1)/S of the vector, reduce-scatter and all-gather (S−1)/S;
 * a gather to root: this rank's part unless it is root), and the bytes the all-to-alls sent to
 * other ranks; and the time spent in them. Zero in the serial world. */
typedef struct {
    double reduced, alltoall;
    double seconds; /* wall time spent inside collectives (waiting for peers included) */
} DistTraffic;
DistTraffic dist_traffic(void);
