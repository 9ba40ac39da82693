#include "core/mem.h"
#include "core/error.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int ml_size_mul(size_t a, size_t b, size_t *out) {
    if (__builtin_mul_overflow(a, b, out)) {
        *out = SIZE_MAX;
        return -1;
    }
    return 0;
}

int ml_size_add(size_t a, size_t b, size_t *out) {
    if (__builtin_add_overflow(a, b, out)) {
        *out = SIZE_MAX;
        return -1;
    }
    return 0;
}

int ml_shape_bytes(const int64_t *shape, int ndim, size_t elem, size_t *out) {
    size_t n = elem;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || ml_size_mul(n, (size_t)shape[i], &n)) {
            *out = SIZE_MAX;
            return -1;
        }
    *out = n;
    return n > (size_t)INT64_MAX ? (*out = SIZE_MAX, -1) : 0;
}

void *ml_alloc(size_t bytes) {
    if (bytes == 0) bytes = 64;
    /* a size near SIZE_MAX would round to a tiny block: refuse it instead */
    if (bytes > (size_t)INT64_MAX) ml_fatal("out of memory allocating %zu bytes", bytes);
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (!p) ml_fatal("out of memory allocating %zu bytes", bytes);
    memset(p, 0, rounded);
    return p;
}

void *ml_alloc_floats(size_t n) {
    size_t bytes;
    if (ml_size_mul(n, sizeof(float), &bytes)) ml_fatal("out of memory allocating %zu floats", n);
    return ml_alloc(bytes);
}

void ml_free(void *p) {
    free(p);
}

char *ml_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ml_alloc(n);
    memcpy(d, s, n);
    return d;
}
