/* The forward-only MoE buffers run each expert once over all its rows, streamed through a hidden
 * scratch of moe_infer_rows rows (an expert with more rows runs in pieces): the layer output and
 * every slot's expert output must be the training buffers' (which hold all N·k hidden rows),
 * whatever the pieces, with uneven loads: one expert taking every token (many pieces), one masked
 * out (no rows), with and without expert_out captures (the outputs land in them, or in the
 * buffers' own slot-order rows). A dropped, duplicated or misweighted row moves the output by O(1).
 */
#include "core/mem.h"
#include "moe_layer.h"
#include "nn/moe_internal.h"
#include "test.h"
#include <math.h>
#include <string.h>

enum { C = 12, E = 6, K = 2, N = 40 };

/* max |a − b| / max |b| over n values */
static double rel_diff(const float *a, const float *b, long n) {
    double d = 0, m = 0;
    for (long i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

static MoeConfig stream_cfg(ExpertAct act) {
    MoeConfig cfg = {0};
    cfg.d_model = C, cfg.n_experts = E, cfg.top_k = K, cfg.hidden = 8, cfg.act = act;
    cfg.expert_bias = act == EXPERT_GELU, cfg.n_shared = 1, cfg.shared_hidden = 4;
    /* sigmoid scores: the bias that sends every token to expert 0 leaves the second slot's
     * weight O(1) (a softmax would make it e^-40, hiding a wrong row there) */
    cfg.score = SCORE_SIGMOID, cfg.init_std = 0.3f, cfg.weight_scale = 1, cfg.seed = 5;
    return cfg;
}

/* out and (captures) expert_out of the forward-only buffers with pieces of `rows` rows on L's
 * parameters: without captures the experts' outputs go to the buffers' own slot-order rows */
static void infer_forward(float *out, float *eo, Layer *L, const float *x, int rows, int captures) {
    int saved = moe_infer_rows;
    moe_infer_rows = rows;
    MoeActs a;
    moe_acts_alloc_infer(&a, &L->cfg, N, N, captures);
    moe_infer_rows = saved;
    const MoeInternal *in = a.internal;
    CHECK(in->piece_rows == (rows < N * K ? rows : N * K));
    CHECK(in->n_scratch >= 1 && in->n_scratch <= E);
    moe_forward(out, &a, &L->p, &L->cfg, &L->ov, x, NULL, NULL, 1, N, 0, NULL);
    if (captures) memcpy(eo, a.expert_out, sizeof(float) * N * K * C);
    CHECK(a.counts[0] == N && a.counts[E - 1] == 0); /* the loads the bias forces */
    moe_acts_free(&a);
}

TEST(moe_streamed_experts_match_training_buffers) {
    for (int act = 0; act < 2; act++) {
        MoeConfig cfg = stream_cfg(act ? EXPERT_SWIGLU : EXPERT_GELU);
        Layer L;
        layer_init(&L, &cfg, N, N, 17);
        float bias[E] = {40, 0, 0, 0, 0, -INFINITY}; /* every token to expert 0, none to E−1 */
        L.ov.logit_bias = bias;
        static float x[N * C], want[N * C], out[N * C], eo[N * K * C];
        Rng r;
        rng_seed(&r, 23);
        rng_fill_normal(&r, x, N * C, 1.0f);
        moe_forward(want, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, N, 0, NULL);
        CHECK(L.a.counts[0] == N && L.a.counts[E - 1] == 0);
        for (int n = 0; n < N; n++) CHECK(L.a.topk_w[n * K + 1] > 0.05f); /* both slots count */
        /* 40 rows of expert 0 in pieces of 7 (5 full, one of 5), of 1, and in one piece */
        const int rows[] = {7, 1, 256};
        for (int i = 0; i < 6; i++) {
            memcpy(eo, L.a.expert_out, sizeof eo); /* without captures: out alone is checked */
            infer_forward(out, eo, &L, x, rows[i % 3], i < 3);
            double d = rel_diff(out, want, N * C), de = rel_diff(eo, L.a.expert_out, N * K * C);
            CHECK_MSG(d <= 1e-6 && de <= 1e-6, "act %d, pieces of %d: out %.3g, expert_out %.3g",
                      act, rows[i % 3], d, de);
            if (rows[i % 3] >= N) /* one piece: the very GEMMs of the training buffers */
                CHECK(!memcmp(out, want, sizeof out) && !memcmp(eo, L.a.expert_out, sizeof eo));
        }
        layer_free(&L);
    }
}
