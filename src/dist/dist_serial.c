/* The serial world: one rank, every collective the identity (a build without MPI). */
#ifndef MOELENS_MPI
#include "core/error.h"
#include "core/mem.h"
#include "dist/dist.h"
#include <stdlib.h>
#include <string.h>

void dist_init(int *argc, char ***argv) {}
int dist_rank(void) {
    return 0;
}
int dist_size(void) {
    return 1;
}
int dist_available(void) {
    return 0;
}
void dist_finalize(void) {}
void dist_abort(int status) {
    exit(status);
}
void dist_error_pause(void) {}
void dist_sum_f32(float *x, long n) {}
void dist_sum_f64(double *x, long n) {}
void dist_max_i32(int32_t *x, long n) {}
void dist_sum_f32_begin(float *x, long n) {}
void dist_shard_sum_f32_begin(float *x, long n) {}
void dist_reduce_scatter_f32_begin(float *x, long n, long b0, long b1) {}
void dist_progress(void) {}
void dist_wait(void) {}
void dist_exscan_f64(double *x, long n) {
    memset(x, 0, (size_t)n * sizeof *x);
}
void dist_block(long n, int r, long *lo, long *hi) {
    *lo = 0, *hi = n;
}
void dist_reduce_scatter_f32(float *x, long n) {}
void dist_allgather_f32(float *x, long n) {}
void dist_gather_blocks_f32(const float *block, float *full, long n, int root) {
    memmove(full, block, (size_t)n * sizeof *full);
}
int dist_ep_init(int G) {
    if (G != 1) return ml_error("ep=%d needs mpirun with a multiple of %d ranks", G, G);
    return 0;
}
int dist_ep_size(void) {
    return 1;
}
int dist_ep_rank(void) {
    return 0;
}
void dist_shard_sum_f32(float *x, long n) {}
void dist_ep_sum_f64(double *x, long n) {}
void dist_ep_allgather_f32(float *x, long n) {}
void dist_ep_slab_to_root(const float *x, float *recv, long n, int q) {}
void dist_ep_alltoall_i32(const int32_t *send, int32_t *recv, int n) {
    memmove(recv, send, (size_t)n * sizeof *recv);
}
void dist_ep_alltoallv_f32(const float *send, const int *scounts, const int *sdispls, float *recv,
                           const int *rcounts, const int *rdispls) {
    memmove(recv + rdispls[0], send + sdispls[0], (size_t)scounts[0] * sizeof *recv);
}
void *dist_gather_bytes(const void *x, long n, long *total, int root) {
    void *out = ml_alloc((size_t)n + 1);
    if (n) memcpy(out, x, (size_t)n);
    if (total) *total = n;
    return out;
}
void dist_merge_bytes(void *x, long n, int root) {}
void dist_bcast_f32(float *x, long n, int root) {}
int dist_all_equal_u64(uint64_t v) {
    return 1;
}
int dist_shard_all_equal_u64(uint64_t v) {
    return 1;
}
void dist_barrier(void) {}
DistTraffic dist_traffic(void) {
    return (DistTraffic){0, 0, 0};
}
#endif
