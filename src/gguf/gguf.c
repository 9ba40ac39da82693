/* GGUF parsing: header, key/values, tensor infos, data section (layout: docs/gguf.md).
 * The checks follow ggml's gguf.cpp reader; every read is bounds-checked against the file size
 * before it happens, and every count is checked against the bytes left before anything is
 * allocated for it, so a hostile file costs at most O(file size) memory and time. */
#include "gguf/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NAME 1024 /* longest key or tensor name accepted (ggml: 64 for tensor names) */

typedef struct {
    const uint8_t *p;
    size_t pos, size;
    const char *path;
} Reader;

static size_t remaining(const Reader *r) {
    return r->size - r->pos;
}

static int check_room(const Reader *r, size_t n, const char *what) {
    if (n > remaining(r))
        return ml_error(
            "%s: truncated header: %s at byte %zu runs past the end of the file (%zu bytes)",
            r->path, what, r->pos, r->size);
    return 0;
}

/* A count read from the header (keys, tensors, array strings) is refused before anything is
 * allocated for it when the bytes left could not hold that many items of at least `least` bytes. */
static int check_count(const Reader *r, uint64_t n, size_t least, const char *who,
                       const char *items) {
    if (n <= remaining(r) / least) return 0;
    return ml_error("%s: truncated header or absurd count: %s claims %llu %s, more than the %zu "
                    "bytes left can hold",
                    r->path, who, (unsigned long long)n, items, remaining(r));
}

static int read_bytes(Reader *r, void *dst, size_t n, const char *what) {
    if (check_room(r, n, what)) return -1;
    memcpy(dst, r->p + r->pos, n);
    r->pos += n;
    return 0;
}

static int read_u32(Reader *r, uint32_t *v, const char *what) {
    return read_bytes(r, v, 4, what);
}
static int read_u64(Reader *r, uint64_t *v, const char *what) {
    return read_bytes(r, v, 8, what);
}

/* A length-prefixed string, left in the map. */
static int read_str(Reader *r, GgufStr *s, const char *what) {
    if (read_u64(r, &s->len, what)) return -1;
    if (s->len > remaining(r))
        return ml_error("%s: truncated header: %s at byte %zu claims %llu bytes, only %zu remain",
                        r->path, what, r->pos - 8, (unsigned long long)s->len, remaining(r));
    s->ptr = (const char *)r->p + r->pos;
    r->pos += s->len;
    return 0;
}

/* A metadata key or tensor name ("metadata key", "tensor name"): non-empty, at most
 * GGUF_MAX_NAME bytes, no NUL; *out is a NUL-terminated copy. */
static int read_name(Reader *r, char **out, const char *what) {
    GgufStr s = {0};
    char where[64];
    snprintf(where, sizeof where, "a %s", what);
    if (read_str(r, &s, where)) return -1;
    if (s.len == 0 || s.len > GGUF_MAX_NAME || memchr(s.ptr, 0, s.len))
        return ml_error("%s: %s at byte %zu is empty, too long or holds a NUL", r->path, what,
                        r->pos - s.len);
    *out = ml_alloc(s.len + 1);
    memcpy(*out, s.ptr, s.len);
    return 0;
}

