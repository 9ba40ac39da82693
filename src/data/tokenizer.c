#include "data/tokenizer.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/pretok.h"
#include "data/tokenizer_internal.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100.. in byte order, so every token is a printable string without spaces. */
static uint32_t byte_to_cp(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
        return (uint32_t)b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
    return 256u + (uint32_t)n;
}

static int cp_to_byte(uint32_t cp) {
    static int table[512];
    static int ready;
    if (!ready) { /* benign race: every thread writes the same values */
        for (int i = 0; i < 512; i++) table[i] = -1;
        for (int b = 0; b < 256; b++) table[byte_to_cp(b)] = b;
        ready = 1;
    }
    return cp < 512 ? table[cp] : -1;
}

static size_t utf8_put(char *out, uint32_t cp) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F));
    return 2; /* byte-level code points are all < 0x800 */
}

static char *byte_level_str(const char *bytes, size_t n) {
    char *s = ml_alloc(2 * n + 1), *p = s;
    for (size_t i = 0; i < n; i++) p += utf8_put(p, byte_to_cp((unsigned char)bytes[i]));
    *p = 0;
    return s;
}

/* Byte-level string → raw bytes (out has room for strlen(s) bytes); -1 if not byte-level. */
static long byte_level_decode(const char *s, char *out) {
    size_t len = strlen(s), i = 0;
    long n = 0;
    while (i < len) {
        int32_t cp;
        i += (size_t)utf8_decode((const unsigned char *)s + i, len - i, &cp);
        int b = cp < 0 ? -1 : cp_to_byte((uint32_t)cp);
        if (b < 0) return -1;
        out[n++] = (char)b;
    }
    return n;
}

Tokenizer *tok_new(void) {
    Tokenizer *t = ml_alloc(sizeof *t);
    bmap_init(&t->vocab);
    bmap_init(&t->cache);
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        tok_add_token(t, &c, 1);
    }
    return t;
}

int tok_add_token(Tokenizer *t, const char *bytes, size_t len) {
    int id = t->vocab_size++;
    size_t total = id ? t->tok_off[id - 1] + t->tok_len[id - 1] : 0;
    t->bytes = ml_grow(t->bytes, total + len + 1);
    memcpy(t->bytes + total, bytes, len);
    t->tok_off = ml_grow(t->tok_off, (size_t)t->vocab_size * sizeof *t->tok_off);
    t->tok_len = ml_grow(t->tok_len, (size_t)t->vocab_size * sizeof *t->tok_len);
    t->tok_off[id] = total, t->tok_len[id] = (uint32_t)len;
    bmap_insert(&t->vocab, bytes, len, id, NULL);
    return id;
}

void tok_add_merge(Tokenizer *t, int32_t a, int32_t b, int32_t c) {
    int i = t->num_merges++;
    t->merge_a = ml_grow(t->merge_a, (size_t)t->num_merges * sizeof(int32_t));
    t->merge_b = ml_grow(t->merge_b, (size_t)t->num_merges * sizeof(int32_t));
    t->merge_c = ml_grow(t->merge_c, (size_t)t->num_merges * sizeof(int32_t));
    t->merge_a[i] = a, t->merge_b[i] = b, t->merge_c[i] = c;
}

