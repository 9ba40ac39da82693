/* Typed metadata getters. Values sit in the map, unaligned: every read goes through memcpy.
 * Integers convert between widths when the value fits, since writers disagree on widths
 * (e.g. a context length as u32 in one converter, u64 in another). */
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "gguf/gguf.h"

static const GgufKV *need(const GgufFile *g, const char *key) {
    const GgufKV *kv = gguf_find(g, key);
    if (!kv) ml_error("%s: missing metadata key '%s'", g->path, key);
    return kv;
}

static int wrong_type(const GgufFile *g, const GgufKV *kv, const char *expected) {
    const char *got = gguf_value_type_name(kv->type);
    if (kv->type == GGUF_T_ARRAY)
        return ml_error("%s: metadata key '%s' is an array of %s, expected %s", g->path, kv->key,
                        gguf_value_type_name(kv->arr_type), expected);
    return ml_error("%s: metadata key '%s' has type %s, expected %s", g->path, kv->key, got,
                    expected);
}

/* The integer metadata types: width and signedness. */
static const struct {
    uint32_t type;
    int bytes, is_signed;
} int_types[] = {
    {GGUF_T_UINT8, 1, 0},  {GGUF_T_INT8, 1, 1},  {GGUF_T_UINT16, 2, 0}, {GGUF_T_INT16, 2, 1},
    {GGUF_T_UINT32, 4, 0}, {GGUF_T_INT32, 4, 1}, {GGUF_T_UINT64, 8, 0}, {GGUF_T_INT64, 8, 1},
};

/* Integer value of a scalar kv as a signed 128-bit-safe pair: *neg set for negative values (read
 * from *s), else the value is *u (and *s too when it fits). -1 for a non-integer type. */
static int int_value(const uint8_t *p, uint32_t type, int64_t *s, uint64_t *u, int *neg) {
    for (size_t i = 0; i < sizeof int_types / sizeof *int_types; i++) {
        if (int_types[i].type != type) continue;
        int shift = 64 - 8 * int_types[i].bytes;
        uint64_t raw = 0;
        memcpy(&raw, p, (size_t)int_types[i].bytes); /* little-endian: the low bytes */
        int64_t extended = (int64_t)(raw << shift) >> shift;
        *neg = int_types[i].is_signed && extended < 0;
        if (*neg)
            *s = extended;
        else if ((*u = raw) <= (uint64_t)INT64_MAX)
            *s = (int64_t)raw;
        return 0;
    }
    return -1;
}

/* Reads any integer kv into [lo, hi] (as u64 bounds for non-negatives, allowing negatives only
 * when allow_neg). */
static int get_int(const GgufFile *g, const char *key, uint64_t hi, int allow_neg, int64_t *s,
                   uint64_t *u) {
    const GgufKV *kv = need(g, key);
    if (!kv) return -1;
    int neg;
    if (kv->type == GGUF_T_ARRAY || int_value(kv->value, kv->type, s, u, &neg))
        return wrong_type(g, kv, "an integer");
    if (neg && !allow_neg)
        return ml_error("%s: metadata key '%s' is negative (%lld)", g->path, key, (long long)*s);
    if (!neg && *u > hi)
        return ml_error("%s: metadata key '%s' = %llu is out of range", g->path, key,
                        (unsigned long long)*u);
    return 0;
}

int gguf_get_u32(const GgufFile *g, const char *key, uint32_t *v) {
    int64_t s = 0;
    uint64_t u = 0;
    if (get_int(g, key, UINT32_MAX, 0, &s, &u)) return -1;
    *v = (uint32_t)u;
    return 0;
}

int gguf_get_u64(const GgufFile *g, const char *key, uint64_t *v) {
    int64_t s = 0;
    return get_int(g, key, UINT64_MAX, 0, &s, v);
}

int gguf_get_i64(const GgufFile *g, const char *key, int64_t *v) {
    uint64_t u = 0;
    return get_int(g, key, (uint64_t)INT64_MAX, 1, v, &u);
}

