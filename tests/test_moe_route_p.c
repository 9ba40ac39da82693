/* Dynamic skipping (MoeOverride.top_p / min_p): P → 1 is top-k, a tiny P is top-1, a middle P
 * keeps the fewest picks whose router mass reaches it, and skipped picks are not computed. */
#include "core/mem.h"
#include "nn/moe_internal.h"
#include "test.h"
#include <string.h>

typedef struct {
    MoeConfig cfg;
    float *base;
    MoeParams p;
    MoeActs a;
} Layer;

enum { C = 6, E = 5, K = 3, N = 24 };

static void layer_init(Layer *L, ScoreOrder score, int renorm) {
    MoeConfig cfg = {0};
    cfg.d_model = C, cfg.n_experts = E, cfg.top_k = K, cfg.hidden = 8, cfg.act = EXPERT_SWIGLU;
    cfg.init_std = 0.5f, cfg.weight_scale = 1, cfg.seed = 7, cfg.score = score, cfg.renorm = renorm;
    L->cfg = cfg;
    L->base = ml_alloc_floats(moe_num_params(&cfg));
    moe_point_params(&L->p, L->base, &cfg);
    Rng rng;
    rng_seed(&rng, 3);
    moe_init_params(&L->p, &cfg, &rng);
    moe_acts_alloc_infer(&L->a, &cfg, N, N, 1);
}

static void layer_free(Layer *L) {
    ml_free(L->base);
    moe_acts_free(&L->a);
}

static void input(float *x) {
    Rng r;
    rng_seed(&r, 11);
    rng_fill_normal(&r, x, (long)N * C, 1.0f);
}

static void run(Layer *L, const MoeOverride *ov, float *out, const float *x) {
    moe_forward(out, &L->a, &L->p, &L->cfg, ov, x, NULL, NULL, 1, N, 0, NULL);
}

static const struct {
    ScoreOrder score;
    int renorm;
} conventions[] = {
    {SCORE_SOFTMAX_TOPK, 0}, {SCORE_SOFTMAX_TOPK, 1}, {SCORE_TOPK_SOFTMAX, 0}, {SCORE_SIGMOID, 1}};

TEST(moe_route_p_one_is_top_k_and_tiny_is_top_1) {
    float x[N * C], ref[N * C], out[N * C];
    input(x);
    for (unsigned c = 0; c < sizeof conventions / sizeof conventions[0]; c++) {
        Layer L;
        layer_init(&L, conventions[c].score, conventions[c].renorm);
        run(&L, NULL, ref, x);
        MoeOverride ov = MOE_OVERRIDE_NONE;
        ov.top_p = 1.0f;
        run(&L, &ov, out, x);
        CHECK_MSG(!memcmp(ref, out, sizeof out), "convention %u: top_p 1 differs from top-k", c);
        CHECK(L.a.n_pruned == 0 && L.a.k == K);
        MoeOverride one = MOE_OVERRIDE_NONE;
        one.k = 1;
        run(&L, &one, ref, x);
        ov.top_p = 1e-6f;
        run(&L, &ov, out, x);
        CHECK_MSG(!memcmp(ref, out, sizeof out), "convention %u: tiny top_p differs from top-1", c);
        CHECK(L.a.n_pruned == (long)N * (K - 1));
        layer_free(&L);
    }
}

/* A layer of the given convention run once with top_p / min_p (out: its output). */
static void run_skipping(Layer *L, ScoreOrder score, int renorm, float top_p, float min_p) {
    float x[N * C], out[N * C];
    input(x);
    layer_init(L, score, renorm);
    MoeOverride ov = MOE_OVERRIDE_NONE;
    ov.top_p = top_p, ov.min_p = min_p;
    run(L, &ov, out, x);
}

/* The mass of pick j of token n: its score over the sum of all scores. */
static double mass(const MoeActs *a, int n, int j) {
    double s = 0;
    for (int e = 0; e < E; e++) s += a->probs[n * E + e];
    return a->probs[n * E + a->topk_idx[n * K + j]] / s;
}

TEST(moe_route_p_keeps_the_fewest_picks_reaching_p_and_skips_the_rest) {
    Layer L;
    run_skipping(&L, SCORE_SOFTMAX_TOPK, 1, 0.5f, 0);
    const MoeInternal *in = L.a.internal;
    long kept = 0, pruned = 0;
    int some_two = 0, some_one = 0;
    for (int n = 0; n < N; n++) {
        int m = 1; /* by hand: the fewest leading picks whose mass reaches P */
        double cum = mass(&L.a, n, 0);
        while (m < K && cum < 0.5) cum += mass(&L.a, n, m++);
        some_one |= m == 1, some_two |= m >= 2;
        double wsum = 0;
        for (int j = 0; j < K; j++) {
            const float *eo = L.a.expert_out + ((long)n * K + j) * C;
            float w = L.a.topk_w[n * K + j];
            if (j < m) {
                CHECK(w > 0);
                wsum += w;
                kept += L.a.topk_idx[n * K + j] < E;
            } else {
                CHECK(w == 0 && eo[0] == 0 && eo[C - 1] == 0);
                pruned++;
            }
        }
        CHECK_NEAR(wsum, 1.0, 1e-6); /* renormalised over the kept picks */
    }
    CHECK(some_one && some_two); /* the case exercises both */
    CHECK(L.a.n_pruned == pruned);
    CHECK(in->expert_off[E] == kept); /* skipped picks got no expert row: not computed */
    long counted = 0;
    for (int e = 0; e < E; e++) counted += L.a.counts[e];
    CHECK(counted == kept);
    layer_free(&L);
}

TEST(moe_route_min_drops_weak_picks_after_the_first) {
    Layer L;
    run_skipping(&L, SCORE_SOFTMAX_TOPK, 0, 0, 0.25f);
    long pruned = 0;
    for (int n = 0; n < N; n++) {
        CHECK(L.a.topk_w[n * K] > 0); /* the best pick always stays */
        for (int j = 1; j < K; j++) {
            int weak = mass(&L.a, n, j) < 0.25;
            CHECK((L.a.topk_w[n * K + j] == 0) == weak);
            if (!weak) CHECK(L.a.topk_w[n * K + j] == L.a.probs[n * E + L.a.topk_idx[n * K + j]]);
            pruned += weak;
        }
    }
    CHECK(pruned > 0 && L.a.n_pruned == pruned);
    layer_free(&L);
}
