/* Expert-parallel storage in one process (what needs no exchange; tests/mpi/ep_store.c runs the
 * rest under mpirun): lm_create_shard(G, g) holds the model less (G−1)/G of every MoE layer's
 * routed experts, its slab starts with the values lm_create gives those experts (the others'
 * draws skipped), and lm_load_shard reads exactly its slab of a whole model's checkpoint. */
#include "core/fileio.h"
#include "core/mem.h"
#include "model/lm_io.h"
#include "lm_slabs.h"
#include "test.h"
#include <string.h>

static void shard_config(LmConfig *c, const char *block) {
    lm_config_preset(c, "tiny");
    const char *kv[][2] = {{"block", block},     {"d_model", "16"},  {"n_head", "2"},
                           {"n_layer", "2"},     {"n_experts", "4"}, {"expert_hidden", "8"},
                           {"vocab_size", "32"}, {"seq_len", "8"},   {"n_shared", "1"}};
    for (unsigned i = 0; i < sizeof kv / sizeof kv[0]; i++) lm_config_set(c, kv[i][0], kv[i][1]);
    lm_config_finalize(c);
}

static void check_shards(const char *block, int G) {
    LmConfig c;
    shard_config(&c, block);
    LmModel whole;
    CHECK(lm_create(&whole, &c, 1) == 0);
    long experts = lm_routed_expert_floats(&whole);
    for (long k = 0; k < whole.n_params; k++) /* moments the checkpoint must carry slab by slab */
        whole.m_mem[k] = (float)k, whole.v_mem[k] = (float)(2 * k + 1);
    LmTrainState st = {.step = 3};
    char *path = ml_path_join(test_tmpdir(), "shard.safetensors");
    CHECK(lm_save(&whole, path, &st) == 0);
    for (int g = 0; g < G; g++) {
        LmModel part;
        CHECK(lm_create_shard(&part, &c, 1, G, g) == 0);
        CHECK_MSG(part.ep_shards == G && part.n_params == whole.n_params - experts / G * (G - 1),
                  "%s G %d: %ld parameters held of %ld (%ld expert floats)", block, G,
                  part.n_params, whole.n_params, experts);
        CHECK_MSG(lm_is_slab_of(&part, &whole, 0), "%s G %d slab %d: initial values", block, G, g);
        lm_free(&part);
        LmTrainState back;
        CHECK(lm_load_shard(&part, path, 1, &back, G, g) == 0 && back.step == 3);
        CHECK_MSG(lm_is_slab_of(&part, &whole, 1), "%s G %d slab %d: loaded", block, G, g);
        lm_free(&part);
    }
    ml_free(path);
    lm_free(&whole);
}

TEST(lm_shard_holds_and_loads_its_experts_alone) {
    check_shards("gpt2", 2);
    check_shards("llama", 2);
    check_shards("llama", 4);
}

/* G = 1 is lm_create: nothing sliced. */
TEST(lm_shard_of_one_is_the_whole_model) {
    LmConfig c;
    shard_config(&c, "llama");
    LmModel a, b;
    CHECK(lm_create(&a, &c, 0) == 0 && lm_create_shard(&b, &c, 0, 1, 0) == 0);
    CHECK(a.n_params == b.n_params && b.ep_shards == 1);
    CHECK(memcmp(a.params_mem, b.params_mem, a.n_params * sizeof(float)) == 0);
    for (int i = 0; i < b.n_tensors; i++) CHECK(b.tensors[i].slabs == 1);
    lm_free(&a), lm_free(&b);
}
