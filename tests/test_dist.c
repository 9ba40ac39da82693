/* The distributed layer outside mpirun (a world of one, either build), and the RNG skips the
 * data-parallel noise streams rely on (tests/cli/mpi.sh runs the real multi-rank cases). */
#include "core/mem.h"
#include "core/rng.h"
#include "dist/dist.h"
#include "test.h"
#include <string.h>

TEST(dist_rng_skip_matches_draws) {
    Rng a, b;
    rng_seed(&a, 7), rng_seed(&b, 7);
    for (int i = 0; i < 37; i++) rng_uniform(&a);
    rng_skip_uniform(&b, 37);
    CHECK(rng_uniform(&a) == rng_uniform(&b));
    for (int i = 0; i < 11; i++) rng_normal(&a);
    rng_skip_normal(&b, 11);
    CHECK(rng_normal(&a) == rng_normal(&b));
}

TEST(dist_world_of_one_is_the_identity) {
    CHECK(dist_size() == 1 && dist_rank() == 0);
    long lo, hi;
    dist_block(10, 0, &lo, &hi);
    CHECK(lo == 0 && hi == 10);
    float x[10], full[10];
    for (int i = 0; i < 10; i++) x[i] = (float)i;
    dist_sum_f32(x, 10);
    dist_reduce_scatter_f32(x, 10);
    dist_allgather_f32(x, 10);
    dist_gather_blocks_f32(x, full, 10, 0);
    for (int i = 0; i < 10; i++) CHECK(x[i] == (float)i && full[i] == (float)i);
    double before[3] = {4, 5, 6};
    dist_exscan_f64(before, 3); /* no rank before this one */
    CHECK(before[0] == 0 && before[1] == 0 && before[2] == 0);
    CHECK(dist_all_equal_u64(12345));
    CHECK(dist_ep_init(1) == 0 && dist_ep_size() == 1 && dist_ep_rank() == 0);
    CHECK(dist_ep_init(2) != 0); /* a group of 2 needs 2 ranks */
    int32_t cnt[2] = {3, 4}, got[2];
    dist_ep_alltoall_i32(cnt, got, 2);
    CHECK(got[0] == 3 && got[1] == 4);
    int32_t mx[2] = {-1, 9};
    dist_max_i32(mx, 2);
    char bytes[3] = {1, 0, 7};
    dist_merge_bytes(bytes, 3, 0);
    long total = -1;
    char *all = dist_gather_bytes(bytes, 3, &total, 0); /* this rank's bytes alone */
    CHECK(mx[0] == -1 && mx[1] == 9 && bytes[0] == 1 && bytes[2] == 7);
    CHECK(all && total == 3 && !memcmp(all, bytes, 3));
    ml_free(all);
    DistTraffic t = dist_traffic();
    CHECK(t.reduced == 0 && t.alltoall == 0 && t.seconds == 0);
}
