/* Opening a trained run (RUN/model.safetensors + RUN/tokenizer.txt) and generating text. */
#pragma once
#include "core/rng.h"
#include "data/tokenizer.h"
#include "model/lm.h"

/* Loads the model (inference only) and, if tok != NULL, its tokenizer. */
int lm_run_open(const char *run_dir, LmModel *m, Tokenizer **tok);
/* The run's data folder from RUN/run.json (NULL if unknown); ml_free the result. */
char *lm_run_data_dir(const char *run_dir);

/* Appends n_new sampled tokens to ids[0..n) (ids has room for n + n_new); the context is the last
 * seq_len tokens. temperature 0 = greedy; top_k 0 = full distribution. Returns the new length. */
long lm_generate(LmModel *m, int32_t *ids, long n, int n_new, float temperature, int top_k,
                 Rng *rng);
