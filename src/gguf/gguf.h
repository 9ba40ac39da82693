/* GGUF v2/v3 reader (docs/gguf.md): the file is mmap'd read-only, the header, the metadata
 * key/values and the tensor infos are parsed and checked once at open, and tensors stay in the map
 * (nothing is copied or dequantised until asked, by row ranges: gguf_dequant_rows).
 * Every failure returns -1 with ml_error naming the file (and the key or tensor); nothing crashes
 * on a malformed file (fuzzed: tests/fuzz/fuzz_gguf.c). Little-endian files only. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Metadata value types, as in the file. */
enum {
    GGUF_T_UINT8 = 0,
    GGUF_T_INT8 = 1,
    GGUF_T_UINT16 = 2,
    GGUF_T_INT16 = 3,
    GGUF_T_UINT32 = 4,
    GGUF_T_INT32 = 5,
    GGUF_T_FLOAT32 = 6,
    GGUF_T_BOOL = 7,
    GGUF_T_STRING = 8,
    GGUF_T_ARRAY = 9,
    GGUF_T_UINT64 = 10,
    GGUF_T_INT64 = 11,
    GGUF_T_FLOAT64 = 12,
    GGUF_T_COUNT = 13
};

/* Tensor types: ggml's numbering (ggml.h enum ggml_type). The parser knows every type's block
 * layout (so it can check sizes); dequantisation covers the ones in gguf_ttype_supported(). */
enum {
    GGML_F32 = 0,
    GGML_F16 = 1,
    GGML_Q4_0 = 2,
    GGML_Q4_1 = 3,
    GGML_Q5_0 = 6,
    GGML_Q5_1 = 7,
    GGML_Q8_0 = 8,
    GGML_Q8_1 = 9,
    GGML_Q2_K = 10,
    GGML_Q3_K = 11,
    GGML_Q4_K = 12,
    GGML_Q5_K = 13,
    GGML_Q6_K = 14,
    GGML_Q8_K = 15,
    GGML_BF16 = 30,
    GGUF_TTYPE_COUNT = 43
};

typedef struct {
    const char *ptr; /* into the map; NOT NUL-terminated */
    uint64_t len;
} GgufStr;

typedef struct {
    char *key;            /* NUL-terminated copy */
    uint32_t type;        /* GGUF_T_* */
    uint32_t arr_type;    /* element type when type == GGUF_T_ARRAY */
    uint64_t arr_n;       /* element count when type == GGUF_T_ARRAY */
    const uint8_t *value; /* raw value bytes in the map (for a string: its u64 length first) */
} GgufKV;

typedef struct GgufFile GgufFile;

typedef struct {
    char *name;          /* NUL-terminated copy */
    uint32_t n_dims;     /* 1..4 */
    uint64_t ne[4];      /* ne[0] is the row length (contiguous); unused dims are 1 */
    uint32_t type;       /* GGML_* */
    uint64_t offset;     /* from the start of the data section */
    const uint8_t *data; /* in the map */
    uint64_t nbytes;
    uint64_t n_rows;    /* ne[1]*ne[2]*ne[3] */
    uint64_t row_bytes; /* bytes of one row of ne[0] elements */
    const GgufFile *file;
} GgufTensor;

struct GgufFile {
    char *path;
    const uint8_t *base; /* mapped file (or caller's buffer) */
    size_t size;
    int mapped;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    GgufKV *kv;
    GgufTensor *tensors;
    uint32_t alignment;
    uint64_t data_offset;
};

/* Opens and checks PATH (mmap). -1 + ml_error on any problem. */
int gguf_open(GgufFile **g, const char *path);
/* Parses a caller-owned buffer (it must outlive the GgufFile); `name` stands for the path in
 * errors. */
int gguf_open_memory(GgufFile **g, const void *buf, size_t size, const char *name);
void gguf_close(GgufFile *g);

/* Metadata lookup: NULL when absent. */
const GgufKV *gguf_find(const GgufFile *g, const char *key);
const char *gguf_value_type_name(uint32_t gguf_value_type);

/* Typed getters: 0 on success; -1 + ml_error("FILE: missing metadata key 'K'" or "... has type T,
 * expected U") otherwise. Integer getters accept any integer type whose value fits. */
int gguf_get_u32(const GgufFile *g, const char *key, uint32_t *v);
int gguf_get_i64(const GgufFile *g, const char *key, int64_t *v);
int gguf_get_u64(const GgufFile *g, const char *key, uint64_t *v);
int gguf_get_f32(const GgufFile *g, const char *key, float *v); /* float32 or float64 */
int gguf_get_bool(const GgufFile *g, const char *key, int *v);
int gguf_get_str(const GgufFile *g, const char *key, GgufStr *v);
/* Copies a string value to a NUL-terminated ml_alloc'd string (ml_free it). */
int gguf_get_strdup(const GgufFile *g, const char *key, char **v);
/* Array getters: *out is ml_alloc'd (ml_free it), *n its length. */
int gguf_get_str_array(const GgufFile *g, const char *key, GgufStr **out, uint64_t *n);
int gguf_get_f32_array(const GgufFile *g, const char *key, float **out, uint64_t *n);
int gguf_get_i32_array(const GgufFile *g, const char *key, int32_t **out, uint64_t *n);
/* Optional variants: return 0 and leave *v unchanged when the key is absent (errors on bad type).
 */
int gguf_opt_u32(const GgufFile *g, const char *key, uint32_t *v);
int gguf_opt_f32(const GgufFile *g, const char *key, float *v);
int gguf_opt_bool(const GgufFile *g, const char *key, int *v);

/* Tensors. gguf_tensor: NULL when absent; gguf_get_tensor: -1 + ml_error naming it. */
const GgufTensor *gguf_tensor(const GgufFile *g, const char *name);
int gguf_get_tensor(const GgufFile *g, const char *name, const GgufTensor **t);

/* Tensor type table (ggml's names; prefixed gguf_ttype_ so as not to clash with libggml: "f32",
 * "q4_K", ...). Unknown/removed types: block 0, name NULL. */
const char *gguf_ttype_name(uint32_t type);
int gguf_ttype_block(uint32_t type);       /* elements per block */
int gguf_ttype_block_bytes(uint32_t type); /* bytes per block */
int gguf_ttype_supported(uint32_t type);   /* dequantisation available */

/* Dequantises rows [row0, row0+nrows) of t (rows of ne[0] elements) into out (nrows*ne[0]
 * floats). -1 + ml_error (naming file and tensor) on an unsupported type or a bad range. */
int gguf_dequant_rows(const GgufTensor *t, uint64_t row0, uint64_t nrows, float *out);
/* One block row (n = multiple of the type's block) from raw bytes; no checks. */
void gguf_dequant_raw(uint32_t type, const void *src, float *out, int64_t n);
/* The portable scalar kernels only (the AVX2/AVX-512 ones, when built, must equal them bit for
 * bit: tests/test_gguf_simd.c). */
void gguf_dequant_raw_scalar(uint32_t type, const void *src, float *out, int64_t n);

/* Half/bfloat conversions as ggml's (round-to-nearest-even for the float → half directions). */
float gguf_f16_to_f32(uint16_t h);
float gguf_bf16_to_f32(uint16_t h);
