/* The regex-chain driver shared by the deepseek-llm and default pre-tokenizers
 * (gguf_pretok_chain.h). */
#include "gguf/gguf_pretok_chain.h"

#include "core/mem.h"
#include "data/pretok.h"

/* Appends to out[*m] the pieces of s[0..n) under one stage: matches and the gaps between them. */
static void split_piece(int stage, const unsigned char *s, size_t n, PretokMatch match, size_t *out,
                        size_t *m) {
    size_t gap = 0, i = 0;
    while (i < n) {
        size_t ml = match(stage, s, n, i);
        if (ml) {
            if (i > gap) out[(*m)++] = i - gap;
            out[(*m)++] = ml;
            i += ml, gap = i;
        } else {
            int32_t cp;
            i += (size_t)utf8_decode(s + i, n - i, &cp);
        }
    }
    if (n > gap) out[(*m)++] = n - gap;
}

size_t *pretok_chain_split(const char *text, size_t len, int nstages, PretokMatch match,
                           size_t *npieces) {
    /* every piece is >= 1 byte, so len pieces at most (+1 keeps len == 0 allocations nonempty) */
    size_t *cur = ml_alloc((len + 1) * sizeof(size_t)),
           *next = ml_alloc((len + 1) * sizeof(size_t));
    size_t n = len ? 1 : 0;
    cur[0] = len;
    for (int stage = 0; stage < nstages; stage++) {
        size_t m = 0, off = 0;
        for (size_t k = 0; k < n; off += cur[k], k++)
            split_piece(stage, (const unsigned char *)text + off, cur[k], match, next, &m);
        size_t *tmp = cur;
        cur = next, next = tmp, n = m;
    }
    ml_free(next);
    *npieces = n;
    return cur;
}
