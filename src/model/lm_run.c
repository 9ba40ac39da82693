#include "model/lm_run.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "model/lm_io.h"
#include "model/lm_train.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int lm_run_open(const char *run_dir, LmModel *m, Tokenizer **tok) {
    if (!ml_is_dir(run_dir)) return ml_error("%s: not a run folder", run_dir);
    char *mp = ml_path_join(run_dir, "model.safetensors");
    int r = lm_load(m, mp, 0, NULL);
    ml_free(mp);
    if (r || !tok) return r;
    char *tp = ml_path_join(run_dir, LM_TOKENIZER_FILE);
    r = tokenizer_load(tok, tp);
    ml_free(tp);
    if (r) {
        lm_free(m);
        return -1;
    }
    if (tokenizer_vocab_size(*tok) != m->cfg.vocab_size) {
        tokenizer_free(*tok);
        lm_free(m);
        return ml_error("%s: tokenizer vocabulary differs from the model's (%d)", run_dir,
                        m->cfg.vocab_size);
    }
    return 0;
}

char *lm_run_data_dir(const char *run_dir) {
    char *p = ml_path_join(run_dir, "run.json"), *buf, *r = NULL;
    if (ml_read_file(p, &buf, NULL) == 0) {
        cJSON *j = cJSON_Parse(buf);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data_dir");
        if (cJSON_IsString(d)) r = ml_strdup(d->valuestring);
        cJSON_Delete(j);
        ml_free(buf);
    }
    ml_free(p);
    return r;
}

/* Samples from row `logits` (length V) after temperature and top-k truncation. */
static int32_t sample_row(const float *logits, int V, float temperature, int top_k, Rng *rng,
                          float *scratch) {
    int best = 0;
    for (int i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0) return best;
    float cutoff = -INFINITY;
    if (top_k > 0 && top_k < V) { /* k-th largest by partial selection over a copy */
        memcpy(scratch, logits, sizeof(float) * V);
        for (int k = 0; k < top_k; k++) {
            int arg = k;
            for (int i = k + 1; i < V; i++)
                if (scratch[i] > scratch[arg]) arg = i;
            float t = scratch[k];
            scratch[k] = scratch[arg];
            scratch[arg] = t;
        }
        cutoff = scratch[top_k - 1];
    }
    double sum = 0;
    for (int i = 0; i < V; i++)
        sum += logits[i] >= cutoff ? exp((logits[i] - logits[best]) / temperature) : 0;
    double u = rng_uniform(rng) * sum, acc = 0;
    for (int i = 0; i < V; i++) {
        if (logits[i] < cutoff) continue;
        acc += exp((logits[i] - logits[best]) / temperature);
        if (acc >= u) return i;
    }
    return best;
}

long lm_generate(LmModel *m, int32_t *ids, long n, int n_new, float temperature, int top_k,
                 Rng *rng) {
    int V = m->cfg.vocab_size;
    float *scratch = ml_alloc_floats(V);
    lm_alloc_acts(m, 1, m->cfg.seq_len); /* once, for every context length to come */
    for (int s = 0; s < n_new; s++) {
        long start = n > m->cfg.seq_len ? n - m->cfg.seq_len : 0;
        int T = (int)(n - start);
        lm_forward(m, ids + start, NULL, NULL, 1, T, 0);
        ids[n++] = sample_row(m->logits + (long)(T - 1) * V, V, temperature, top_k, rng, scratch);
    }
    ml_free(scratch);
    return n;
}
