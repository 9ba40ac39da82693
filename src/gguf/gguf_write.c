#include "gguf/gguf_write.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "gguf/gguf.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { ALIGN = 32 };

typedef struct {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[4], nelem, offset;
    const float *data; /* f32/f16 tensors: the caller's floats, or */
    GgufPart *parts;   /* raw tensors: byte runs (owned array, borrowed bytes) */
    int n_parts;
    uint64_t raw_bytes;
} WTensor;

struct GgufWriter {
    uint8_t *meta; /* serialised key/value pairs */
    size_t meta_len, meta_cap;
    char **keys;
    uint64_t n_kv, keys_cap;
    WTensor *tensors;
    uint64_t n_tensors, tensors_cap;
    int failed; /* an add failed: the file is never written */
};

GgufWriter *gguf_writer_new(void) {
    return ml_alloc(sizeof(GgufWriter));
}

void gguf_writer_free(GgufWriter *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) ml_free(w->keys[i]);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        ml_free(w->tensors[i].name), ml_free(w->tensors[i].parts);
    ml_free(w->keys), ml_free(w->tensors), ml_free(w->meta), ml_free(w);
}

static void *grow(void *p, uint64_t *cap, uint64_t need, size_t elem) {
    if (need <= *cap) return p;
    uint64_t nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *q = ml_alloc(nc * elem);
    if (p) memcpy(q, p, *cap * elem);
    ml_free(p);
    *cap = nc;
    return q;
}

static void put(GgufWriter *w, const void *b, size_t n) {
    uint64_t cap = w->meta_cap;
    w->meta = grow(w->meta, &cap, w->meta_len + n, 1);
    w->meta_cap = cap;
    memcpy(w->meta + w->meta_len, b, n);
    w->meta_len += n;
}

static void put_u32(GgufWriter *w, uint32_t v) {
    put(w, &v, 4);
}
static void put_u64(GgufWriter *w, uint64_t v) {
    put(w, &v, 8);
}
static void put_str(GgufWriter *w, const char *s) {
    uint64_t n = strlen(s);
    put_u64(w, n);
    put(w, s, n);
}

static int fail(GgufWriter *w) {
    w->failed = 1;
    return -1;
}

/* Registers key (checked: non-empty, not seen) and writes it with its value type. */
static int begin_kv(GgufWriter *w, const char *key, uint32_t type) {
    if (!key || !*key) return fail(w), ml_error("gguf writer: empty metadata key");
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key))
            return fail(w), ml_error("gguf writer: duplicate metadata key '%s'", key);
    w->keys = grow(w->keys, &w->keys_cap, w->n_kv + 1, sizeof(char *));
    w->keys[w->n_kv++] = ml_strdup(key);
    put_str(w, key);
    put_u32(w, type);
    return 0;
}

static int scalar(GgufWriter *w, const char *key, uint32_t type, const void *v, size_t n) {
    if (begin_kv(w, key, type)) return -1;
    put(w, v, n);
    return 0;
}

/* One writer per scalar type, its value's bytes as they lie in memory (GGUF is little-endian, as
 * every machine moelens builds for). */
#define SCALAR_WRITER(name, ctype, gguf_type)                                                      \
    int gguf_w_##name(GgufWriter *w, const char *k, ctype v) {                                     \
        return scalar(w, k, gguf_type, &v, sizeof v);                                              \
    }
SCALAR_WRITER(u8, uint8_t, GGUF_T_UINT8)
SCALAR_WRITER(i8, int8_t, GGUF_T_INT8)
SCALAR_WRITER(u16, uint16_t, GGUF_T_UINT16)
SCALAR_WRITER(i16, int16_t, GGUF_T_INT16)
SCALAR_WRITER(u32, uint32_t, GGUF_T_UINT32)
SCALAR_WRITER(i32, int32_t, GGUF_T_INT32)
SCALAR_WRITER(u64, uint64_t, GGUF_T_UINT64)
SCALAR_WRITER(i64, int64_t, GGUF_T_INT64)
SCALAR_WRITER(f32, float, GGUF_T_FLOAT32)
SCALAR_WRITER(f64, double, GGUF_T_FLOAT64)
#undef SCALAR_WRITER

int gguf_w_bool(GgufWriter *w, const char *k, int v) {
    uint8_t b = v != 0;
    return scalar(w, k, GGUF_T_BOOL, &b, 1);
}
int gguf_w_str(GgufWriter *w, const char *key, const char *v) {
    if (begin_kv(w, key, GGUF_T_STRING)) return -1;
    put_str(w, v);
    return 0;
}