static int scalar_size(uint32_t t) {
    static const int sz[GGUF_T_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < GGUF_T_COUNT ? sz[t] : 0;
}

/* Skips one value of type t (after checking it lies in the file); arrays of arrays are refused. */
static int skip_value(Reader *r, uint32_t t, const char *key) {
    if (t == GGUF_T_STRING) {
        GgufStr s = {0};
        return read_str(r, &s, "a string value");
    }
    int sz = scalar_size(t);
    if (sz == 0)
        return ml_error("%s: metadata key '%s' has unknown value type %u", r->path, key, t);
    char what[64];
    snprintf(what, sizeof what, "a %s value", gguf_value_type_name(t));
    if (check_room(r, (size_t)sz, what)) return -1;
    r->pos += (size_t)sz;
    return 0;
}

static int read_kv(Reader *r, GgufKV *kv) {
    if (read_name(r, &kv->key, "metadata key")) return -1;
    if (read_u32(r, &kv->type, "a metadata value type")) return -1;
    kv->value = r->p + r->pos;
    if (kv->type != GGUF_T_ARRAY) return skip_value(r, kv->type, kv->key);
    if (read_u32(r, &kv->arr_type, "an array element type") ||
        read_u64(r, &kv->arr_n, "an array length"))
        return -1;
    if (kv->arr_type == GGUF_T_ARRAY)
        return ml_error("%s: metadata key '%s' is an array of arrays (unsupported)", r->path,
                        kv->key);
    if (kv->arr_type == GGUF_T_STRING) {
        char who[GGUF_MAX_NAME + 16];
        snprintf(who, sizeof who, "metadata key '%s'", kv->key);
        if (check_count(r, kv->arr_n, 8, who, "strings")) return -1;
        for (uint64_t i = 0; i < kv->arr_n; i++)
            if (skip_value(r, GGUF_T_STRING, kv->key)) return -1;
        return 0;
    }
    int sz = scalar_size(kv->arr_type);
    if (sz == 0)
        return ml_error("%s: metadata key '%s' has unknown array element type %u", r->path, kv->key,
                        kv->arr_type);
    if (kv->arr_n > remaining(r) / (size_t)sz)
        return ml_error(
            "%s: truncated header: metadata key '%s' claims %llu elements, only %zu bytes remain",
            r->path, kv->key, (unsigned long long)kv->arr_n, remaining(r));
    r->pos += kv->arr_n * (size_t)sz;
    return 0;
}

static int cmp_kv(const void *a, const void *b) {
    return strcmp(((const GgufKV *)a)->key, ((const GgufKV *)b)->key);
}
static int cmp_tensor_ptr(const void *a, const void *b) {
    return strcmp((*(const GgufTensor *const *)a)->name, (*(const GgufTensor *const *)b)->name);
}

static int read_kvs(Reader *r, GgufFile *g) {
    /* a key/value takes at least 8 (key length) + 1 (key) + 4 (type) + 1 (u8 value) bytes */
    if (check_count(r, g->n_kv, 14, "it", "metadata keys")) return -1;
    g->kv = ml_alloc((g->n_kv ? g->n_kv : 1) * sizeof(GgufKV));
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (read_kv(r, &g->kv[i])) return -1;
    /* sorted by key for lookup by bsearch; duplicates are an error, as in ggml */
    qsort(g->kv, g->n_kv, sizeof(GgufKV), cmp_kv);
    for (uint64_t i = 1; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, g->kv[i - 1].key))
            return ml_error("%s: duplicate metadata key '%s'", r->path, g->kv[i].key);
    return 0;
}

static int read_alignment(GgufFile *g) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const GgufKV *kv = gguf_find(g, "general.alignment");
    if (!kv) return 0;
    if (kv->type != GGUF_T_UINT32)
        return ml_error("%s: general.alignment has type %s, expected u32", g->path,
                        gguf_value_type_name(kv->type));
    memcpy(&g->alignment, kv->value, 4);
    if (g->alignment == 0 || (g->alignment & (g->alignment - 1)))
        return ml_error("%s: general.alignment %u is not a power of 2", g->path, g->alignment);
    return 0;
}

/* Shape, type and size of one tensor info; offsets are checked once the data section is known. */
static int read_tensor_info(Reader *r, GgufFile *g, GgufTensor *t) {
    if (read_name(r, &t->name, "tensor name")) return -1;
    t->file = g;
    if (read_u32(r, &t->n_dims, "a tensor's dimension count")) return -1;
    if (t->n_dims > 4)
        return ml_error("%s: tensor '%s' has %u dimensions, at most 4", r->path, t->name,
                        t->n_dims);
    uint64_t nelem = 1;
    for (int d = 0; d < 4; d++) {
        t->ne[d] = 1;
        if ((uint32_t)d < t->n_dims && read_u64(r, &t->ne[d], "a tensor dimension")) return -1;
        if (t->ne[d] > (uint64_t)INT64_MAX || (t->ne[d] && nelem > (uint64_t)INT64_MAX / t->ne[d]))
            return ml_error("%s: tensor '%s' has an absurd shape (more than 2^63 elements)",
                            r->path, t->name);
        nelem *= t->ne[d];
    }
    if (read_u32(r, &t->type, "a tensor type") || read_u64(r, &t->offset, "a tensor offset"))
        return -1;
    int block = gguf_ttype_block(t->type);
    if (block == 0)
        return ml_error("%s: tensor '%s' has unknown tensor type %u", r->path, t->name, t->type);
    if (t->ne[0] % (uint64_t)block)
        return ml_error("%s: tensor '%s' of type %s has rows of %llu elements, not a multiple of "
                        "its block of %d",
                        r->path, t->name, gguf_ttype_name(t->type), (unsigned long long)t->ne[0],
                        block);
    t->row_bytes = t->ne[0] / (uint64_t)block * (uint64_t)gguf_ttype_block_bytes(t->type);
    t->n_rows = t->ne[1] * t->ne[2] * t->ne[3];
    if (t->n_rows && t->row_bytes > UINT64_MAX / t->n_rows)
        return ml_error("%s: tensor '%s' has an absurd size", r->path, t->name);
    t->nbytes = t->row_bytes * t->n_rows;
    return 0;
}

