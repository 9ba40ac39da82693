/* NumPy .npy files (format 1.0), written atomically; loadable with numpy.load. */
#pragma once
#include "core/fileio.h"
#include <stdint.h>

/* dtype is a numpy descr: "<f4", "<f8", "<i4", "<i8", "|u1", "<u2", "<u4", "|i1". */
int npy_write(const char *path, const char *dtype, const int64_t *shape, int ndim,
              const void *data);
int npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim);
int npy_write_i32(const char *path, const int32_t *data, const int64_t *shape, int ndim);

/* An array written a block of rows at a time (atomically: nothing at path until commit), for
 * arrays too big to hold: shape[0] is the most rows it may get (it sizes the header), commit
 * writes the header of the rows appended. Same bytes as npy_write of the whole array whenever
 * the two headers pad to the same length (numpy reads either). */
typedef struct {
    AtomicFile af;
    char dtype[8];
    int64_t shape[8], rows;
    int ndim, esize, header_len, open;
    size_t row_bytes;
} NpyStream;
int npy_stream_open(NpyStream *s, const char *path, const char *dtype, const int64_t *shape,
                    int ndim);
int npy_stream_append(NpyStream *s, const void *rows, int64_t n);
int npy_stream_commit(NpyStream *s);
void npy_stream_abort(NpyStream *s); /* drops the file (no-op when not open) */

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
