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
} ParamTensor;

/* Fills one entry; returns the next free slot index. */
int param_tensor(ParamTensor *list, int i, const char *prefix, const char *name, float *p,
                 int decay, int frozen, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
