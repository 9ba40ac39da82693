/* MODEL is a run folder (RUN/model.safetensors + tokenizer) or a .gguf file: one entry to open
 * either, with the matching tokenizer, and the scoring used by `moelens eval` (docs/gguf.md). */
#pragma once
#include "data/tokenizer.h"
#include "gguf/gguf_vocab.h"
#include "model/lm.h"

typedef struct {
    Tokenizer *tok;    /* a run's tokenizer, or */
    GgufVocab *vocab;  /* the GGUF file's */
    const GgufFile *g; /* (for decoding) */
} LmTok;

/* Is PATH a GGUF file (a regular file starting with "GGUF")? */
int lm_path_is_gguf(const char *path);
/* Opens MODEL (inference only) and, if tok != NULL, its tokenizer. max_ctx caps a GGUF file's
 * context length (0: 512). */
int lm_open(const char *path, LmModel *m, LmTok *tok, int max_ctx);
void lm_tok_free(LmTok *t);
/* Text → ids; GGUF: with BOS first when the file sets add_bos_token. *ids ml_alloc'd. */
int lm_tok_encode(const LmTok *t, const char *text, size_t len, int32_t **ids, long *n);
int lm_tok_decode(const LmTok *t, const int32_t *ids, long n, char **text, size_t *len);

/* Scores ids[0..n) in chunks of ctx tokens back to back (the last one may be shorter); within a
 * chunk every token after its first is predicted from the chunk's preceding tokens. *nll: summed
 * negative log-likelihood (nats), *scored: tokens scored (n − number of chunks). */
int lm_score_ids(LmModel *m, const int32_t *ids, long n, int ctx, double *nll, long *scored);
