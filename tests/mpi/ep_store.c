/* Expert-parallel storage (lm_create_shard) under mpirun -np 2 with expert groups of 2 (tests/cli/
 * mpi.sh builds and runs it), for a GPT-2 model (GELU experts with biases) and a llama one (SwiGLU,
 * a shared expert):
 * - each rank allocates the whole model less half of every MoE layer's routed experts (weights,
 *   gradients and both moments are blocks of n_params floats), and its slab holds exactly the
 * values lm_create gives those experts;
 * - the checkpoint the group writes (rank 0 streams rank 1's slabs) is byte for byte the file one
 *   process holding every expert writes, and loading it in one process gives identical losses;
 * - a forward through the experts' owners (ranks with different batch sizes) gives each rank the
 *   loss the whole model gives it, within 1e-5 relative;
 * - each rank reads back its own slabs of a one-process file, weights and moments.
 *   mpicc -O2 -fopenmp -Isrc tests/mpi/ep_store.c build/libmoelens.a -lopenblas -lcjson -lpng -lz
 *       -lm -o ep_store
 *   mpirun -np 2 ep_store DIR */
#include "../lm_slabs.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "dist/dist.h"
#include "model/lm_io.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "rank %d: ", dist_rank());                                             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void small_config(LmConfig *c, const char *block) {
    lm_config_preset(c, "tiny");
    const char *kv[][2] = {{"block", block},        {"d_model", "32"},    {"n_head", "2"},
                           {"n_layer", "3"},        {"n_experts", "4"},   {"top_k", "2"},
                           {"expert_hidden", "16"}, {"vocab_size", "64"}, {"seq_len", "8"}};
    for (unsigned i = 0; i < sizeof kv / sizeof kv[0]; i++) lm_config_set(c, kv[i][0], kv[i][1]);
    if (!strcmp(block, "llama")) lm_config_set(c, "n_shared", "1");
    lm_config_finalize(c);
}

/* A value per element of the whole (unsliced) tensor i, distinct for weights and each moment. */
static float value(int what, int i, long k) {
    return (float)(what * 1000 + i) + (float)(k % 97) / 128.0f;
}

/* Weights and moments set to value(), so slabs of different ranks differ everywhere. */
static void fill(LmModel *m) {
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        long off = t->p - m->params_mem, first = t->n * t->slab;
        for (long k = 0; k < t->n; k++) {
            t->p[k] = value(0, i, first + k) * 0.01f;
            m->m_mem[off + k] = value(1, i, first + k);
            m->v_mem[off + k] = value(2, i, first + k);
        }
    }
}

static int same_file(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    if (ml_read_file(a, &x, &nx) || ml_read_file(b, &y, &ny)) return 0;
    int same = nx == ny && !memcmp(x, y, nx);
    ml_free(x), ml_free(y);
    return same;
}

/* Summed loss of rows [r0, r0 + B) of a fixed token batch. */
static double loss_of(LmModel *m, int r0, int B) {
    const int T = m->cfg.seq_len;
    int32_t in[4 * 8], tg[4 * 8];
    for (int i = 0; i < 4 * T; i++) in[i] = (i * 37 + 11) % 64, tg[i] = (i * 53 + 5) % 64;
    return lm_forward(m, in + r0 * T, tg + r0 * T, NULL, B, T, 0);
}

static void check_block(const char *block, const char *dir) {
    LmConfig c;
    small_config(&c, block);
    LmModel whole, part, back;
    const int g = dist_ep_rank();
    lm_create(&whole, &c, 1);
    lm_create_shard(&part, &c, 1, 2, g);
    long experts = lm_routed_expert_floats(&whole);
    CHECK(experts > 0 && part.ep_shards == 2 && part.n_params == whole.n_params - experts / 2,
          "%s: %ld parameters held, expected %ld less half of %ld expert floats", block,
          part.n_params, whole.n_params, experts);
    CHECK(lm_is_slab_of(&part, &whole, 0), "%s: initial slabs differ from lm_create's", block);

    /* rows exchanged with the other rank (random weights: tokens reach every expert): rank 0
     * runs 3 sequences, rank 1 one */
    lm_alloc_acts(&part, 4, c.seq_len), lm_alloc_acts(&whole, 4, c.seq_len);
    int r0 = g ? 3 : 0, B = g ? 1 : 3;
    double a = loss_of(&part, r0, B), b = loss_of(&whole, r0, B);
    CHECK(fabs(a - b) <= 1e-5 * fabs(b), "%s: loss through the owners %.9g, whole model %.9g",
          block, a, b);

    fill(&whole), fill(&part);
    LmTrainState st = {.step = 7};
    char path[512], ref[512];
    snprintf(path, sizeof path, "%s/%s-ep.safetensors", dir, block);
    snprintf(ref, sizeof ref, "%s/%s-one.safetensors", dir, block);
    CHECK(!lm_save(&part, path, &st), "%s: sharded save failed", block);
    if (dist_rank() == 0) {
        CHECK(!lm_save(&whole, ref, &st), "%s: save failed", block);
        CHECK(same_file(path, ref), "%s: the group's checkpoint differs from one process's", block);
        LmTrainState st2;
        CHECK(!lm_load(&back, path, 1, &st2) && st2.step == 7 && lm_is_slab_of(&back, &whole, 1),
              "%s: the group's checkpoint does not load whole in one process", block);
        lm_alloc_acts(&back, 4, c.seq_len);
        CHECK(loss_of(&back, 0, 4) == loss_of(&whole, 0, 4), "%s: losses differ after loading",
              block);
        lm_free(&back);
    }
    dist_barrier(); /* ref is written */
    lm_free(&part);
    LmTrainState st3;
    CHECK(!lm_load_shard(&part, ref, 1, &st3, 2, g) && lm_is_slab_of(&part, &whole, 1),
          "%s: slabs read from a one-process checkpoint differ", block);
    lm_free(&part), lm_free(&whole);
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    if (dist_size() != 2 || argc != 2) {
        fprintf(stderr, "usage: mpirun -np 2 ep_store DIR\n");
        return 2;
    }
    if (dist_ep_init(2)) return 2;
    check_block("gpt2", argv[1]);
    check_block("llama", argv[1]);
    double bad = failures;
    dist_sum_f64(&bad, 1);
    if (dist_rank() == 0)
        printf("ep_store: %s\n", bad ? "FAILED" : "slabs, checkpoints and forward as one process");
    return bad ? 1 : 0;
}
