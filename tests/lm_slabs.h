/* Checks shared by the expert-parallel storage tests (tests/test_lm_shard.c in one process,
 * tests/mpi/ep_store.c under mpirun). */
#pragma once
#include "model/lm.h"
#include <stdio.h>
#include <string.h>

/* Every tensor of part (lm_create_shard) is its slab of whole's: the values, and the AdamW
 * moments too when moments. */
static inline int lm_is_slab_of(const LmModel *part, const LmModel *whole, int moments) {
    if (part->n_tensors != whole->n_tensors) return 0;
    for (int i = 0; i < part->n_tensors; i++) {
        const ParamTensor *t = &part->tensors[i], *w = &whole->tensors[i];
        long po = t->p - part->params_mem, wo = w->p - whole->params_mem + t->n * t->slab;
        size_t bytes = (size_t)t->n * sizeof(float);
        if (strcmp(t->name, w->name) || t->n * t->slabs != w->n ||
            memcmp(t->p, whole->params_mem + wo, bytes))
            return 0;
        if (moments && (memcmp(part->m_mem + po, whole->m_mem + wo, bytes) ||
                        memcmp(part->v_mem + po, whole->v_mem + wo, bytes)))
            return 0;
    }
    return 1;
}

/* Floats of the routed experts of m's MoE layers (dense layers' FFNs are not sliced). */
static inline long lm_routed_expert_floats(const LmModel *m) {
    long n = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        int l;
        if (sscanf(t->name, "h.%d.", &l) == 1 && strstr(t->name, ".ffn.experts.") &&
            lm_layer_is_moe(&m->cfg, l))
            n += t->n;
    }
    return n;
}
