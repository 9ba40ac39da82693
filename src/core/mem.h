/* Aligned, zeroed allocation. Models allocate parameters, gradients, optimizer state and
 * activations once, each as one block; running out of memory is fatal. */
#pragma once
#include <stddef.h>

void *ml_alloc(size_t bytes);    /* 64-byte aligned, zeroed; fatal on failure */
void *ml_alloc_floats(size_t n); /* n floats, same guarantees */
void ml_free(void *p);
char *ml_strdup(const char *s);
