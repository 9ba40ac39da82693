/* Token ids back to text with the file's vocabulary, as llama.cpp's token_to_piece with
 * special = false: control tokens vanish; gpt2 BPE tokens map GPT-2's byte alphabet back to
 * bytes; SentencePiece tokens turn "▁" into a space and <0xXX> into the byte. */
#include "core/error.h"
#include "core/mem.h"
#include "gguf/gguf_vocab.h"
#include <stdio.h>
#include <string.h>

/* Decodes one UTF-8 code point at s (n bytes left); returns its length (1 for a bad byte). */
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

int gguf_pieces_open(GgufPieces *p, const GgufFile *g) {
    memset(p, 0, sizeof *p);
    char *model = NULL;
    if (gguf_get_strdup(g, "tokenizer.ggml.model", &model) ||
        gguf_get_str_array(g, "tokenizer.ggml.tokens", &p->toks, &p->n)) {
        ml_free(model);
        return -1;
    }
    if (gguf_find(g, "tokenizer.ggml.token_type"))
        gguf_get_i32_array(g, "tokenizer.ggml.token_type", &p->types, &p->ntypes);
    p->spm = !strcmp(model, "llama");
    ml_free(model);
    gpt2_unbytes(p->inv, 512);
    return 0;
}

void gguf_pieces_close(GgufPieces *p) {
    ml_free(p->toks), ml_free(p->types);
    memset(p, 0, sizeof *p);
}

int gguf_piece_is_control(const GgufPieces *p, uint64_t id) {
    return p->types && id < p->ntypes && p->types[id] == 3;
}

size_t gguf_piece(const GgufPieces *p, uint64_t id, char *out) {
    const unsigned char *s = (const unsigned char *)p->toks[id].ptr;
    uint64_t m = p->toks[id].len;
    unsigned int byte;
    if (p->spm && m == 6 && sscanf((const char *)s, "<0x%2X>", &byte) == 1 && s[5] == '>') {
        out[0] = (char)byte;
        return 1;
    }
    size_t o = 0;
    for (uint64_t k = 0; k < m;) {
        uint32_t cp;
        int l = utf8_next(s + k, m - k, &cp);
        if (p->spm && cp == 0x2581)
            out[o++] = ' ';
        else if (!p->spm && cp < 512 && p->inv[cp] >= 0)
            out[o++] = (char)p->inv[cp];
        else
            memcpy(out + o, s + k, (size_t)l), o += (size_t)l;
        k += (uint64_t)l;
    }
    return o;
}

int gguf_detokenize(const GgufFile *g, const int32_t *ids, long n, char **text, size_t *len) {
    GgufPieces p;
    if (gguf_pieces_open(&p, g)) return -1;
    size_t cap = 1;
    for (long i = 0; i < n; i++)
        cap += ids[i] >= 0 && (uint64_t)ids[i] < p.n ? p.toks[ids[i]].len + 4 : 0;
    char *out = ml_alloc(cap);
    size_t o = 0;
    for (long i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint64_t)ids[i] >= p.n || gguf_piece_is_control(&p, ids[i])) continue;
        o += gguf_piece(&p, ids[i], out + o);
    }
    out[o] = 0;
    gguf_pieces_close(&p);
    *text = out;
    *len = o;
    return 0;
}
