#include "data/hashmap.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

void *ml_grow(void *p, size_t bytes) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) ml_fatal("out of memory (growing to %zu bytes)", bytes);
    return q;
}

uint64_t bmap_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

void bmap_init(BytesMap *m) {
    memset(m, 0, sizeof *m);
    m->cap = 1024;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) ml_fatal("out of memory");
}

void bmap_free(BytesMap *m) {
    free(m->slots), free(m->hash), free(m->off), free(m->len), free(m->val), free(m->keys);
    memset(m, 0, sizeof *m);
}

static size_t bmap_slot(const BytesMap *m, uint64_t h, const char *s, size_t n) {
    size_t i = h & (m->cap - 1);
    for (;;) {
        uint32_t e = m->slots[i];
        if (!e) return i;
        e--;
        if (m->hash[e] == h && m->len[e] == n && !memcmp(m->keys + m->off[e], s, n)) return i;
        i = (i + 1) & (m->cap - 1);
    }
}

long bmap_find(const BytesMap *m, const char *s, size_t n) {
    uint32_t e = m->slots[bmap_slot(m, bmap_hash(s, n), s, n)];
    return e ? (long)e - 1 : -1;
}

static void bmap_rehash(BytesMap *m) {
    free(m->slots);
    m->cap *= 2;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) ml_fatal("out of memory");
    for (long e = 0; e < m->n; e++) {
        size_t i = m->hash[e] & (m->cap - 1);
        while (m->slots[i]) i = (i + 1) & (m->cap - 1);
        m->slots[i] = (uint32_t)e + 1;
    }
}

long bmap_insert(BytesMap *m, const char *s, size_t n, int64_t val, int *added) {
    uint64_t h = bmap_hash(s, n);
    size_t i = bmap_slot(m, h, s, n);
    if (added) *added = 0;
    if (m->slots[i]) return (long)m->slots[i] - 1;
    if (m->n == m->n_cap) {
        m->n_cap = m->n_cap ? m->n_cap * 2 : 1024;
        m->hash = ml_grow(m->hash, m->n_cap * sizeof *m->hash);
        m->off = ml_grow(m->off, m->n_cap * sizeof *m->off);
        m->len = ml_grow(m->len, m->n_cap * sizeof *m->len);
        m->val = ml_grow(m->val, m->n_cap * sizeof *m->val);
    }
    if (m->keys_len + n + 1 > m->keys_cap) {
        m->keys_cap = (m->keys_len + n + 1) * 2;
        m->keys = ml_grow(m->keys, m->keys_cap);
    }
    long e = m->n++;
    memcpy(m->keys + m->keys_len, s, n);
    m->keys[m->keys_len + n] = 0;
    m->hash[e] = h, m->off[e] = m->keys_len, m->len[e] = (uint32_t)n, m->val[e] = val;
    m->keys_len += n + 1;
    m->slots[i] = (uint32_t)e + 1;
    if (added) *added = 1;
    if ((size_t)m->n * 2 > m->cap) bmap_rehash(m);
    return e;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33, x *= 0xff51afd7ed558ccdULL, x ^= x >> 33, x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

void u64map_init(U64Map *m, size_t expected) {
    m->cap = 1024;
    while (m->cap < expected * 2) m->cap *= 2;
    m->n = 0;
    m->keys = ml_grow(NULL, m->cap * sizeof *m->keys);
    m->vals = ml_grow(NULL, m->cap * sizeof *m->vals);
    memset(m->vals, 0xff, m->cap * sizeof *m->vals);
}

void u64map_free(U64Map *m) {
    free(m->keys), free(m->vals);
    memset(m, 0, sizeof *m);
}

int32_t u64map_get(const U64Map *m, uint64_t key) {
    size_t i = mix64(key) & (m->cap - 1);
    while (m->vals[i] >= 0) {
        if (m->keys[i] == key) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

void u64map_put(U64Map *m, uint64_t key, int32_t val) {
    if ((m->n + 1) * 2 > m->cap) {
        U64Map g;
        u64map_init(&g, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->vals[i] >= 0) u64map_put(&g, m->keys[i], m->vals[i]);
        u64map_free(m);
        *m = g;
    }
    size_t i = mix64(key) & (m->cap - 1);
    while (m->vals[i] >= 0) {
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = key, m->vals[i] = val, m->n++;
}