int gguf_get_f32(const GgufFile *g, const char *key, float *v) {
    const GgufKV *kv = need(g, key);
    if (!kv) return -1;
    if (kv->type == GGUF_T_FLOAT32) {
        memcpy(v, kv->value, 4);
    } else if (kv->type == GGUF_T_FLOAT64) {
        double d;
        memcpy(&d, kv->value, 8);
        *v = (float)d;
    } else {
        return wrong_type(g, kv, "f32");
    }
    return 0;
}

int gguf_get_bool(const GgufFile *g, const char *key, int *v) {
    const GgufKV *kv = need(g, key);
    if (!kv) return -1;
    if (kv->type != GGUF_T_BOOL) return wrong_type(g, kv, "bool");
    *v = kv->value[0] != 0;
    return 0;
}

int gguf_get_str(const GgufFile *g, const char *key, GgufStr *v) {
    const GgufKV *kv = need(g, key);
    if (!kv) return -1;
    if (kv->type != GGUF_T_STRING) return wrong_type(g, kv, "string");
    memcpy(&v->len, kv->value, 8);
    v->ptr = (const char *)kv->value + 8;
    return 0;
}

int gguf_get_strdup(const GgufFile *g, const char *key, char **v) {
    GgufStr s = {0};
    if (gguf_get_str(g, key, &s)) return -1;
    *v = ml_alloc(s.len + 1);
    memcpy(*v, s.ptr, s.len);
    return 0;
}

static const GgufKV *need_array(const GgufFile *g, const char *key, uint32_t elem,
                                const char *expected) {
    const GgufKV *kv = need(g, key);
    if (kv && (kv->type != GGUF_T_ARRAY || kv->arr_type != elem)) {
        wrong_type(g, kv, expected);
        return NULL;
    }
    return kv;
}

/* Array data starts after the element type (u32) and the count (u64). */
static const uint8_t *array_data(const GgufKV *kv) {
    return kv->value + 12;
}

int gguf_get_str_array(const GgufFile *g, const char *key, GgufStr **out, uint64_t *n) {
    const GgufKV *kv = need_array(g, key, GGUF_T_STRING, "an array of strings");
    if (!kv) return -1;
    GgufStr *s = ml_alloc((kv->arr_n ? kv->arr_n : 1) * sizeof(GgufStr));
    const uint8_t *p = array_data(kv); /* lengths were checked at open */
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        memcpy(&s[i].len, p, 8);
        s[i].ptr = (const char *)p + 8;
        p += 8 + s[i].len;
    }
    *out = s;
    *n = kv->arr_n;
    return 0;
}

int gguf_get_f32_array(const GgufFile *g, const char *key, float **out, uint64_t *n) {
    const GgufKV *kv = need_array(g, key, GGUF_T_FLOAT32, "an array of f32");
    if (!kv) return -1;
    *out = ml_alloc_floats(kv->arr_n);
    memcpy(*out, array_data(kv), kv->arr_n * 4);
    *n = kv->arr_n;
    return 0;
}

int gguf_get_i32_array(const GgufFile *g, const char *key, int32_t **out, uint64_t *n) {
    const GgufKV *kv = gguf_find(g, key);
    if (!kv) return ml_error("%s: missing metadata key '%s'", g->path, key);
    if (kv->type != GGUF_T_ARRAY || (kv->arr_type != GGUF_T_INT32 && kv->arr_type != GGUF_T_UINT32))
        return wrong_type(g, kv, "an array of i32");
    *out = ml_alloc((kv->arr_n ? kv->arr_n : 1) * 4);
    memcpy(*out, array_data(kv), kv->arr_n * 4);
    *n = kv->arr_n;
    return 0;
}

int gguf_opt_u32(const GgufFile *g, const char *key, uint32_t *v) {
    return gguf_find(g, key) ? gguf_get_u32(g, key, v) : 0;
}
int gguf_opt_f32(const GgufFile *g, const char *key, float *v) {
    return gguf_find(g, key) ? gguf_get_f32(g, key, v) : 0;
}
int gguf_opt_bool(const GgufFile *g, const char *key, int *v) {
    return gguf_find(g, key) ? gguf_get_bool(g, key, v) : 0;
}