static size_t value_size(uint32_t type) {
    switch (type) {
    case GGUF_T_UINT8:
    case GGUF_T_INT8:
    case GGUF_T_BOOL:
        return 1;
    case GGUF_T_UINT16:
    case GGUF_T_INT16:
        return 2;
    case GGUF_T_UINT32:
    case GGUF_T_INT32:
    case GGUF_T_FLOAT32:
        return 4;
    case GGUF_T_UINT64:
    case GGUF_T_INT64:
    case GGUF_T_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

int gguf_w_array(GgufWriter *w, const char *key, uint32_t elem_type, const void *data, uint64_t n) {
    size_t sz = value_size(elem_type);
    if (!sz)
        return fail(w), ml_error("gguf writer: key '%s': arrays of value type %u are not numeric",
                                 key ? key : "", elem_type);
    if (begin_kv(w, key, GGUF_T_ARRAY)) return -1;
    put_u32(w, elem_type);
    put_u64(w, n);
    if (elem_type == GGUF_T_BOOL) /* only 0/1 are valid bools */
        for (uint64_t i = 0; i < n; i++) {
            uint8_t b = ((const uint8_t *)data)[i] != 0;
            put(w, &b, 1);
        }
    else
        put(w, data, sz * n);
    return 0;
}

int gguf_w_str_array(GgufWriter *w, const char *key, const char *const *strs, uint64_t n) {
    if (begin_kv(w, key, GGUF_T_ARRAY)) return -1;
    put_u32(w, GGUF_T_STRING);
    put_u64(w, n);
    for (uint64_t i = 0; i < n; i++) put_str(w, strs[i]);
    return 0;
}

/* Checks name and shape (type checked by the caller) and records the tensor; t gets the shape. */
static int add_tensor(GgufWriter *w, const char *name, int n_dims, const uint64_t *ne, WTensor t) {
    if (!name || !*name) return fail(w), ml_error("gguf writer: empty tensor name");
    if (n_dims < 1 || n_dims > 4)
        return fail(w), ml_error("gguf writer: tensor '%s' has %d dimensions (1..4)", name, n_dims);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return fail(w), ml_error("gguf writer: duplicate tensor '%s'", name);
    t.n_dims = (uint32_t)n_dims, t.nelem = 1;
    for (int d = 0; d < 4; d++) t.ne[d] = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] == 0)
            return fail(w), ml_error("gguf writer: tensor '%s' has ne[%d] = 0", name, d);
        t.ne[d] = ne[d];
        t.nelem *= ne[d];
    }
    t.name = ml_strdup(name);
    w->tensors = grow(w->tensors, &w->tensors_cap, w->n_tensors + 1, sizeof(WTensor));
    w->tensors[w->n_tensors++] = t;
    return 0;
}

int gguf_w_tensor(GgufWriter *w, const char *name, uint32_t ggml_type, const float *data,
                  int n_dims, const uint64_t *ne) {
    if (ggml_type != GGML_F32 && ggml_type != GGML_F16)
        return fail(w), ml_error("gguf writer: tensor '%s': type %u (only f32 and f16 are written)",
                                 name ? name : "", ggml_type);
    return add_tensor(w, name, n_dims, ne, (WTensor){.type = ggml_type, .data = data});
}

int gguf_w_tensor_parts(GgufWriter *w, const char *name, uint32_t ggml_type, int n_dims,
                        const uint64_t *ne, const GgufPart *parts, int n_parts) {
    const char *nm = name ? name : "";
    int blk = ggml_type < GGUF_TTYPE_COUNT ? gguf_ttype_block(ggml_type) : 0;
    if (blk <= 0)
        return fail(w), ml_error("gguf writer: tensor '%s': unknown type %u", nm, ggml_type);
    if (n_dims < 1 || n_dims > 4 || ne[0] % (uint64_t)blk)
        return fail(w), ml_error("gguf writer: tensor '%s': rows of %llu elements do not fill "
                                 "%s blocks of %d",
                                 nm, n_dims >= 1 ? (unsigned long long)ne[0] : 0ULL,
                                 gguf_ttype_name(ggml_type), blk);
    uint64_t want = ne[0] / (uint64_t)blk * (uint64_t)gguf_ttype_block_bytes(ggml_type), have = 0;
    for (int d = 1; d < n_dims; d++) want *= ne[d];
    for (int i = 0; i < n_parts; i++) have += parts[i].bytes;
    if (have != want)
        return fail(w), ml_error("gguf writer: tensor '%s': %llu bytes given, its shape holds %llu",
                                 nm, (unsigned long long)have, (unsigned long long)want);
    WTensor t = {.type = ggml_type, .n_parts = n_parts, .raw_bytes = want};
    t.parts = ml_alloc(sizeof(GgufPart) * (size_t)(n_parts ? n_parts : 1));
    memcpy(t.parts, parts, sizeof(GgufPart) * (size_t)n_parts);
    if (add_tensor(w, name, n_dims, ne, t)) return ml_free(t.parts), -1;
    return 0;
}

