/* Reference scoring with llama.cpp (the oracle's libllama), for tests/cli/gguf_eval.sh:
 *   llama_ref MODEL.gguf TEXTFILE [CTX]  →  line 1: the token ids; line 2: "nll N scored S ppl P"
 * Same convention as `moelens eval` (docs/gguf.md): tokenize with add_special (BOS only when the
 * file says) and parse_special off; chunks of CTX tokens back to back (default: the file's
 * context length), each decoded alone (KV cache cleared) with logits for every position; every
 * token after a chunk's first is scored by log-softmax in double. F32 KV cache, no flash
 * attention, 2 threads (LLAMA_REF_THREADS overrides: its thread pool spins, so tests on a busy
 * machine use 1). */
#include "llama.h"
#include "oracle_backends.h"
#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet(enum ggml_log_level level, const char *text, void *user) {
    (void)level, (void)text, (void)user;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: llama_ref MODEL.gguf TEXTFILE [CTX]\n");
        return 2;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    oracle_load_backends();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) return fprintf(stderr, "llama_ref: cannot load %s\n", argv[1]), 1;
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    FILE *f = fopen(argv[2], "rb");
    if (!f) return fprintf(stderr, "llama_ref: cannot read %s\n", argv[2]), 1;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc(len + 1);
    if (fread(text, 1, len, f) != (size_t)len) return 1;
    fclose(f);
    int cap = (int)len + 16;
    llama_token *ids = malloc(sizeof(llama_token) * cap);
    int n = llama_tokenize(vocab, text, (int32_t)len, ids, cap, true, false);
    if (n < 0) return fprintf(stderr, "llama_ref: tokenize failed\n"), 1;
    int ctx = argc > 3 ? atoi(argv[3]) : llama_model_n_ctx_train(model);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = (uint32_t)ctx;
    const char *threads = getenv("LLAMA_REF_THREADS");
    cp.n_threads = cp.n_threads_batch = threads ? atoi(threads) : 2;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *lc = llama_init_from_model(model, cp);
    if (!lc) return fprintf(stderr, "llama_ref: cannot create a context\n"), 1;
    int V = llama_vocab_n_tokens(vocab);
    for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", ids[i]);
    printf("\n");
    double nll = 0, busy = 0;
    long scored = 0;
    struct llama_batch b = llama_batch_init(ctx, 0, 1);
    for (int c0 = 0; c0 < n; c0 += ctx) {
        int T = n - c0 < ctx ? n - c0 : ctx;
        if (T < 2) break;
        llama_memory_clear(llama_get_memory(lc), true);
        b.n_tokens = T;
        for (int t = 0; t < T; t++) {
            b.token[t] = ids[c0 + t];
            b.pos[t] = t;
            b.n_seq_id[t] = 1;
            b.seq_id[t][0] = 0;
            b.logits[t] = 1;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (llama_decode(lc, b)) return fprintf(stderr, "llama_ref: decode failed\n"), 1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        busy += (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
        for (int t = 0; t + 1 < T; t++) {
            const float *lg = llama_get_logits_ith(lc, t);
            double mx = lg[0], s = 0;
            for (int v = 1; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
            for (int v = 0; v < V; v++) s += exp(lg[v] - mx);
            nll += -(lg[ids[c0 + t + 1]] - mx - log(s));
            scored++;
        }
    }
    printf("nll %.6f scored %ld ppl %.6f\n", nll, scored, exp(nll / scored));
    fprintf(stderr, "llama_ref: decode %.3f s for %d tokens (%.1f tokens/s)\n", busy, n, n / busy);
    llama_batch_free(b);
    llama_free(lc);
    llama_model_free(model);
    free(ids), free(text);
    return 0;
}
