/* One MoE layer for behaviour tests: its config, parameters (initialised from a seed), a zeroed
 * gradient block of the same layout and training activations for up to N tokens, and no routing
 * overrides. */
#pragma once
#include "nn/moe.h"

typedef struct {
    MoeConfig cfg;
    float *base, *gbase;
    MoeParams p, g;
    MoeActs a;
    MoeOverride ov; /* routing overrides passed to the forward */
} Layer;

void layer_init(Layer *L, const MoeConfig *cfg, int N, int T, uint64_t seed);
void layer_free(Layer *L);
