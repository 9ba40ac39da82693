/* Byte-level BPE training (docs/tokenizer.md). Pre-tokens are counted once; each distinct
 * pre-token ("word") is a sequence of symbols with a count. Pair counts live in a hash map with,
 * per pair, the list of words that contain it; a max-heap with lazy deletion picks the most
 * frequent pair (ties: smaller left id, then smaller right id). A merge only revisits the words
 * that contain the pair, so training costs about the corpus' distinct pre-tokens times merges
 * touching them, not the corpus size. */
#include "core/error.h"
#include "core/mem.h"
#include "core/progress.h"
#include "data/pretok.h"
#include "data/tokenizer_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t count;
    int32_t a, b;
} HeapEntry;

typedef struct {
    HeapEntry *v;
    long n, cap;
} Heap;

static int heap_before(const HeapEntry *x, const HeapEntry *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

static void heap_push(Heap *h, HeapEntry e) {
    if (h->n == h->cap)
        h->cap = h->cap ? 2 * h->cap : 4096, h->v = ml_grow(h->v, (size_t)h->cap * sizeof e);
    long i = h->n++;
    while (i > 0 && heap_before(&e, &h->v[(i - 1) / 2]))
        h->v[i] = h->v[(i - 1) / 2], i = (i - 1) / 2;
    h->v[i] = e;
}

static HeapEntry heap_pop(Heap *h) {
    HeapEntry top = h->v[0], last = h->v[--h->n];
    long i = 0;
    for (;;) {
        long l = 2 * i + 1, r = l + 1, m = i;
        const HeapEntry *best = &last;
        if (l < h->n && heap_before(&h->v[l], best)) m = l, best = &h->v[l];
        if (r < h->n && heap_before(&h->v[r], best)) m = r;
        if (m == i) break;
        h->v[i] = h->v[m], i = m;
    }
    if (h->n) h->v[i] = last;
    return top;
}

typedef struct {
    int64_t *count;
    int32_t *a, *b;
    int32_t **where; /* words holding the pair (may repeat or be stale; checked on use) */
    int32_t *where_n, *where_cap;
    int32_t *stamp; /* last merge that changed the count */
    long n, cap;
    U64Map index;
} Pairs;

static uint64_t key(int32_t a, int32_t b) {
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static int32_t pair_get(Pairs *p, int32_t a, int32_t b) {
    int32_t i = u64map_get(&p->index, key(a, b));
    if (i >= 0) return i;
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 65536;
        p->count = ml_grow(p->count, (size_t)p->cap * sizeof *p->count);
        p->a = ml_grow(p->a, (size_t)p->cap * sizeof *p->a);
        p->b = ml_grow(p->b, (size_t)p->cap * sizeof *p->b);
        p->where = ml_grow(p->where, (size_t)p->cap * sizeof *p->where);
        p->where_n = ml_grow(p->where_n, (size_t)p->cap * sizeof *p->where_n);
        p->where_cap = ml_grow(p->where_cap, (size_t)p->cap * sizeof *p->where_cap);
        p->stamp = ml_grow(p->stamp, (size_t)p->cap * sizeof *p->stamp);
    }
    i = (int32_t)p->n++;
    p->count[i] = 0, p->a[i] = a, p->b[i] = b, p->where[i] = NULL,
    p->where_n[i] = p->where_cap[i] = 0;
    p->stamp[i] = -1;
    u64map_put(&p->index, key(a, b), i);
    return i;
}

static void where_add(Pairs *p, int32_t i, int32_t w) {
    if (p->where_n[i] && p->where[i][p->where_n[i] - 1] == w) return;
    if (p->where_n[i] == p->where_cap[i]) {
        p->where_cap[i] = p->where_cap[i] ? 2 * p->where_cap[i] : 4;
        p->where[i] = ml_grow(p->where[i], (size_t)p->where_cap[i] * sizeof(int32_t));
    }
    p->where[i][p->where_n[i]++] = w;
}

typedef struct {
    int32_t *sym;
    size_t *off;
    int32_t *len;
    int64_t *cnt;
    long n;
} Words;

static void count_piece(const char *piece, size_t n, void *ctx) {
    BytesMap *m = ctx;
    long e = bmap_insert(m, piece, n, 0, NULL);
    m->val[e]++;
}

typedef struct {
    int32_t *list;
    long n, cap;
} Changed;

/* Adds `delta` to a pair's count and notes it for a heap push. */
static void pair_change(Pairs *p, Changed *ch, int32_t a, int32_t b, int64_t delta, int merge) {
    int32_t i = pair_get(p, a, b);
    p->count[i] += delta;
    if (p->stamp[i] != merge) {
        p->stamp[i] = merge;
        if (ch->n == ch->cap)
            ch->cap = ch->cap ? 2 * ch->cap : 1024,
            ch->list = ml_grow(ch->list, (size_t)ch->cap * sizeof(int32_t));
        ch->list[ch->n++] = i;
    }
}

int tokenizer_train(Tokenizer **out, const char *const *texts, const size_t *lens, long n_texts,
                    const BpeTrainOptions *opt) {
    *out = NULL;
    if (opt->vocab_size < 257 || opt->vocab_size > 1 << 24)
        return ml_error("tokenizer: vocab size must be in 257..%d, got %d", 1 << 24,
                        opt->vocab_size);
    double t0 = ml_now();
    BytesMap counts;
    bmap_init(&counts);
    for (long i = 0; i < n_texts; i++) pretok_each(texts[i], lens[i], count_piece, &counts);

    Words w = {0};
    w.n = counts.n;
    w.sym = ml_grow(NULL, (counts.keys_len + 1) * sizeof(int32_t));
    w.off = ml_grow(NULL, ((size_t)w.n + 1) * sizeof(size_t));
    w.len = ml_grow(NULL, ((size_t)w.n + 1) * sizeof(int32_t));
    w.cnt = ml_grow(NULL, ((size_t)w.n + 1) * sizeof(int64_t));
    size_t total_syms = 0;
    for (long i = 0; i < w.n; i++) {
        const unsigned char *s = (const unsigned char *)bmap_key(&counts, i);
        w.off[i] = total_syms, w.len[i] = (int32_t)counts.len[i], w.cnt[i] = counts.val[i];
        for (uint32_t k = 0; k < counts.len[i]; k++) w.sym[total_syms++] = s[k];
    }
    bmap_free(&counts);
    if (opt->verbose)
        fprintf(stderr, "tokenizer: %ld distinct pre-tokens counted in %.1fs\n", w.n,
                ml_now() - t0);

    Pairs p = {0};
    u64map_init(&p.index, 1 << 16);
    for (long i = 0; i < w.n; i++) {
        int32_t *s = w.sym + w.off[i];
        for (int32_t k = 0; k + 1 < w.len[i]; k++) {
            int32_t pi = pair_get(&p, s[k], s[k + 1]);
            p.count[pi] += w.cnt[i];
            where_add(&p, pi, (int32_t)i);
        }
    }
    Heap heap = {0};
    for (long i = 0; i < p.n; i++) heap_push(&heap, (HeapEntry){p.count[i], p.a[i], p.b[i]});

    Tokenizer *t = tok_new();
    int32_t *word_stamp = ml_grow(NULL, ((size_t)w.n + 1) * sizeof(int32_t));
    for (long i = 0; i < w.n; i++) word_stamp[i] = -1;
    Changed ch = {0};
    char *buf = NULL;
    size_t buf_cap = 0;
    Progress prog;
    if (opt->verbose) progress_start(&prog, "tokenizer merges", opt->vocab_size - 257);
    int merge = 0;
    while (t->vocab_size < opt->vocab_size - 1 && heap.n) {
        HeapEntry top = heap_pop(&heap);
        int32_t pi = u64map_get(&p.index, key(top.a, top.b));
        if (p.count[pi] != top.count || top.count <= 0) continue; /* stale entry */
        int32_t a = top.a, b = top.b;
        size_t la = t->tok_len[a], lb = t->tok_len[b];
        if (la + lb > buf_cap) buf_cap = 2 * (la + lb), buf = ml_grow(buf, buf_cap);
        memcpy(buf, t->bytes + t->tok_off[a], la);
        memcpy(buf + la, t->bytes + t->tok_off[b], lb);
        long e = bmap_find(&t->vocab, buf, la + lb);
        int32_t c = e >= 0 ? (int32_t)t->vocab.val[e] : tok_add_token(t, buf, la + lb);
        tok_add_merge(t, a, b, c);
        ch.n = 0;
        int32_t nw = p.where_n[pi], *where = p.where[pi];
        p.where[pi] = NULL, p.where_n[pi] = p.where_cap[pi] = 0;
        for (int32_t k = 0; k < nw; k++) {
            int32_t wi = where[k];
            if (word_stamp[wi] == merge) continue;
            word_stamp[wi] = merge;
            int32_t *s = w.sym + w.off[wi], n = w.len[wi];
            int found = 0;
            for (int32_t j = 0; j + 1 < n && !found; j++) found = s[j] == a && s[j + 1] == b;
            if (!found) continue;
            int64_t cnt = w.cnt[wi];
            for (int32_t j = 0; j + 1 < n; j++) pair_change(&p, &ch, s[j], s[j + 1], -cnt, merge);
            int32_t m = 0;
            for (int32_t j = 0; j < n; j++) {
                if (j + 1 < n && s[j] == a && s[j + 1] == b)
                    s[m++] = c, j++;
                else
                    s[m++] = s[j];
            }
            w.len[wi] = n = m;
            for (int32_t j = 0; j + 1 < n; j++) {
                pair_change(&p, &ch, s[j], s[j + 1], cnt, merge);
                if (s[j] == c || s[j + 1] == c) where_add(&p, pair_get(&p, s[j], s[j + 1]), wi);
            }
        }
        free(where);
        p.count[pi] = 0;
        for (long k = 0; k < ch.n; k++) {
            int32_t q = ch.list[k];
            if (p.count[q] > 0) heap_push(&heap, (HeapEntry){p.count[q], p.a[q], p.b[q]});
        }
        merge++;
        if (opt->verbose && merge % 500 == 0) progress_update(&prog, t->vocab_size - 256, NULL);
    }
    if (opt->verbose) {
        char extra[128];
        snprintf(extra, sizeof extra, "%d merges, vocab %d, %.1fs", merge, t->vocab_size + 1,
                 ml_now() - t0);
        progress_end(&prog, extra);
    }
    free(buf), free(ch.list), free(word_stamp), free(heap.v);
    for (long i = 0; i < p.n; i++) free(p.where[i]);
    free(p.count), free(p.a), free(p.b), free(p.where), free(p.where_n), free(p.where_cap),
        free(p.stamp);
    u64map_free(&p.index);
    free(w.sym), free(w.off), free(w.len), free(w.cnt);
    if (tok_finish(t)) {
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}
