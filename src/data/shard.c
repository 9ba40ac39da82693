/* Token shard files (format in docs/data.md): a 64-byte header, the domain names, the token ids
 * (uint16 when the vocabulary fits, else uint32), one uint8 domain id per token, and the uint64
 * start of every document; sections 8-byte aligned, little-endian. */
#include "data/shard.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/hashmap.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHARD_MAGIC "MLTOKSH1"
#define SHARD_HEADER 64
#define SHARD_MAX_DOMAINS 255

struct TokenShard {
    const uint8_t *base; /* whole file image */
    size_t size;
    int mapped; /* 1: munmap on close; 0: ml_free */
    int token_bytes, vocab_size, num_domains;
    long num_tokens, num_docs;
    const char *names[SHARD_MAX_DOMAINS];
    const uint8_t *tokens, *domains;
    const uint64_t *doc_starts;
};

static size_t align8(size_t n) {
    return (n + 7) & ~(size_t)7;
}

static uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Validates a file image and fills the accessors; -1 + ml_error naming `path`. */
static int shard_parse(TokenShard *s, const char *path) {
    const uint8_t *b = s->base;
    if (s->size < SHARD_HEADER || memcmp(b, SHARD_MAGIC, 8))
        return ml_error("%s: not a moelens token shard (bad magic or shorter than its header)",
                        path);
    uint32_t version = rd32(b + 8), tb = rd32(b + 12), vocab = rd32(b + 16), nd = rd32(b + 20);
    uint64_t nt = rd64(b + 24), ndocs = rd64(b + 32), names_bytes = rd64(b + 40),
             total = rd64(b + 48);
    if (version != 1)
        return ml_error("%s: shard version %u, this moelens reads version 1", path, version);
    if ((tb != 2 && tb != 4) || nd == 0 || nd > SHARD_MAX_DOMAINS || vocab == 0 ||
        (tb == 2 && vocab > 65536))
        return ml_error("%s: corrupt shard header (token bytes %u, domains %u, vocab %u)", path, tb,
                        nd, vocab);
    if (nt > ((uint64_t)1 << 40) || ndocs > nt || names_bytes > 1 << 20)
        return ml_error("%s: corrupt shard header (tokens %llu, documents %llu)", path,
                        (unsigned long long)nt, (unsigned long long)ndocs);
    size_t off_tokens = SHARD_HEADER + align8(names_bytes),
           off_domains = off_tokens + align8(nt * tb);
    size_t off_docs = off_domains + align8(nt), end = off_docs + ndocs * 8;
    if (total != end || s->size != end)
        return ml_error(
            "%s: truncated or corrupt shard: %zu bytes, header says %llu (layout needs %zu)", path,
            s->size, (unsigned long long)total, end);
    const char *names = (const char *)b + SHARD_HEADER;
    size_t pos = 0;
    for (uint32_t d = 0; d < nd; d++) {
        const char *nul = memchr(names + pos, 0, names_bytes - pos);
        if (!nul || nul == names + pos)
            return ml_error("%s: corrupt shard: domain name %u missing", path, d);
        s->names[d] = names + pos;
        pos = (size_t)(nul - names) + 1;
    }
    s->token_bytes = (int)tb, s->vocab_size = (int)vocab, s->num_domains = (int)nd;
    s->num_tokens = (long)nt, s->num_docs = (long)ndocs;
    s->tokens = b + off_tokens, s->domains = b + off_domains,
    s->doc_starts = (const uint64_t *)(b + off_docs);
    for (long i = 0; i < s->num_tokens; i++) {
        if (s->domains[i] >= nd)
            return ml_error("%s: corrupt shard: token %ld has domain %u of %u", path, i,
                            s->domains[i], nd);
        if ((uint32_t)shard_token(s, i) >= vocab)
            return ml_error("%s: corrupt shard: token %ld has id %d, vocab is %u", path, i,
                            shard_token(s, i), vocab);
    }
    for (long d = 0; d < s->num_docs; d++) {
        uint64_t st = s->doc_starts[d];
        if ((d == 0 && st != 0) || (d > 0 && st <= s->doc_starts[d - 1]) || st >= nt)
            return ml_error("%s: corrupt shard: document %ld starts at %llu", path, d,
                            (unsigned long long)st);
    }
    if (nt && !ndocs) return ml_error("%s: corrupt shard: tokens but no documents", path);
    return 0;
}