static int read_tensors(Reader *r, GgufFile *g) {
    /* a tensor info takes at least 8 + 1 (name) + 4 (n_dims) + 4 (type) + 8 (offset) bytes */
    if (check_count(r, g->n_tensors, 25, "it", "tensors")) return -1;
    g->tensors = ml_alloc((g->n_tensors ? g->n_tensors : 1) * sizeof(GgufTensor));
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (read_tensor_info(r, g, &g->tensors[i])) return -1;
    GgufTensor **idx = ml_alloc((g->n_tensors ? g->n_tensors : 1) * sizeof(GgufTensor *));
    for (uint64_t i = 0; i < g->n_tensors; i++) idx[i] = &g->tensors[i];
    qsort(idx, g->n_tensors, sizeof *idx, cmp_tensor_ptr);
    int rc = 0;
    for (uint64_t i = 1; i < g->n_tensors && !rc; i++)
        if (!strcmp(idx[i]->name, idx[i - 1]->name))
            rc = ml_error("%s: duplicate tensor name '%s'", r->path, idx[i]->name);
    ml_free(idx);
    if (rc) return -1;

    g->data_offset = (r->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors && g->data_offset > r->size)
        return ml_error("%s: truncated file: the data section would start at byte %llu, past the "
                        "end (%zu bytes)",
                        r->path, (unsigned long long)g->data_offset, r->size);
    uint64_t data_size = g->n_tensors ? r->size - g->data_offset : 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        GgufTensor *t = &g->tensors[i];
        if (t->offset % g->alignment)
            return ml_error("%s: tensor '%s' has misaligned data: offset %llu is not a multiple of "
                            "the alignment %u",
                            r->path, t->name, (unsigned long long)t->offset, g->alignment);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return ml_error(
                "%s: tensor '%s' (%llu bytes at data offset %llu) extends past the end of the file "
                "(data section of %llu bytes)",
                r->path, t->name, (unsigned long long)t->nbytes, (unsigned long long)t->offset,
                (unsigned long long)data_size);
        t->data = r->p + g->data_offset + t->offset;
    }
    return 0;
}

static int parse(GgufFile *g) {
    Reader r = {g->base, 0, g->size, g->path};
    char magic[4];
    if (g->size < 4 || memcmp(g->base, "GGUF", 4)) {
        if (g->size < 4)
            return ml_error("%s: truncated header: %zu bytes, not a GGUF file", g->path, g->size);
        return ml_error("%s: bad magic (expected \"GGUF\"): not a GGUF file", g->path);
    }
    if (read_bytes(&r, magic, 4, "the magic") || read_u32(&r, &g->version, "the version"))
        return -1;
    if (g->version == 1)
        return ml_error("%s: GGUF version 1 is not supported (only 2 and 3)", g->path);
    if (g->version != 2 && g->version != 3)
        return ml_error("%s: bad GGUF version %u (expected 2 or 3; a big-endian file?)", g->path,
                        g->version);
    if (read_u64(&r, &g->n_tensors, "the tensor count") ||
        read_u64(&r, &g->n_kv, "the metadata key count"))
        return -1;
    if (read_kvs(&r, g) || read_alignment(g)) return -1;
    return read_tensors(&r, g);
}

static GgufFile *new_file(const char *path) {
    GgufFile *g = ml_alloc(sizeof *g);
    g->path = ml_strdup(path);
    return g;
}

int gguf_open_memory(GgufFile **out, const void *buf, size_t size, const char *name) {
    GgufFile *g = new_file(name);
    g->base = buf;
    g->size = size;
    if (parse(g)) {
        gguf_close(g);
        *out = NULL;
        return -1;
    }
    *out = g;
    return 0;
}

int gguf_open(GgufFile **out, const char *path) {
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ml_error("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return ml_error("%s: not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return ml_error("%s: truncated header: %lld bytes, not a GGUF file", path,
                        (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return ml_error("%s: cannot mmap: %s", path, strerror(errno));
    GgufFile *g = new_file(path);
    g->base = map;
    g->size = (size_t)st.st_size;
    g->mapped = 1;
    if (parse(g)) {
        gguf_close(g);
        return -1;
    }
    *out = g;
    return 0;
}

void gguf_close(GgufFile *g) {
    if (!g) return;
    if (g->mapped) munmap((void *)g->base, g->size);
    for (uint64_t i = 0; g->kv && i < g->n_kv; i++) ml_free(g->kv[i].key);
    for (uint64_t i = 0; g->tensors && i < g->n_tensors; i++) ml_free(g->tensors[i].name);
    ml_free(g->kv);
    ml_free(g->tensors);
    ml_free(g->path);
    ml_free(g);
}

const GgufKV *gguf_find(const GgufFile *g, const char *key) {
    GgufKV probe = {.key = (char *)key};
    return g->kv ? bsearch(&probe, g->kv, g->n_kv, sizeof(GgufKV), cmp_kv) : NULL;
}

const GgufTensor *gguf_tensor(const GgufFile *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

int gguf_get_tensor(const GgufFile *g, const char *name, const GgufTensor **t) {
    *t = gguf_tensor(g, name);
    if (!*t) return ml_error("%s: missing tensor '%s'", g->path, name);
    return 0;
}
