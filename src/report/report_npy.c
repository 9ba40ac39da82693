#include "report/report_npy.h"
#include "core/mem.h"
#include <stdint.h>
#include <string.h>

/* One converter per element type, and a row naming its .npy dtype. */
#define CONVERTER(name, T)                                                                         \
    static void name(double *v, const void *data, int64_t n) {                                     \
        for (int64_t i = 0; i < n; i++) v[i] = (double)((const T *)data)[i];                       \
    }
CONVERTER(from_f4, float)
CONVERTER(from_f8, double)
CONVERTER(from_i4, int32_t)
CONVERTER(from_i8, int64_t)
CONVERTER(from_u1, uint8_t)
CONVERTER(from_i1, int8_t)
CONVERTER(from_u2, uint16_t)
CONVERTER(from_u4, uint32_t)
#undef CONVERTER

static const struct {
    const char *dtype;
    void (*convert)(double *v, const void *data, int64_t n);
} converters[] = {
    {"<f4", from_f4}, {"<f8", from_f8}, {"<i4", from_i4}, {"<i8", from_i8},
    {"|u1", from_u1}, {"|i1", from_i1}, {"<u2", from_u2}, {"<u4", from_u4},
};

double *npy_to_doubles(const NpyArray *a) {
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    for (size_t c = 0; c < sizeof converters / sizeof *converters; c++) {
        if (strcmp(a->dtype, converters[c].dtype)) continue;
        double *v = ml_alloc(sizeof(double) * (n > 0 ? n : 1));
        converters[c].convert(v, a->data, n);
        return v;
    }
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