int shard_open(TokenShard **out, const char *path) {
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ml_error("%s: cannot open token shard (run `moelens data text`?)", path);
    struct stat st;
    if (fstat(fd, &st) || st.st_size == 0) {
        close(fd);
        return ml_error("%s: empty or unreadable token shard", path);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return ml_error("%s: cannot mmap token shard", path);
    TokenShard *s = ml_alloc(sizeof *s);
    s->base = map, s->size = (size_t)st.st_size, s->mapped = 1;
    if (shard_parse(s, path)) {
        shard_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void shard_close(TokenShard *s) {
    if (!s) return;
    if (s->mapped)
        munmap((void *)s->base, s->size);
    else
        ml_free((void *)s->base);
    ml_free(s);
}

long shard_num_tokens(const TokenShard *s) {
    return s->num_tokens;
}
int shard_vocab_size(const TokenShard *s) {
    return s->vocab_size;
}
int shard_num_domains(const TokenShard *s) {
    return s->num_domains;
}
const char *shard_domain_name(const TokenShard *s, int d) {
    return d >= 0 && d < s->num_domains ? s->names[d] : NULL;
}
int shard_domain_index(const TokenShard *s, const char *name) {
    for (int d = 0; d < s->num_domains; d++)
        if (!strcmp(s->names[d], name)) return d;
    return -1;
}
long shard_num_docs(const TokenShard *s) {
    return s->num_docs;
}
long shard_doc_start(const TokenShard *s, long d) {
    return (long)s->doc_starts[d];
}
long shard_doc_len(const TokenShard *s, long d) {
    return (d + 1 < s->num_docs ? (long)s->doc_starts[d + 1] : s->num_tokens) -
           (long)s->doc_starts[d];
}
int shard_doc_domain(const TokenShard *s, long d) {
    return s->domains[s->doc_starts[d]];
}
int32_t shard_token(const TokenShard *s, long i) {
    if (s->token_bytes == 2) {
        uint16_t v;
        memcpy(&v, s->tokens + 2 * i, 2);
        return v;
    }
    uint32_t v;
    memcpy(&v, s->tokens + 4 * i, 4);
    return (int32_t)v;
}
int shard_token_domain(const TokenShard *s, long i) {
    return s->domains[i];
}

static void fill_window(const TokenShard *s, long start, int T, int32_t *inputs, int32_t *targets,
                        int32_t *domains) {
    for (int t = 0; t < T; t++) {
        inputs[t] = shard_token(s, start + t);
        targets[t] = shard_token(s, start + t + 1);
        domains[t] = s->domains[start + t];
    }
}

void shard_sample_batch(const TokenShard *s, Rng *rng, int B, int T, int32_t *inputs,
                        int32_t *targets, int32_t *domains) {
    long span = s->num_tokens - T; /* valid starts: 0 .. N-T-1 */
    for (int b = 0; b < B; b++) {
        long start = span > 0 ? (long)(rng_u64(rng) % (uint64_t)span) : 0;
        fill_window(s, start, T, inputs + (size_t)b * T, targets + (size_t)b * T,
                    domains + (size_t)b * T);
    }
}

long shard_num_windows(const TokenShard *s, int T) {
    return s->num_tokens > 1 ? (s->num_tokens - 1) / T : 0;
}

void shard_window(const TokenShard *s, long w, int T, int32_t *inputs, int32_t *targets,
                  int32_t *domains) {
    fill_window(s, w * T, T, inputs, targets, domains);
}

/* ---- writing ---- */

struct ShardWriter {
    char *path;
    int vocab_size, num_domains;
    char *names;
    size_t names_bytes;
    int32_t *ids;
    uint8_t *doms;
    long n, cap;
    uint64_t *docs;
    long n_docs, docs_cap;
};

int shard_writer_open(ShardWriter **out, const char *path, int vocab_size, int num_domains,
                      const char *const *domain_names) {
    *out = NULL;
    if (num_domains < 1 || num_domains > SHARD_MAX_DOMAINS)
        return ml_error("%s: a shard holds 1..%d domains, got %d", path, SHARD_MAX_DOMAINS,
                        num_domains);
    if (vocab_size < 1) return ml_error("%s: vocab size must be positive", path);
    ShardWriter *w = ml_alloc(sizeof *w);
    w->path = ml_strdup(path), w->vocab_size = vocab_size, w->num_domains = num_domains;
    for (int d = 0; d < num_domains; d++) w->names_bytes += strlen(domain_names[d]) + 1;
    w->names = ml_alloc(w->names_bytes);
    size_t pos = 0;
    for (int d = 0; d < num_domains; d++) {
        size_t k = strlen(domain_names[d]) + 1;
        if (k == 1)
            return shard_writer_abort(w), ml_error("%s: domain %d has an empty name", path, d);
        memcpy(w->names + pos, domain_names[d], k), pos += k;
    }
    *out = w;
    return 0;
}

int shard_writer_add_doc(ShardWriter *w, const int32_t *ids, long n, int domain) {
    if (n <= 0) return 0;
    if (domain < 0 || domain >= w->num_domains)
        return ml_error("%s: domain %d outside 0..%d", w->path, domain, w->num_domains - 1);
    for (long i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= w->vocab_size)
            return ml_error("%s: token id %d outside the vocabulary (%d)", w->path, ids[i],
                            w->vocab_size);
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2;
        w->ids = ml_grow(w->ids, (size_t)w->cap * sizeof(int32_t));
        w->doms = ml_grow(w->doms, (size_t)w->cap);
    }
    if (w->n_docs == w->docs_cap)
        w->docs_cap = w->docs_cap ? 2 * w->docs_cap : 1024,
        w->docs = ml_grow(w->docs, (size_t)w->docs_cap * 8);
    w->docs[w->n_docs++] = (uint64_t)w->n;
    memcpy(w->ids + w->n, ids, (size_t)n * sizeof(int32_t));
    memset(w->doms + w->n, domain, (size_t)n);
    w->n += n;
    return 0;
}

long shard_writer_num_tokens(const ShardWriter *w) {
    return w->n;
}

/* The file image of what was written (ml_alloc'd). */
static uint8_t *writer_image(const ShardWriter *w, size_t *size) {
    uint32_t tb = w->vocab_size <= 65536 ? 2 : 4;
    size_t off_tokens = SHARD_HEADER + align8(w->names_bytes),
           off_domains = off_tokens + align8((size_t)w->n * tb);
    size_t off_docs = off_domains + align8((size_t)w->n), end = off_docs + (size_t)w->n_docs * 8;
    uint8_t *img = ml_alloc(end);
    uint32_t h32[4] = {1, tb, (uint32_t)w->vocab_size, (uint32_t)w->num_domains};
    uint64_t h64[4] = {(uint64_t)w->n, (uint64_t)w->n_docs, w->names_bytes, end};
    memcpy(img, SHARD_MAGIC, 8), memcpy(img + 8, h32, 16), memcpy(img + 24, h64, 32);
    memcpy(img + SHARD_HEADER, w->names, w->names_bytes);
    for (long i = 0; i < w->n; i++) {
        if (tb == 2) {
            uint16_t v = (uint16_t)w->ids[i];
            memcpy(img + off_tokens + 2 * i, &v, 2);
        } else {
            memcpy(img + off_tokens + 4 * i, &w->ids[i], 4);
        }
    }
    if (w->n) memcpy(img + off_domains, w->doms, (size_t)w->n);
    if (w->n_docs) memcpy(img + off_docs, w->docs, (size_t)w->n_docs * 8);
    *size = end;
    return img;
}

int shard_writer_commit(ShardWriter *w) {
    size_t size;
    uint8_t *img = writer_image(w, &size);
    int rc = ml_write_file_atomic(w->path, img, size);
    ml_free(img);
    shard_writer_abort(w);
    return rc;
}

void shard_writer_abort(ShardWriter *w) {
    if (!w) return;
    ml_free(w->path), ml_free(w->names), free(w->ids), free(w->doms), free(w->docs);
    ml_free(w);
}

/* ---- from a plain text file ---- */

static int text_writer(ShardWriter **w, const Tokenizer *t, const char *text_path,
                       const char *domain, const char *out) {
    char *text;
    size_t len;
    if (ml_read_file(text_path, &text, &len)) return -1;
    int32_t *ids;
    long n;
    tokenizer_encode(t, text, len, &ids, &n);
    ml_free(text);
    int32_t *with_eot = ml_alloc((size_t)(n + 1) * sizeof(int32_t));
    memcpy(with_eot, ids, (size_t)n * sizeof(int32_t));
    with_eot[n] = tokenizer_eot(t);
    ml_free(ids);
    int rc = shard_writer_open(w, out, tokenizer_vocab_size(t), 1, &domain);
    if (!rc) rc = shard_writer_add_doc(*w, with_eot, n + 1, 0);
    ml_free(with_eot);
    if (rc && *w) shard_writer_abort(*w), *w = NULL;
    return rc;
}

int shard_from_text_file(TokenShard **out, const Tokenizer *t, const char *text_path,
                         const char *domain) {
    ShardWriter *w;
    *out = NULL;
    if (text_writer(&w, t, text_path, domain, text_path)) return -1;
    TokenShard *s = ml_alloc(sizeof *s);
    s->base = writer_image(w, &s->size);
    shard_writer_abort(w);
    if (shard_parse(s, text_path)) {
        shard_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

int shard_build_from_text(const Tokenizer *t, const char *text_path, const char *domain,
                          const char *out_path) {
    ShardWriter *w;
    if (text_writer(&w, t, text_path, domain, out_path)) return -1;
    return shard_writer_commit(w);
}
