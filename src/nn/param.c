#include "nn/param.h"
#include <stdio.h>

int param_tensor(ParamTensor *list, int i, const char *prefix, const char *name, float *p,
                 int decay, int frozen, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    ParamTensor *t = &list[i];
    snprintf(t->name, sizeof t->name, "%s%s", prefix, name);
    t->p = p;
    t->ndim = ndim;
    int64_t d[4] = {d0, d1, d2, d3};
    t->n = 1;
    for (int k = 0; k < ndim; k++) t->n *= (t->shape[k] = d[k]);
    t->decay = decay;
    t->frozen = frozen;
    t->slabs = 1, t->slab = 0;
    return i + 1;
}
