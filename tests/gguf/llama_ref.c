/* Reference scoring with llama.cpp (the oracle's libllama), for tests/cli/gguf_eval.sh:
 *   llama_ref MODEL.gguf TEXTFILE [CTX]  →  line 1: the token ids; line 2: "nll N scored S ppl P"
 * Same convention as `moelens eval` (docs/gguf.md): tokenize with add_special (BOS only when the
 * file says) and parse_special off; chunks of CTX tokens back to back (default: the file's
 * context length), each decoded alone (KV cache cleared) with logits for every position; every
 * token after a chunk's first is scored by log-softmax in double. F32 KV cache, no flash
 * attention, 2 threads (LLAMA_REF_THREADS overrides: its thread pool spins, so tests on a busy
 * machine use 1). */
#include "oracle_common.h"
#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: llama_ref MODEL.gguf TEXTFILE [CTX]\n");
        return 2;
    }
    oracle_start(1);
    struct llama_model_params mp = llama_model_default_params();
    /* LLAMA_REF_NO_REPACK=1: no repacked copy of the weights beside the mapped file (bench at sizes
     * where the copy does not fit in memory) */
    const char *no_repack = getenv("LLAMA_REF_NO_REPACK");
    if (no_repack && atoi(no_repack)) mp.use_extra_bufts = false;
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) return fprintf(stderr, "llama_ref: cannot load %s\n", argv[1]), 1;
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    long len;
    char *text = oracle_read_text("llama_ref", argv[2], &len);
    if (!text) return 1;
    int n;
    llama_token *ids = oracle_tokenize(vocab, text, len, 1, &n);
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
