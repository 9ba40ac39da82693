/* Training and forward throughput of the MoE language model on a preset, plus the machine's
 * measured sgemm peak, printed as one JSON line per measurement (bench/run.sh compares it with
 * the PyTorch peer, bench/lm_peer.py, on the same config and threads).
 * usage: bench_lm PRESET [steps] | bench_lm sgemm */
#include "core/mem.h"
#include "core/progress.h"
#include "model/lm.h"
#include "nn/optim.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Forward FLOPs per step (matmuls only; training counts 3×). */
static double forward_flops(const LmConfig *c) {
    double N = (double)c->batch * c->seq_len, C = c->d_model, hd = C / c->n_head;
    double qd = c->n_head * hd, kvd = c->n_kv_head * hd, f = 0;
    for (int l = 0; l < c->n_layer; l++) {
        f += 2 * N * C * (2 * qd + 2 * kvd);                                      /* q, k, v, o */
        f += 2 * 2 * (double)c->batch * c->n_head * c->seq_len * c->seq_len * hd; /* QKᵀ, att·V */
        int moe = lm_layer_is_moe(c, l);
        double k = moe ? c->moe.top_k : 1, H = moe ? c->moe.hidden : c->dense_hidden;
        double mats = c->moe.act == EXPERT_SWIGLU ? 3 : 2;
        f += 2 * N * k * C * H * mats;
        if (moe) f += 2 * N * C * (c->moe.n_experts + c->moe.n_zero);
    }
    return f + 2 * N * C * c->vocab_size;
}

char *openblas_get_corename(void); /* OpenBLAS's own; not in every cblas.h */

static double sgemm_gflops(void) {
    int n = 1024;
    float *a = ml_alloc_floats((long)n * n), *b = ml_alloc_floats((long)n * n),
          *c = ml_alloc_floats((long)n * n);
    for (long i = 0; i < (long)n * n; i++) a[i] = b[i] = 0.001f * (i % 997);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = ml_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double g = 2.0 * n * n * n / (ml_now() - t0) / 1e9;
        if (g > best) best = g;
    }
    ml_free(a), ml_free(b), ml_free(c);
    return best;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_lm PRESET [steps] | bench_lm sgemm\n");
        return 1;
    }
    if (!strcmp(argv[1], "sgemm")) {
        printf("{\"what\": \"sgemm\", \"gflops\": %.2f, \"openblas_core\": \"%s\"}\n",
               sgemm_gflops(), openblas_get_corename());
        return 0;
    }
    int steps = argc > 2 ? atoi(argv[2]) : 10;
    LmConfig c;
    if (lm_config_preset(&c, argv[1])) return 1;
    c.vocab_size = 8192;
    if (lm_config_finalize(&c)) return 1;
    LmModel m;
    if (lm_create(&m, &c, 1)) return 1;
    int B = c.batch, T = c.seq_len, N = B * T;
    int32_t *tok = ml_alloc(sizeof(int32_t) * N), *tgt = ml_alloc(sizeof(int32_t) * N);
    Rng rng;
    rng_seed(&rng, 5);
    for (int i = 0; i < N; i++)
        tok[i] = rng_below(&rng, c.vocab_size), tgt[i] = rng_below(&rng, c.vocab_size);
    AdamW opt = {c.lr, c.beta1, c.beta2, c.adam_eps, c.weight_decay};
    double t_train = 0, t_fwd = 0;
    for (int s = -2; s < steps; s++) { /* two warm-up steps */
        double t0 = ml_now();
        lm_forward(&m, tok, tgt, NULL, B, T, 1);
        lm_zero_grads(&m);
        lm_backward(&m, tok, tgt, B, T, 1.0f / N, 1.0f);
        for (int i = 0; i < m.n_tensors; i++) {
            ParamTensor *t = &m.tensors[i];
            long off = t->p - m.params_mem;
            if (!t->frozen)
                adamw_update(&opt, t->p, m.grads_mem + off, m.m_mem + off, m.v_mem + off, t->n,
                             s + 3, c.lr, t->decay);
        }
        if (s >= 0) t_train += ml_now() - t0;
    }
    for (int s = -1; s < steps; s++) {
        double t0 = ml_now();
        lm_forward(&m, tok, NULL, NULL, B, T, 0);
        if (s >= 0) t_fwd += ml_now() - t0;
    }
    double ff = forward_flops(&c);
    printf(
        "{\"what\": \"moelens\", \"preset\": \"%s\", \"train_tok_s\": %.1f, \"fwd_tok_s\": %.1f, "
        "\"train_gflops\": %.2f, \"fwd_gflops\": %.2f}\n",
        argv[1], (double)N * steps / t_train, (double)N * steps / t_fwd,
        3 * ff * steps / t_train / 1e9, ff * steps / t_fwd / 1e9);
    lm_free(&m);
    return 0;
}
