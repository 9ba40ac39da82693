/* GGUF v3 writer (docs/gguf.md, "Export"): metadata of every value type (string arrays
 * included) and F32 / F16 tensors, alignment 32, written atomically (core/fileio.h AtomicFile).
 *
 * Metadata is serialised as it is added; tensors are only recorded (name, shape, type and a
 * pointer to the caller's floats, which must stay valid until gguf_writer_write) and converted
 * while writing, so no second copy of a model is ever held. Every add checks its arguments
 * (empty or duplicate key/name, unsupported type, bad shape) and returns -1 + ml_error; the first
 * error is kept and makes gguf_writer_write fail without touching the destination. */
#pragma once
#include "gguf/gguf.h"
#include <stdint.h>

typedef struct GgufWriter GgufWriter;

GgufWriter *gguf_writer_new(void);
void gguf_writer_free(GgufWriter *w);

int gguf_w_u8(GgufWriter *w, const char *key, uint8_t v);
int gguf_w_i8(GgufWriter *w, const char *key, int8_t v);
int gguf_w_u16(GgufWriter *w, const char *key, uint16_t v);
int gguf_w_i16(GgufWriter *w, const char *key, int16_t v);
int gguf_w_u32(GgufWriter *w, const char *key, uint32_t v);
int gguf_w_i32(GgufWriter *w, const char *key, int32_t v);
int gguf_w_u64(GgufWriter *w, const char *key, uint64_t v);
int gguf_w_i64(GgufWriter *w, const char *key, int64_t v);
int gguf_w_f32(GgufWriter *w, const char *key, float v);
int gguf_w_f64(GgufWriter *w, const char *key, double v);
int gguf_w_bool(GgufWriter *w, const char *key, int v);
int gguf_w_str(GgufWriter *w, const char *key, const char *v);
/* An array of n numeric or bool elements of GGUF value type elem_type (GGUF_T_UINT8 ..
 * GGUF_T_FLOAT64 except STRING and ARRAY), read from data as that C type (bool: uint8_t). */
int gguf_w_array(GgufWriter *w, const char *key, uint32_t elem_type, const void *data, uint64_t n);
/* An array of n NUL-terminated strings. */
int gguf_w_str_array(GgufWriter *w, const char *key, const char *const *strs, uint64_t n);

/* A tensor of n_dims (1..4) dimensions ne[0..n_dims) (ggml order: ne[0] contiguous) from the
 * caller's floats (borrowed until write), stored as GGML_F32 or GGML_F16. */
int gguf_w_tensor(GgufWriter *w, const char *name, uint32_t ggml_type, const float *data,
                  int n_dims, const uint64_t *ne);

/* Copies one metadata pair of a parsed file as it is there (any value type, string arrays
 * included), under its own key. */
int gguf_w_copy_kv(GgufWriter *w, const GgufKV *kv);

/* A borrowed run of raw tensor bytes (valid until gguf_writer_write). */
typedef struct {
    const void *data;
    uint64_t bytes;
} GgufPart;

/* A tensor of any ggml type whose data is the concatenation of n_parts raw byte runs, written as
 * they are (no conversion: quantisation blocks are copied whole). The runs must add up to the
 * shape's size in that type. The parts array is copied; the bytes are borrowed. */
int gguf_w_tensor_parts(GgufWriter *w, const char *name, uint32_t ggml_type, int n_dims,
                        const uint64_t *ne, const GgufPart *parts, int n_parts);

/* Writes the file atomically and frees w (also on failure). -1 + ml_error on failure. */
int gguf_writer_write(GgufWriter *w, const char *path);

/* Float → IEEE half, round to nearest even (NaN stays NaN, overflow → ±inf), as ggml. */
uint16_t gguf_f32_to_f16(float f);