static uint64_t pair_key(int32_t a, int32_t b) {
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

int tok_finish(Tokenizer *t) {
    int eot = t->vocab_size;
    const char *eot_text = TOKENIZER_EOT_TEXT;
    /* end-of-text is stored with its text as bytes but kept out of the vocab map */
    size_t total = t->tok_off[eot - 1] + t->tok_len[eot - 1], len = strlen(eot_text);
    t->vocab_size++;
    t->bytes = ml_grow(t->bytes, total + len + 1);
    memcpy(t->bytes + total, eot_text, len);
    t->tok_off = ml_grow(t->tok_off, (size_t)t->vocab_size * sizeof *t->tok_off);
    t->tok_len = ml_grow(t->tok_len, (size_t)t->vocab_size * sizeof *t->tok_len);
    t->tok_off[eot] = total, t->tok_len[eot] = (uint32_t)len;
    t->tok_str = ml_alloc((size_t)t->vocab_size * sizeof(char *));
    for (int i = 0; i < eot; i++)
        t->tok_str[i] = byte_level_str(t->bytes + t->tok_off[i], t->tok_len[i]);
    t->tok_str[eot] = ml_strdup(eot_text);
    u64map_init(&t->pair_rank, (size_t)t->num_merges + 1);
    t->merge_str = ml_alloc(((size_t)t->num_merges + 1) * sizeof(char *));
    for (int i = 0; i < t->num_merges; i++) {
        int32_t a = t->merge_a[i], b = t->merge_b[i], c = t->merge_c[i];
        if (a < 0 || b < 0 || c < 256 || a >= eot || b >= eot || c >= eot ||
            t->tok_len[c] != t->tok_len[a] + t->tok_len[b] ||
            memcmp(t->bytes + t->tok_off[c], t->bytes + t->tok_off[a], t->tok_len[a]) ||
            memcmp(t->bytes + t->tok_off[c] + t->tok_len[a], t->bytes + t->tok_off[b],
                   t->tok_len[b]))
            return ml_error("merge %d does not join two tokens into a vocabulary token", i);
        if (u64map_get(&t->pair_rank, pair_key(a, b)) >= 0)
            return ml_error("merge %d is a duplicate", i);
        u64map_put(&t->pair_rank, pair_key(a, b), i);
        size_t la = strlen(t->tok_str[a]), lb = strlen(t->tok_str[b]);
        t->merge_str[i] = ml_alloc(la + lb + 2);
        memcpy(t->merge_str[i], t->tok_str[a], la);
        t->merge_str[i][la] = ' ';
        memcpy(t->merge_str[i] + la + 1, t->tok_str[b], lb + 1);
    }
    return 0;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    if (t->tok_str)
        for (int i = 0; i < t->vocab_size; i++) ml_free(t->tok_str[i]);
    if (t->merge_str)
        for (int i = 0; i < t->num_merges; i++) ml_free(t->merge_str[i]);
    ml_free(t->tok_str), ml_free(t->merge_str);
    free(t->bytes), free(t->tok_off), free(t->tok_len), free(t->merge_a), free(t->merge_b),
        free(t->merge_c);
    free(t->cache_ids);
    if (t->pair_rank.keys) u64map_free(&t->pair_rank);
    bmap_free(&t->vocab), bmap_free(&t->cache);
    ml_free(t);
}

int tokenizer_vocab_size(const Tokenizer *t) {
    return t->vocab_size;
}
int tokenizer_eot(const Tokenizer *t) {
    return t->vocab_size - 1;
}
int tokenizer_num_merges(const Tokenizer *t) {
    return t->num_merges;
}
const char *tokenizer_merge_str(const Tokenizer *t, int i) {
    return i >= 0 && i < t->num_merges ? t->merge_str[i] : NULL;
}
const char *tokenizer_token_str(const Tokenizer *t, int id) {
    return id >= 0 && id < t->vocab_size ? t->tok_str[id] : NULL;
}
const char *tokenizer_token_bytes(const Tokenizer *t, int id, size_t *len) {
    if (id < 0 || id >= t->vocab_size) return *len = 0, NULL;
    *len = t->tok_len[id];
    return t->bytes + t->tok_off[id];
}

/* ---- file format (docs/tokenizer.md) ---- */

int tokenizer_save(const Tokenizer *t, const char *path) {
    AtomicFile af;
    if (afile_open(&af, path)) return -1;
    afile_printf(&af, "moelens-bpe 1 vocab %d merges %d\n", t->vocab_size, t->num_merges);
    for (int i = 0; i < t->vocab_size; i++) afile_printf(&af, "%s\n", t->tok_str[i]);
    for (int i = 0; i < t->num_merges; i++) afile_printf(&af, "%s\n", t->merge_str[i]);
    return afile_commit(&af);
}

static char *next_line(char **p) {
    if (!**p) return NULL;
    char *line = *p, *nl = strchr(line, '\n');
    if (nl)
        *nl = 0, *p = nl + 1;
    else
        *p += strlen(line);
    return line;
}

/* Reads the vocabulary lines (the first 256 are the bytes, the last is end-of-text). `buf` is
 * scratch space the caller frees, whatever the outcome. */
static int load_vocab(Tokenizer *t, char **p, int vocab, char **buf, const char *path) {
    char *line;
    for (int i = 0; i < vocab; i++) {
        if (!(line = next_line(p)))
            return ml_error("%s: truncated: %d of %d vocabulary lines", path, i, vocab);
        if (i == vocab - 1) {
            if (strcmp(line, TOKENIZER_EOT_TEXT))
                return ml_error("%s: last token must be %s", path, TOKENIZER_EOT_TEXT);
            break;
        }
        *buf = ml_grow(*buf, strlen(line) + 1);
        long n = byte_level_decode(line, *buf);
        if (n <= 0)
            return ml_error("%s: line %d: '%s' is not a byte-level token", path, i + 2, line);
        if (i < 256) {
            if (n != 1 || (unsigned char)(*buf)[0] != i)
                return ml_error("%s: line %d: token %d must be byte %d", path, i + 2, i, i);
        } else {
            if (bmap_find(&t->vocab, *buf, (size_t)n) >= 0)
                return ml_error("%s: line %d: duplicate token '%s'", path, i + 2, line);
            tok_add_token(t, *buf, (size_t)n);
        }
    }
    return 0;
}

static int load_merges(Tokenizer *t, char **p, int merges, char **buf, const char *path) {
    char *line;
    for (int i = 0; i < merges; i++) {
        if (!(line = next_line(p)))
            return ml_error("%s: truncated: %d of %d merges", path, i, merges);
        char *sp = strchr(line, ' ');
        *buf = ml_grow(*buf, 2 * strlen(line) + 2);
        long na, nb;
        if (!sp || (*sp = 0, (na = byte_level_decode(line, *buf)) <= 0) ||
            (nb = byte_level_decode(sp + 1, *buf + na)) <= 0)
            return ml_error("%s: merge line %d is not 'A B' in byte-level strings", path, i + 1);
        long a = bmap_find(&t->vocab, *buf, (size_t)na),
             b = bmap_find(&t->vocab, *buf + na, (size_t)nb);
        long c = bmap_find(&t->vocab, *buf, (size_t)(na + nb));
        if (a < 0 || b < 0 || c < 0)
            return ml_error("%s: merge line %d joins tokens missing from the vocabulary", path,
                            i + 1);
        tok_add_merge(t, (int32_t)t->vocab.val[a], (int32_t)t->vocab.val[b],
                      (int32_t)t->vocab.val[c]);
    }
    return 0;
}

static int load_body(Tokenizer *t, char *text, const char *path) {
    char *p = text, *line = next_line(&p);
    int vocab, merges, used = 0;
    if (!line || sscanf(line, "moelens-bpe 1 vocab %d merges %d%n", &vocab, &merges, &used) != 2 ||
        line[used] || vocab < 257 || merges < 0 || merges > 100000000)
        return ml_error(
            "%s: not a moelens tokenizer (expected header 'moelens-bpe 1 vocab N merges M')", path);
    char *buf = NULL;
    int rc = load_vocab(t, &p, vocab, &buf, path);
    if (!rc) rc = load_merges(t, &p, merges, &buf, path);
    free(buf);
    if (rc) return -1;
    if (next_line(&p)) return ml_error("%s: unexpected lines after the %d merges", path, merges);
    if (tok_finish(t)) return ml_error("%s: %s", path, ml_errmsg());
    return 0;
}

int tokenizer_load(Tokenizer **out, const char *path) {
    char *text;
    size_t len;
    *out = NULL;
    if (ml_read_file(path, &text, &len)) return -1;
    Tokenizer *t = tok_new();
    int rc = load_body(t, text, path);
    ml_free(text);
    if (rc) {
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* ---- encoding ---- */

/* BPE on one pre-token: repeatedly join every occurrence of the lowest-ranked adjacent pair. */
static long bpe_piece(const Tokenizer *t, const unsigned char *s, size_t n, int32_t *sym) {
    long k = (long)n;
    for (long i = 0; i < k; i++) sym[i] = s[i];
    while (k > 1) {
        int32_t best = INT32_MAX;
        for (long i = 0; i + 1 < k; i++) {
            int32_t r = u64map_get(&t->pair_rank, pair_key(sym[i], sym[i + 1]));
            if (r >= 0 && r < best) best = r;
        }
        if (best == INT32_MAX) break;
        int32_t a = t->merge_a[best], b = t->merge_b[best], c = t->merge_c[best];
        long w = 0;
        for (long i = 0; i < k; i++) {
            if (i + 1 < k && sym[i] == a && sym[i + 1] == b)
                sym[w++] = c, i++;
            else
                sym[w++] = sym[i];
        }
        k = w;
    }
    return k;
}

#define CACHE_MAX_PIECE 128
#define CACHE_MAX_ENTRIES (1 << 22)

typedef struct {
    Tokenizer *t;
    int32_t *ids;
    long n, cap;
    int32_t *scratch;
    size_t scratch_cap;
} EncodeState;

static void encode_piece(const char *piece, size_t n, void *ctx) {
    EncodeState *st = ctx;
    Tokenizer *t = st->t;
    if (st->n + (long)n > st->cap) {
        st->cap = (st->n + (long)n) * 2;
        int32_t *grown = ml_alloc((size_t)st->cap * sizeof(int32_t));
        memcpy(grown, st->ids, (size_t)st->n * sizeof(int32_t));
        ml_free(st->ids);
        st->ids = grown;
    }
    if (n <= CACHE_MAX_PIECE) {
        long e = bmap_find(&t->cache, piece, n);
        if (e >= 0) {
            int64_t v = t->cache.val[e];
            memcpy(st->ids + st->n, t->cache_ids + (v >> 16),
                   (size_t)(v & 0xFFFF) * sizeof(int32_t));
            st->n += v & 0xFFFF;
            return;
        }
    }
    if (n > st->scratch_cap)
        st->scratch_cap = n, st->scratch = ml_grow(st->scratch, n * sizeof(int32_t));
    long k = bpe_piece(t, (const unsigned char *)piece, n, st->scratch);
    memcpy(st->ids + st->n, st->scratch, (size_t)k * sizeof(int32_t));
    st->n += k;
    if (n <= CACHE_MAX_PIECE && t->cache.n < CACHE_MAX_ENTRIES) {
        if (t->cache_n + (size_t)k > t->cache_cap) {
            t->cache_cap = (t->cache_n + (size_t)k) * 2;
            t->cache_ids = ml_grow(t->cache_ids, t->cache_cap * sizeof(int32_t));
        }
        memcpy(t->cache_ids + t->cache_n, st->scratch, (size_t)k * sizeof(int32_t));
        bmap_insert(&t->cache, piece, n, (int64_t)t->cache_n << 16 | k, NULL);
        t->cache_n += (size_t)k;
    }
}

int tokenizer_encode(const Tokenizer *t, const char *bytes, size_t len, int32_t **ids, long *n) {
    EncodeState st = {(Tokenizer *)t, NULL, 0, 0,
                      NULL,           0}; /* the cache is the only thing written */
    st.cap = (long)(len / 3 + 16);
    st.ids = ml_alloc((size_t)st.cap * sizeof(int32_t));
    pretok_each(bytes, len, encode_piece, &st);
    free(st.scratch);
    *ids = st.ids;
    *n = st.n;
    return 0;
}

int tokenizer_decode(const Tokenizer *t, const int32_t *ids, long n, char **bytes, size_t *len) {
    size_t total = 0;
    for (long i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab_size)
            return ml_error("decode: token id %d at position %ld is outside the vocabulary (0..%d)",
                            ids[i], i, t->vocab_size - 1);
        total += t->tok_len[ids[i]];
    }
    char *out = ml_alloc(total + 1), *p = out;
    for (long i = 0; i < n; i++)
        memcpy(p, t->bytes + t->tok_off[ids[i]], t->tok_len[ids[i]]), p += t->tok_len[ids[i]];
    *bytes = out;
    *len = total;
    return 0;
}
