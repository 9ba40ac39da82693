/* NumPy .npy files (format 1.0), written atomically; loadable with numpy.load. */
#pragma once
#include <stdint.h>

/* dtype is a numpy descr: "<f4", "<f8", "<i4", "<i8", "|u1", "<u2", "<u4", "|i1". */
int npy_write(const char *path, const char *dtype, const int64_t *shape, int ndim,
              const void *data);
int npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim);
int npy_write_i32(const char *path, const int32_t *data, const int64_t *shape, int ndim);

/* Reads a little-endian, C-ordered .npy. *data is ml_alloc'd; shape has room for 8 dims. */
typedef struct {
    char dtype[8];
    int ndim;
    int64_t shape[8];
    void *data;
    int64_t nbytes;
} NpyArray;
int npy_read(const char *path, NpyArray *out);
void npy_free(NpyArray *a);
