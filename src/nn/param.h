/* A named view of one parameter tensor inside a model's flat parameter block. Models list their
 * tensors as ParamTensor arrays: the checkpoint writer, the optimizer (decay/frozen) and the
 * gradient checks all walk the same list. */
#pragma once
#include <stdint.h>

typedef struct {
    char name[96];
    float *p; /* values, inside the model's parameter block */
    int ndim;
    int64_t shape[4];
    long n;     /* element count */
    int decay;  /* AdamW weight decay applies (matrices yes; biases, norms, embeddings' pos no) */
    int frozen; /* never updated by the optimizer (frozen random router, balancing bias) */
    /* This rank holds slab `slab` of `slabs` equal slabs along dim 0 of the saved tensor (the
     * routed experts under expert-parallel storage): shape[0] is the slab's; 1, 0: all of it. */
    int slabs, slab;
} ParamTensor;

/* Fills one entry; returns the next free slot index. */
int param_tensor(ParamTensor *list, int i, const char *prefix, const char *name, float *p,
                 int decay, int frozen, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
