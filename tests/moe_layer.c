#include "moe_layer.h"
#include "core/mem.h"

void layer_init(Layer *L, const MoeConfig *cfg, int N, int T, uint64_t seed) {
    L->cfg = *cfg;
    long np = moe_num_params(cfg);
    L->base = ml_alloc_floats(np + 1);
    L->gbase = ml_alloc_floats(np + 1);
    moe_point_params(&L->p, L->base, cfg);
    moe_point_params(&L->g, L->gbase, cfg);
    Rng rng;
    rng_seed(&rng, seed);
    moe_init_params(&L->p, cfg, &rng);
    moe_acts_alloc(&L->a, cfg, N, T);
    L->ov = MOE_OVERRIDE_NONE;
}

void layer_free(Layer *L) {
    ml_free(L->base), ml_free(L->gbase);
    moe_acts_free(&L->a);
}
