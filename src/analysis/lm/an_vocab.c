/* Token texts for the analyses from a run's tokenizer or a GGUF vocabulary (an_vocab.h). */
#include "analysis/lm/an_vocab.h"
#include "core/error.h"
#include "core/mem.h"
#include <stdio.h>
#include <string.h>

static int build_gguf(AnVocab *v, const GgufFile *g) {
    GgufPieces p;
    if (gguf_pieces_open(&p, g)) return -1;
    long total = 0;
    for (uint64_t i = 0; i < p.n; i++) total += (long)p.toks[i].len;
    v->V = (int)p.n;
    v->blob = ml_alloc(total + 1);
    v->off = ml_alloc(sizeof(long) * (p.n + 1));
    v->special = ml_alloc(p.n + 1);
    long o = 0;
    for (uint64_t i = 0; i < p.n; i++) {
        v->off[i] = o;
        int control = gguf_piece_is_control(&p, i);
        v->special[i] = (uint8_t)control;
        if (control) /* control tokens keep their name */
            memcpy(v->blob + o, p.toks[i].ptr, p.toks[i].len), o += (long)p.toks[i].len;
        else
            o += (long)gguf_piece(&p, i, v->blob + o);
    }
    v->off[p.n] = o;
    gguf_pieces_close(&p);
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
