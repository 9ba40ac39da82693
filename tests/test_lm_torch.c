/* moelens' language model against the PyTorch reference (tests/make_lm_fixture.py, committed
 * fixtures): logits, loss, router logits, exact expert ids, aux losses, every gradient and ten
 * AdamW steps, for a GPT-2-style and a llama-style tiny MoE model. */
#include "core/error.h"
#include "core/mem.h"
#include "core/safetensors.h"
#include "model/lm_io.h"
#include "nn/optim.h"
#include "test.h"
#include <cjson/cJSON.h>
#include <string.h>

/* Max |a-b| relative to max |b| (scale-aware: gradients span orders of magnitude), with a floor of
 * 1e-3 on the scale: the key-bias gradient is exactly 0 in exact arithmetic (softmax ignores a
 * shift shared by all keys), so both sides hold only rounding noise there. */
static double rel_diff(const float *a, const float *b, long n) {
    double md = 0, mb = 1e-3;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md) md = d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

static const void *fx(const SafeTensors *st, const char *name) {
    const StTensor *t = st_find(st, name);
    CHECK_MSG(t != NULL, "fixture lacks %s", name);
    return t ? t->data : NULL;
}

/* Opens tests/fixtures/lm_NAME.safetensors and builds the model it describes with its weights. */
static int load_fixture(const char *name, SafeTensors *st, LmModel *m) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/lm_%s.safetensors", name);
    LmConfig c;
    lm_config_preset(&c, "tiny");
    if (st_open(st, path) || lm_config_from_json(&c, st_meta(st, "config"), path) ||
        lm_config_finalize(&c) || lm_create(m, &c, 1) || lm_load_weights(m, path)) {
        test_fail(__FILE__, __LINE__, "%s", ml_errmsg());
        return -1;
    }
    return 0;
}

static void check_forward_backward(const char *name) {
    SafeTensors st;
    LmModel m;
    if (load_fixture(name, &st, &m)) return;
    const LmConfig *c = &m.cfg;
    int B = c->batch, T = c->seq_len, N = B * T, V = c->vocab_size;
    const int32_t *tok = fx(&st, "in.tokens"), *tgt = fx(&st, "in.targets");
    double sum = lm_forward(&m, tok, tgt, NULL, B, T, 0);
    CHECK_NEAR(sum / N, *(const float *)fx(&st, "out.xent"), 2e-5);
    CHECK_NEAR(sum / N + lm_aux_loss(&m), *(const float *)fx(&st, "out.total"), 2e-5);
    char key[128];
    for (int l = 0; l < c->n_layer; l++) {
        const MoeActs *a = &m.acts[l].moe;
        snprintf(key, sizeof key, "out.router_logits.%d", l);
        CHECK_MSG(rel_diff(a->logits, fx(&st, key), (long)N * c->moe.n_experts) < 1e-5, "%s %s",
                  name, key);
        snprintf(key, sizeof key, "out.topk_idx.%d", l);
        CHECK_MSG(memcmp(a->topk_idx, fx(&st, key), sizeof(int32_t) * N * c->moe.top_k) == 0,
                  "%s: expert ids differ in layer %d", name, l);
        snprintf(key, sizeof key, "out.aux_lb.%d", l);
        CHECK_NEAR(a->aux_lb, *(const float *)fx(&st, key), 1e-5);
        snprintf(key, sizeof key, "out.aux_z.%d", l);
        CHECK_NEAR(a->aux_z, *(const float *)fx(&st, key), 1e-4);
    }
    /* logits were turned into probabilities by the loss: compare before that with a fresh forward
     */
    lm_forward(&m, tok, NULL, NULL, B, T, 0);
    CHECK_MSG(rel_diff(m.logits, fx(&st, "out.logits"), (long)N * V) < 1e-5, "%s logits", name);
    lm_forward(&m, tok, tgt, NULL, B, T, 0);
    lm_zero_grads(&m);
    lm_backward(&m, tok, tgt, B, T, 1.0f / N, 1.0f);
    for (int i = 0; i < m.n_tensors; i++) {
        const ParamTensor *g = &m.grad_tensors[i];
        snprintf(key, sizeof key, "grad.%s", g->name);
        double d = rel_diff(g->p, fx(&st, key), g->n);
        CHECK_MSG(d < 2e-4, "%s: gradient of %s differs from PyTorch by %.3g (relative to its max)",
                  name, g->name, d);
    }
    lm_free(&m);
    st_free(&st);
}

static void check_adamw_steps(const char *name) {
    SafeTensors st;
    LmModel m;
    if (load_fixture(name, &st, &m)) return;
    const LmConfig *c = &m.cfg;
    int B = c->batch, T = c->seq_len, N = B * T;
    const int32_t *tok = fx(&st, "in.tokens"), *tgt = fx(&st, "in.targets");
    const float *want = fx(&st, "out.adam_losses");
    AdamW opt = {1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};
    for (int step = 0; step < 10; step++) {
        double loss = lm_forward(&m, tok, tgt, NULL, B, T, 0) / N + lm_aux_loss(&m);
        CHECK_MSG(fabs(loss - want[step]) < 2e-4 * fabs(want[step]) + 1e-5,
                  "%s: AdamW step %d loss %.6f, PyTorch %.6f", name, step, loss, want[step]);
        lm_zero_grads(&m);
        lm_backward(&m, tok, tgt, B, T, 1.0f / N, 1.0f);
        for (int i = 0; i < m.n_tensors; i++) {
            const ParamTensor *t = &m.tensors[i];
            long off = t->p - m.params_mem;
            if (!t->frozen)
                adamw_update(&opt, t->p, m.grads_mem + off, m.m_mem + off, m.v_mem + off, t->n,
                             step + 1, opt.lr, t->decay);
        }
    }
    lm_free(&m);
    st_free(&st);
}

TEST(lm_matches_torch_gpt2_forward_backward) {
    check_forward_backward("gpt2");
}
TEST(lm_matches_torch_llama_forward_backward) {
    check_forward_backward("llama");
}
TEST(lm_matches_torch_gpt2_adamw) {
    check_adamw_steps("gpt2");
}
TEST(lm_matches_torch_llama_adamw) {
    check_adamw_steps("llama");
}
