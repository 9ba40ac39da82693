/* LmGradHook, what the overlapped data-parallel reduction relies on: during lm_backward the spans
 * it announces cover every parameter exactly once, the output head's first and the embeddings'
 * last, and no gradient in a span changes after its announcement (a span reduced too early would
 * be summed before it was whole). */
#include "core/mem.h"
#include "model/lm.h"
#include "test.h"
#include <string.h>

typedef struct {
    const LmModel *m;
    float *snap; /* each span's gradients as they were when announced */
    long first_end, last_at;
    int spans, progress;
} Seen;

static void on_ready(void *ctx, long at, long n) {
    Seen *s = ctx;
    memcpy(s->snap + at, s->m->grads_mem + at, sizeof(float) * n);
    if (!s->spans++) s->first_end = at + n;
    s->last_at = at;
    for (long i = at; i < at + n; i++) s->snap[s->m->n_params + i] += 1; /* times covered */
}
static void on_progress(void *ctx) {
    ((Seen *)ctx)->progress++;
}

static void check_hook(const char *const *sets, int nsets) {
    LmConfig c;
    lm_config_preset(&c, "tiny");
    const char *base[] = {"d_model=32", "n_head=2",  "expert_hidden=32", "vocab_size=64",
                          "seq_len=8",  "n_layer=3", "n_experts=4"};
    for (unsigned i = 0; i < sizeof base / sizeof base[0]; i++) lm_config_set_kv(&c, base[i]);
    for (int i = 0; i < nsets; i++) lm_config_set_kv(&c, sets[i]);
    CHECK(lm_config_finalize(&c) == 0);
    LmModel m;
    CHECK(lm_create(&m, &c, 1) == 0);
    const int B = 2, T = 8, N = B * T;
    lm_alloc_acts(&m, B, T);
    int32_t tok[16], tgt[16];
    for (int i = 0; i < N; i++) tok[i] = (i * 7) % 64, tgt[i] = (i * 11 + 3) % 64;
    Seen s = {&m, ml_alloc_floats(2 * m.n_params), 0, 0, 0, 0};
    LmGradHook hook = {on_ready, on_progress, &s};
    lm_zero_grads(&m);
    lm_forward(&m, tok, tgt, NULL, B, T, 1);
    m.grad_hook = &hook;
    lm_backward(&m, tok, tgt, B, T, 1.0f / N, 1.0f);
    CHECK(s.spans == c.n_layer + 2 && s.progress >= 2 * c.n_layer);
    CHECK(s.first_end == m.n_params && s.last_at == 0);
    long once = 0, nonzero = 0;
    for (long i = 0; i < m.n_params; i++) once += s.snap[m.n_params + i] == 1;
    for (long i = 0; i < m.n_params; i++) nonzero += m.grads_mem[i] != 0;
    CHECK(once == m.n_params);
    CHECK(nonzero > m.n_params / 2); /* the comparison below compares something */
    CHECK(!memcmp(s.snap, m.grads_mem, sizeof(float) * m.n_params));
    ml_free(s.snap);
    lm_free(&m);
}

TEST(lm_grad_hook_spans_gpt2_tied) {
    check_hook(NULL, 0);
}

TEST(lm_grad_hook_spans_llama_untied) {
    const char *sets[] = {"block=llama", "tied=0", "qk_norm=1", "n_shared=1", "n_kv_head=1"};
    check_hook(sets, 5);
}
