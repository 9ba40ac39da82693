#include "report/report_npy.h"
#include "core/mem.h"
#include <stdint.h>
#include <string.h>

double *npy_to_doubles(const NpyArray *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    const char *t = a->dtype;
    double *v = ml_alloc(sizeof(double) * (n > 0 ? n : 1));
#define CONVERT(T)                                                                                 \
    for (int64_t i = 0; i < n; i++) v[i] = (double)((const T *)a->data)[i];                        \
    return v
    if (!strcmp(t, "<f4")) {
        CONVERT(float);
    }
    if (!strcmp(t, "<f8")) {
        CONVERT(double);
    }
    if (!strcmp(t, "<i4")) {
        CONVERT(int32_t);
    }
    if (!strcmp(t, "<i8")) {
        CONVERT(int64_t);
    }
    if (!strcmp(t, "|u1")) {
        CONVERT(uint8_t);
    }
    if (!strcmp(t, "|i1")) {
        CONVERT(int8_t);
    }
    if (!strcmp(t, "<u2")) {
        CONVERT(uint16_t);
    }
    if (!strcmp(t, "<u4")) {
        CONVERT(uint32_t);
    }
#undef CONVERT
    ml_free(v);
    return NULL;
}

double *npy_load_doubles(const char *path, int64_t *shape, int *ndim) {
    NpyArray a;
    if (npy_read(path, &a)) return NULL;
    double *v = npy_to_doubles(&a);
    memcpy(shape, a.shape, sizeof a.shape);
    *ndim = a.ndim;
    npy_free(&a);
    return v;
}
