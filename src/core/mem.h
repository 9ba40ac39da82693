/* Aligned, zeroed allocation. Models allocate parameters, gradients, optimizer state and
 * activations once, each as one block; running out of memory is fatal. */
#pragma once
#include <stddef.h>
#include <stdint.h>

void *ml_alloc(size_t bytes);    /* 64-byte aligned, zeroed; fatal on failure */
void *ml_alloc_floats(size_t n); /* n floats, same guarantees */
void ml_free(void *p);
char *ml_strdup(const char *s);

/* Overflow-checked size arithmetic, the one place readers compute sizes from untrusted headers:
 * 0 with *out set, or -1 with *out = SIZE_MAX when the result does not fit (callers name the
 * file in their message). */
int ml_size_mul(size_t a, size_t b, size_t *out);
int ml_size_add(size_t a, size_t b, size_t *out);
/* elem · shape[0] · ... · shape[ndim-1]; -1 when a dimension is negative or the product exceeds
 * INT64_MAX. */
int ml_shape_bytes(const int64_t *shape, int ndim, size_t elem, size_t *out);
