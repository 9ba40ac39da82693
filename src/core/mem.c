#include "core/mem.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

void *ml_alloc(size_t bytes) {
    if (bytes == 0) bytes = 64;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (!p) ml_fatal("out of memory allocating %zu bytes", bytes);
    memset(p, 0, rounded);
    return p;
}

void *ml_alloc_floats(size_t n) {
    return ml_alloc(n * sizeof(float));
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
