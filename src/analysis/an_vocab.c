/* Token texts for the analyses from a run's tokenizer or a GGUF vocabulary (an_vocab.h). */
#include "analysis/an_vocab.h"
#include "core/error.h"
#include "core/mem.h"
#include <stdio.h>
#include <string.h>

/* One UTF-8 code point at s (n bytes left); returns its length (1 for a bad byte). */
static int utf8_next(const unsigned char *s, uint64_t n, uint32_t *cp) {
    int len = s[0] < 0x80         ? 1
              : (s[0] >> 5) == 6  ? 2
              : (s[0] >> 4) == 14 ? 3
              : (s[0] >> 3) == 30 ? 4
                                  : 1;
    if ((uint64_t)len > n) len = 1;
    uint32_t c = len == 1 ? s[0] : s[0] & (0x7f >> len);
    for (int i = 1; i < len; i++) c = (c << 6) | (s[i] & 0x3f);
    *cp = c;
    return len;
}

/* GPT-2's byte-to-unicode table, inverted: code point → byte (-1 if none). */
static void gpt2_unbytes(int16_t *inv, int n) {
    for (int i = 0; i < n; i++) inv[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        int cp = printable ? b : 256 + extra++;
        if (cp < n) inv[cp] = (int16_t)b;
    }
}

/* One GGUF token's piece into out (room for len bytes: a piece is never longer than its token). */
static size_t gguf_piece(const unsigned char *s, uint64_t m, int spm, const int16_t *inv,
                         char *out) {
    unsigned int byte;
    if (spm && m == 6 && sscanf((const char *)s, "<0x%2X>", &byte) == 1 && s[5] == '>') {
        out[0] = (char)byte;
        return 1;
    }
    size_t o = 0;
    for (uint64_t k = 0; k < m;) {
        uint32_t cp;
        int l = utf8_next(s + k, m - k, &cp);
        if (spm && cp == 0x2581)
            out[o++] = ' ';
        else if (!spm && cp < 512 && inv[cp] >= 0)
            out[o++] = (char)inv[cp];
        else
            memcpy(out + o, s + k, (size_t)l), o += (size_t)l;
        k += (uint64_t)l;
    }
    return o;
}

static int build_gguf(AnVocab *v, const GgufFile *g) {
    GgufStr *toks = NULL;
    int32_t *types = NULL;
    uint64_t nt = 0, ntypes = 0;
    char *model = NULL;
    if (gguf_get_strdup(g, "tokenizer.ggml.model", &model) ||
        gguf_get_str_array(g, "tokenizer.ggml.tokens", &toks, &nt)) {
        ml_free(model);
        return -1;
    }
    if (gguf_find(g, "tokenizer.ggml.token_type"))
        gguf_get_i32_array(g, "tokenizer.ggml.token_type", &types, &ntypes);
    int spm = !strcmp(model, "llama");
    int16_t inv[512];
    gpt2_unbytes(inv, 512);
    long total = 0;
    for (uint64_t i = 0; i < nt; i++) total += (long)toks[i].len;
    v->V = (int)nt;
    v->blob = ml_alloc(total + 1);
    v->off = ml_alloc(sizeof(long) * (nt + 1));
    v->special = ml_alloc(nt + 1);
    long o = 0;
    for (uint64_t i = 0; i < nt; i++) {
        v->off[i] = o;
        const unsigned char *s = (const unsigned char *)toks[i].ptr;
        int control = types && i < ntypes && types[i] == 3;
        v->special[i] = (uint8_t)control;
        if (control)
            memcpy(v->blob + o, s, toks[i].len), o += (long)toks[i].len;
        else
            o += (long)gguf_piece(s, toks[i].len, spm, inv, v->blob + o);
    }
    v->off[nt] = o;
    ml_free(toks), ml_free(types), ml_free(model);
    return 0;
}

int an_vocab_build(AnVocab *v, const LmTok *tok) {
    memset(v, 0, sizeof *v);
    if (!tok->tok) {
        if (!tok->g) return ml_error("analyze: no tokenizer");
        return build_gguf(v, tok->g);
    }
    const Tokenizer *t = tok->tok;
    int V = tokenizer_vocab_size(t);
    long total = 0;
    for (int i = 0; i < V; i++) {
        size_t n;
        tokenizer_token_bytes(t, i, &n);
        total += (long)n;
    }
    v->V = V;
    v->blob = ml_alloc(total + 1);
    v->off = ml_alloc(sizeof(long) * (V + 1));
    v->special = ml_alloc(V + 1);
    long o = 0;
    for (int i = 0; i < V; i++) {
        size_t n;
        const char *s = tokenizer_token_bytes(t, i, &n);
        v->off[i] = o;
        if (n) memcpy(v->blob + o, s, n);
        o += (long)n;
        v->special[i] = i == tokenizer_eot(t);
    }
    v->off[V] = o;
    return 0;
}

void an_vocab_free(AnVocab *v) {
    ml_free(v->blob), ml_free(v->off), ml_free(v->special);
    memset(v, 0, sizeof *v);
}

const char *an_vocab_bytes(const AnVocab *v, int id, size_t *n) {
    if (id < 0 || id >= v->V) {
        *n = 0;
        return "";
    }
    *n = (size_t)(v->off[id + 1] - v->off[id]);
    return v->blob + v->off[id];
}

void an_vocab_class_table(const AnVocab *v, int lang, uint8_t *table, int table_size) {
    for (int id = 0; id < table_size; id++) {
        size_t n;
        const char *s = an_vocab_bytes(v, id, &n);
        table[id] = (uint8_t)(id < v->V && !v->special[id] ? token_class_bytes(s, n, lang)
                                                           : TOKCLASS_OTHER);
    }
}
