#include "model/lm_open.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "model/lm_gguf.h"
#include "model/lm_run.h"
#include <stdio.h>
#include <string.h>

int lm_path_is_gguf(const char *path) {
    if (ml_is_dir(path)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && !memcmp(magic, "GGUF", 4);
}

int lm_open(const char *path, LmModel *m, LmTok *tok, int max_ctx) {
    if (tok) memset(tok, 0, sizeof *tok);
    if (!lm_path_is_gguf(path)) return lm_run_open(path, m, tok ? &tok->tok : NULL);
    if (lm_gguf_open(path, m, max_ctx)) return -1;
    if (!tok) return 0;
    if (gguf_vocab_load(&tok->vocab, m->gguf)) {
        lm_free(m);
        return -1;
    }
    tok->g = m->gguf;
    if (gguf_vocab_size(tok->vocab) > m->cfg.vocab_size) {
        lm_tok_free(tok);
        lm_free(m);
        return ml_error("%s: the tokenizer has more tokens than token_embd.weight rows (%d)", path,
                        m->cfg.vocab_size);
    }
    return 0;
}

void lm_tok_free(LmTok *t) {
    if (t->tok) tokenizer_free(t->tok);
    if (t->vocab) gguf_vocab_free(t->vocab);
    memset(t, 0, sizeof *t);
}

int lm_tok_encode(const LmTok *t, const char *text, size_t len, int32_t **ids, long *n) {
    if (t->tok) return tokenizer_encode(t->tok, text, len, ids, n);
    int32_t *raw;
    long k;
    if (gguf_vocab_encode(t->vocab, text, len, &raw, &k)) return -1;
    int bos = gguf_vocab_add_bos(t->vocab) && gguf_vocab_bos(t->vocab) >= 0;
    *ids = ml_alloc(sizeof(int32_t) * (k + bos + 1));
    if (bos) (*ids)[0] = gguf_vocab_bos(t->vocab);
    memcpy(*ids + bos, raw, sizeof(int32_t) * k);
    ml_free(raw);
    *n = k + bos;
    return 0;
}

int lm_tok_decode(const LmTok *t, const int32_t *ids, long n, char **text, size_t *len) {
    if (t->tok) return tokenizer_decode(t->tok, ids, n, text, len);
    return gguf_detokenize(t->g, ids, n, text, len);
}

int lm_score_ids(LmModel *m, const int32_t *ids, long n, int ctx, double *nll, long *scored) {
    *nll = 0, *scored = 0;
    if (ctx <= 1 || ctx > m->cfg.seq_len)
        return ml_error("score: context %d outside 2..%d", ctx, m->cfg.seq_len);
    if (n < 2) return ml_error("score: the text has %ld token(s); at least 2 are needed", n);
    int32_t *tg = ml_alloc(sizeof(int32_t) * ctx);
    int lean = m->lean;
    m->lean =
        !m->has_grads; /* nothing but the loss is read: one chunk's activations, no captures */
    lm_alloc_acts(m, 1, ctx);
    for (long c0 = 0; c0 < n; c0 += ctx) {
        int T = (int)(n - c0 < ctx ? n - c0 : ctx);
        if (T < 2) break; /* a last chunk of one token has nothing to score */
        for (int t = 0; t < T; t++) tg[t] = t + 1 < T ? ids[c0 + t + 1] : -1;
        *nll += lm_forward(m, ids + c0, tg, NULL, 1, T, 0);
        *scored += T - 1;
    }
    m->lean = lean; /* the next lm_alloc_acts lays out the captures again */
    ml_free(tg);
    return 0;
}
