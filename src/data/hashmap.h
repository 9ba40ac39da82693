/* Two small open-addressing hash maps for the tokenizer: byte strings → int64 (pre-token counts,
 * vocabulary lookup, encode cache) and uint64 keys → int32 (token pairs). Entries are never
 * removed; the tables double when half full. Running out of memory is fatal (ml_alloc's rule). */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t *slots; /* entry index + 1; 0 = empty */
    size_t cap;      /* power of two */
    uint64_t *hash;
    size_t *off;
    uint32_t *len;
    int64_t *val;
    long n, n_cap;
    char *keys;
    size_t keys_len, keys_cap;
} BytesMap;

void bmap_init(BytesMap *m);
void bmap_free(BytesMap *m);
uint64_t bmap_hash(const char *s, size_t n);                /* FNV-1a 64 */
long bmap_find(const BytesMap *m, const char *s, size_t n); /* entry index, or -1 */
/* Entry of the key, created with `val` if absent (*added = 1 then). */
long bmap_insert(BytesMap *m, const char *s, size_t n, int64_t val, int *added);
static inline const char *bmap_key(const BytesMap *m, long e) {
    return m->keys + m->off[e];
}

typedef struct {
    uint64_t *keys;
    int32_t *vals; /* -1 = empty slot */
    size_t cap, n;
} U64Map;

void u64map_init(U64Map *m, size_t expected);
void u64map_free(U64Map *m);
int32_t u64map_get(const U64Map *m, uint64_t key); /* -1 if absent */
void u64map_put(U64Map *m, uint64_t key, int32_t val);

/* realloc that is fatal on failure (for growing scratch arrays). */
void *ml_grow(void *p, size_t bytes);
