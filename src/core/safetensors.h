/* safetensors files: the checkpoint format. 8-byte little-endian header length, a JSON header
 * {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}}, then the bytes.
 * Writing is atomic; reading maps the file and checks every offset before use. */
#pragma once
#include "core/fileio.h"
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    char dtype[8]; /* "F32", "I32", "U8", ... */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data; /* writer: caller's buffer (must live until st_write); reader: mapped */
    size_t nbytes;
} StTensor;

typedef struct {
    StTensor *tensors;
    int n, cap;
    char **meta_keys, **meta_vals;
    int n_meta;
    /* reader only */
    void *map;
    size_t map_len;
    char *path;
} SafeTensors;

/* Writer */
void st_init(SafeTensors *st);
void st_add(SafeTensors *st, const char *name, const char *dtype, const int64_t *shape, int ndim,
            const void *data);
void st_add_f32(SafeTensors *st, const char *name, const float *data, const int64_t *shape,
                int ndim);
void st_set_meta(SafeTensors *st, const char *key, const char *value);
int st_write(const SafeTensors *st, const char *path);
/* st_write's first half: opens path's temporary and writes the header; the caller then writes
 * every tensor's bytes in order (afile_write; the tensors' data pointers are not read) and
 * commits. For tensors assembled piece by piece (expert slabs from other ranks). */
int st_write_header(const SafeTensors *st, AtomicFile *af, const char *path);

/* Reader */
int st_open(SafeTensors *st, const char *path);
const StTensor *st_find(const SafeTensors *st, const char *name);
const char *st_meta(const SafeTensors *st, const char *key); /* NULL if absent */
/* Copies an F32 tensor of exactly `count` elements into dst; clear error naming file, tensor and
 * both shapes otherwise. */
int st_read_f32(const SafeTensors *st, const char *name, float *dst, int64_t count);
/* The same check of the whole tensor's `count` elements, copying only elements [first, first + n)
 * (0 ≤ first, first + n ≤ count). */
int st_read_f32_part(const SafeTensors *st, const char *name, float *dst, int64_t count,
                     int64_t first, int64_t n);

void st_free(SafeTensors *st); /* releases writer or reader */