/* Bytes of a value of type `type` starting at v (arrays: from their element type on). */
static uint64_t raw_value_bytes(uint32_t type, const uint8_t *v) {
    uint64_t n;
    if (type == GGUF_T_STRING) return memcpy(&n, v, 8), 8 + n;
    if (type != GGUF_T_ARRAY) return value_size(type);
    uint32_t et;
    memcpy(&et, v, 4), memcpy(&n, v + 4, 8);
    uint64_t off = 12;
    if (et != GGUF_T_STRING) return off + n * value_size(et);
    for (uint64_t i = 0; i < n; i++) off += raw_value_bytes(GGUF_T_STRING, v + off);
    return off;
}

int gguf_w_copy_kv(GgufWriter *w, const GgufKV *kv) {
    if (begin_kv(w, kv->key, kv->type)) return -1;
    put(w, kv->value, (size_t)raw_value_bytes(kv->type, kv->value));
    return 0;
}

static uint64_t pad_to(uint64_t x) {
    return (x + ALIGN - 1) / ALIGN * ALIGN;
}

static uint64_t tensor_bytes(const WTensor *t) {
    if (t->parts) return t->raw_bytes;
    return t->nelem * (t->type == GGML_F16 ? 2 : 4);
}

static int write_zeros(AtomicFile *af, uint64_t n) {
    static const uint8_t z[ALIGN];
    return n ? afile_write(af, z, (size_t)n) : 0;
}

/* Tensor data, converted to F16 in chunks when asked. */
static int write_data(AtomicFile *af, const WTensor *t) {
    for (int i = 0; i < t->n_parts; i++)
        if (afile_write(af, t->parts[i].data, (size_t)t->parts[i].bytes)) return -1;
    if (t->parts) return 0;
    if (t->type == GGML_F32) return afile_write(af, t->data, (size_t)(t->nelem * 4));
    enum { CH = 8192 };
    uint16_t buf[CH];
    for (uint64_t i = 0; i < t->nelem; i += CH) {
        uint64_t n = t->nelem - i < CH ? t->nelem - i : CH;
        for (uint64_t j = 0; j < n; j++) buf[j] = gguf_f32_to_f16(t->data[i + j]);
        if (afile_write(af, buf, (size_t)(n * 2))) return -1;
    }
    return 0;
}

static int write_all(GgufWriter *w, AtomicFile *af) {
    /* header + metadata + tensor infos go through the metadata buffer's tail */
    size_t kv_end = w->meta_len;
    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        WTensor *t = &w->tensors[i];
        put_str(w, t->name);
        put_u32(w, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(w, t->ne[d]);
        put_u32(w, t->type);
        t->offset = off;
        put_u64(w, off);
        off = pad_to(off + tensor_bytes(t));
    }
    uint8_t head[24];
    memcpy(head, "GGUF", 4);
    uint32_t version = 3;
    memcpy(head + 4, &version, 4);
    memcpy(head + 8, &w->n_tensors, 8);
    memcpy(head + 16, &w->n_kv, 8);
    uint64_t header = sizeof head + w->meta_len;
    if (afile_write(af, head, sizeof head) || afile_write(af, w->meta, w->meta_len) ||
        write_zeros(af, pad_to(header) - header))
        return -1;
    w->meta_len = kv_end;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const WTensor *t = &w->tensors[i];
        uint64_t n = tensor_bytes(t);
        if (write_data(af, t) || write_zeros(af, pad_to(n) - n)) return -1;
    }
    return 0;
}

int gguf_writer_write(GgufWriter *w, const char *path) {
    int r = -1;
    if (w->failed) {
        ml_error("%s: not written: an earlier metadata or tensor was refused", path);
        goto out;
    }
    AtomicFile af;
    if (afile_open(&af, path)) goto out;
    if (write_all(w, &af)) {
        afile_abort(&af);
        goto out;
    }
    r = afile_commit(&af);
out:
    gguf_writer_free(w);
    return r;
}

static float bits_f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t gguf_f32_to_f16(float f) {
    /* Maratyszcza's FP16 conversion, as ggml's scalar path: scaling by 2^112 then 2^-110 makes
     * the float unit round the mantissa to half precision (nearest even, subnormals included). */
    float base = (fabsf(f) * bits_f(0x77800000u)) * bits_f(0x08800000u);
    uint32_t w;
    memcpy(&w, &f, 4);
    const uint32_t shl1 = w + w, sign = w & 0x80000000u;
    uint32_t bias = shl1 & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = bits_f((bias >> 1) + 0x07800000u) + base;
    uint32_t bits;
    memcpy(&bits, &base, 4);
    const uint32_t nonsign = ((bits >> 13) & 0x7C00u) + (bits & 0x0FFFu);
    return (uint16_t)((sign >> 16) | (shl1 > 0xFF000000u ? 0x7E00u : nonsign));
}
