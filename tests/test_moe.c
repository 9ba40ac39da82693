/* MoE layer behaviour on constructed cases whose answers are known by hand. */
#include "core/error.h"
#include "core/mem.h"
#include "moe_layer.h"
#include "nn/moe.h"
#include "test.h"
#include <string.h>

static MoeConfig base_cfg(int C, int E, int k) {
    MoeConfig cfg = {0};
    cfg.d_model = C, cfg.n_experts = E, cfg.top_k = k, cfg.hidden = 8, cfg.init_std = 0.3f;
    cfg.weight_scale = 1, cfg.seed = 42, cfg.cos_dim = 4;
    return cfg;
}

static void fill(float *x, long n, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    rng_fill_normal(&r, x, n, 1.0f);
}

/* Two tokens, two experts, top-1: logits (1,0) and (0,−1) both pick expert 0, so f = (1, 0),
 * P_0 = (σ(1) + σ(1))/2 and L = 2·σ(1) = 1.46211716; z-loss = (ln(e+1)² + ln(1+e⁻¹)²)/2. */
TEST(moe_aux_switch_and_z_hand_values) {
    for (int score = 0; score < 3; score++) {
        MoeConfig cfg = base_cfg(2, 2, 1);
        cfg.hidden = 0, cfg.score = score;
        Layer L;
        layer_init(&L, &cfg, 2, 2, 1);
        float w[4] = {1, 0, 0, -1}; /* router_w [E, C]: logits_n,e = Σ_c w[e,c]·x[n,c] */
        memcpy(L.p.router_w, w, sizeof w);
        float x[4] = {1, 0, 0, 1};
        moe_route_forward(&L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 2, 0, NULL);
        CHECK(L.a.topk_idx[0] == 0 && L.a.topk_idx[1] == 0);
        CHECK(L.a.counts[0] == 2 && L.a.counts[1] == 0);
        CHECK_NEAR(L.a.aux_lb, 1.4621171573, 1e-6);
        CHECK_NEAR(L.a.aux_z, 0.9113945724, 1e-6);
        layer_free(&L);
    }
}

TEST(moe_frozen_random_router_never_updates) {
    MoeConfig cfg = base_cfg(6, 4, 2);
    cfg.router = ROUTER_RANDOM, cfg.aux_lb_coef = 0.01f, cfg.aux_z_coef = 0.001f;
    Layer L, M;
    layer_init(&L, &cfg, 8, 8, 1);
    layer_init(&M, &cfg, 8, 8,
               2); /* other model seed: the frozen router depends on cfg.seed only */
    CHECK(memcmp(L.p.router_w, M.p.router_w, 4 * 6 * sizeof(float)) == 0);
    ParamTensor pt[16];
    int nt = moe_param_tensors(pt, 0, "h.0.moe.", &L.p, &cfg);
    CHECK(strcmp(pt[0].name, "h.0.moe.router.w") == 0 && pt[0].frozen && !pt[0].decay);
    for (int t = 1; t < nt; t++) CHECK(!pt[t].frozen);
    float x[48], out[48], dout[48], dx[48] = {0};
    fill(x, 48, 3), fill(dout, 48, 4);
    moe_forward(out, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, 8, 0, NULL);
    moe_backward(dx, &L.g, dout, &L.a, &L.p, &cfg, x, 1, 8);
    int nonzero = 0;
    for (int i = 0; i < 24; i++) nonzero += L.g.router_w[i] != 0;
    CHECK(nonzero == 0);
    layer_free(&L), layer_free(&M);
}

TEST(moe_hash_routing_is_a_function_of_the_token_id) {
    MoeConfig cfg = base_cfg(4, 5, 2);
    cfg.router = ROUTER_HASH, cfg.n_zero = 1;
    Layer L;
    layer_init(&L, &cfg, 64, 64, 1);
    int32_t tok[64];
    float x[256];
    for (int n = 0; n < 64; n++) tok[n] = n % 7;
    fill(x, 256, 9);
    moe_route_forward(&L.a, &L.p, &cfg, &L.ov, x, tok, NULL, 64, 1, NULL);
    int32_t first[7], ok = 1, seen = 0;
    for (int n = 0; n < 7; n++) first[n] = L.a.topk_idx[n * 2];
    fill(x, 256, 10); /* different hidden states: same experts */
    moe_route_forward(&L.a, &L.p, &cfg, &L.ov, x, tok, NULL, 64, 1, NULL);
    for (int n = 0; n < 64; n++) {
        ok &= L.a.topk_idx[n * 2] == first[n % 7];
        ok &= L.a.topk_idx[n * 2 + 1] == (first[n % 7] + 1) % 6; /* next expert, cyclically */
        ok &= L.a.topk_w[n * 2] == 0.5f && L.a.topk_w[n * 2 + 1] == 0.5f;
    }
    for (int n = 0; n < 7; n++) seen |= 1 << first[n];
    CHECK(ok);
    CHECK(__builtin_popcount(seen) >= 3); /* the map spreads ids over experts */
    layer_free(&L);
}

TEST(moe_domain_router_sends_domain_d_to_expert_d_mod_E) {
    MoeConfig cfg = base_cfg(4, 3, 2);
    cfg.router = ROUTER_DOMAIN;
    Layer L;
    layer_init(&L, &cfg, 8, 8, 1);
    int32_t dom[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    float x[32], out[32];
    fill(x, 32, 1);
    moe_forward(out, &L.a, &L.p, &cfg, &L.ov, x, NULL, dom, 1, 8, 0, NULL);
    for (int n = 0; n < 8; n++) {
        CHECK(L.a.topk_idx[2 * n] == n % 3);
        CHECK(L.a.topk_idx[2 * n + 1] == (n + 1) % 3);
    }
    layer_free(&L);
}

TEST(moe_zero_experts_output_zero_and_are_counted) {
    MoeConfig cfg = base_cfg(4, 2, 2);
    cfg.n_zero = 2;
    Layer L;
    layer_init(&L, &cfg, 6, 6, 1);
    float bias[4] = {5, 0, 0, 5}; /* every token picks real expert 0 and zero expert 3 */
    L.ov.logit_bias = bias;
    float x[24], out[24], y0[24];
    fill(x, 24, 2);
    moe_forward(out, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, 6, 0, NULL);
    moe_expert_forward(y0, &L.p, &cfg, 0, x, 6);
    CHECK(L.a.counts[3] == 6 && L.a.counts[0] == 6 && L.a.counts[1] == 0);
    int ok = 1;
    for (int n = 0; n < 6; n++) {
        int zs = L.a.topk_idx[2 * n] == 3 ? 0 : 1; /* slot holding the zero expert */
        for (int c = 0; c < 4; c++) {
            ok &= L.a.expert_out[(2 * n + zs) * 4 + c] == 0;
            ok &= fabsf(L.a.expert_out[(2 * n + 1 - zs) * 4 + c] - y0[n * 4 + c]) < 1e-6f;
            ok &= fabsf(out[n * 4 + c] - L.a.topk_w[2 * n + 1 - zs] * y0[n * 4 + c]) < 1e-6f;
        }
    }
    CHECK(ok);
    layer_free(&L);
}

TEST(moe_capacity_factor_drops_later_tokens) {
    MoeConfig cfg = base_cfg(4, 2, 1);
    cfg.capacity_factor = 0.5f; /* capacity = ceil(0.5·8·1/2) = 2 */
    Layer L;
    layer_init(&L, &cfg, 8, 8, 1);
    float bias[2] = {10, 0}; /* everyone wants expert 0 */
    L.ov.logit_bias = bias;
    float x[32], out[32];
    fill(x, 32, 5);
    moe_forward(out, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, 8, 0, NULL);
    CHECK(L.a.n_dropped == 6 && L.a.counts[0] == 8);
    for (int n = 0; n < 8; n++) {
        CHECK(L.a.topk_idx[n] == 0);
        CHECK((L.a.topk_w[n] > 0.9f) == (n < 2));
        float mx = 0;
        for (int c = 0; c < 4; c++) mx = fmaxf(mx, fabsf(out[n * 4 + c]));
        CHECK((mx > 0) == (n < 2));
    }
    layer_free(&L);
}

TEST(moe_k_override_equal_to_k_is_identical_and_smaller_k_ranks) {
    MoeConfig cfg = base_cfg(6, 4, 2);
    cfg.renorm = 1;
    Layer L;
    layer_init(&L, &cfg, 10, 10, 1);
    float x[60], o1[60], o2[60], o3[60];
    fill(x, 60, 3);
    moe_forward(o1, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, 10, 0, NULL);
    L.ov.k = 2;
    moe_forward(o2, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, 10, 0, NULL);
    CHECK(memcmp(o1, o2, sizeof o1) == 0);
    int32_t best[10];
    for (int n = 0; n < 10; n++) best[n] = L.a.topk_idx[2 * n];
    L.ov.k = 1; /* renormalised: the single expert gets weight 1 */
    moe_forward(o3, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, 10, 0, NULL);
    CHECK(L.a.k == 1);
    for (int n = 0; n < 10; n++) {
        CHECK(L.a.topk_idx[n] == best[n]);
        CHECK_NEAR(L.a.topk_w[n], 1.0, 1e-6);
    }
    L.ov.renorm = 0; /* raw softmax weight */
    moe_forward(o3, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, 10, 0, NULL);
    for (int n = 0; n < 10; n++) CHECK_NEAR(L.a.topk_w[n], L.a.probs[n * 4 + best[n]], 1e-7);
    layer_free(&L);
}

TEST(moe_logit_bias_minus_inf_never_selects) {
    MoeConfig cfg = base_cfg(6, 4, 3);
    Layer L;
    layer_init(&L, &cfg, 64, 64, 1);
    float bias[4] = {0, -INFINITY, 0, 0}, x[384], out[384];
    for (int i = 0; i < 6 * 4; i++) L.p.router_w[i] = (i / 6 == 1) ? 5.0f : L.p.router_w[i];
    L.ov.logit_bias = bias;
    fill(x, 384, 8);
    moe_forward(out, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, 64, 0, NULL);
    CHECK(L.a.counts[1] == 0);
    for (int n = 0; n < 64; n++) CHECK(L.a.probs[n * 4 + 1] == 0);
    layer_free(&L);
}

static int imbalance(const int32_t *c, int E) {
    int mx = c[0], mn = c[0];
    for (int e = 1; e < E; e++) mx = c[e] > mx ? c[e] : mx, mn = c[e] < mn ? c[e] : mn;
    return mx - mn;
}

TEST(moe_sigmoid_balance_bias_moves_toward_balance) {
    MoeConfig cfg = base_cfg(6, 4, 1);
    cfg.score = SCORE_SIGMOID, cfg.bias_rate = 0.02f, cfg.hidden = 0;
    Layer L;
    layer_init(&L, &cfg, 128, 128, 1);
    for (int c = 0; c < 6; c++) L.p.router_w[c] += 1.0f; /* expert 0 favoured */
    float x[768];
    fill(x, 768, 4);
    for (int i = 0; i < 768; i += 6) x[i] = fabsf(x[i]) + 0.5f;
    moe_route_forward(&L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 128, 0, NULL);
    int before = imbalance(L.a.counts, 4);
    for (int step = 0; step < 100; step++) {
        moe_update_balance_bias(&L.p, &L.a, &cfg);
        moe_route_forward(&L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 128, 0, NULL);
    }
    int after = imbalance(L.a.counts, 4);
    CHECK_MSG(after < before / 2, "imbalance %d -> %d", before, after);
    CHECK(L.p.balance_bias[0] < 0);
    /* the bias only selects: a token's weight is still its own sigmoid score */
    CHECK_NEAR(L.a.topk_w[0], L.a.probs[L.a.topk_idx[0]], 0);
    layer_free(&L);
}

TEST(moe_two_runs_are_bit_identical) {
    MoeConfig cfg = base_cfg(16, 4, 2);
    cfg.n_shared = 1, cfg.shared_hidden = 8, cfg.noise_std = 0.1f, cfg.jitter = 0.05f;
    cfg.aux_lb_coef = 0.01f, cfg.aux_z_coef = 0.001f, cfg.level = ROUTE_SEQ_CAUSAL;
    cfg.capacity_factor = 1.0f;
    long np = moe_num_params(&cfg);
    float x[4 * 16 * 16], dout[4 * 16 * 16], out[2][4 * 16 * 16], dx[2][4 * 16 * 16];
    float *g[2];
    fill(x, 1024, 1), fill(dout, 1024, 2);
    for (int run = 0; run < 2; run++) {
        Layer L;
        layer_init(&L, &cfg, 64, 16, 11);
        L.a.dist_share = run; /* a data-parallel share in a world of one: the same bits */
        Rng rng;
        rng_seed(&rng, 3);
        memset(dx[run], 0, sizeof dx[run]);
        moe_forward(out[run], &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 4, 16, 1, &rng);
        moe_backward(dx[run], &L.g, dout, &L.a, &L.p, &cfg, x, 4, 16);
        g[run] = ml_alloc_floats(np);
        memcpy(g[run], L.gbase, np * sizeof(float));
        layer_free(&L);
    }
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
    CHECK(memcmp(dx[0], dx[1], sizeof dx[0]) == 0);
    CHECK(memcmp(g[0], g[1], np * sizeof(float)) == 0);
    ml_free(g[0]), ml_free(g[1]);
}

TEST(moe_routing_only_and_validation) {
    MoeConfig cfg = base_cfg(8, 4, 2);
    cfg.hidden = 0;
    CHECK(moe_num_params(&cfg) == 4 * 8); /* router only */
    Layer L;
    layer_init(&L, &cfg, 4, 4, 1);
    float x[32], out[32];
    fill(x, 32, 1);
    moe_forward(out, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, 4, 0, NULL);
    for (int i = 0; i < 32; i++) CHECK(out[i] == 0);
    layer_free(&L);
    MoeConfig bad = base_cfg(8, 4, 5);
    CHECK(moe_validate(&bad) == -1 && strstr(ml_errmsg(), "top_k"));
    bad = base_cfg(8, 2, 1);
    bad.router = ROUTER_DENSE;
    CHECK(moe_validate(&bad) == -1 && strstr(ml_errmsg(), "dense"));
    bad = base_cfg(8, 2, 1), bad.router = ROUTER_COSINE, bad.cos_dim = 0;
    CHECK(moe_validate(&bad) == -1 && strstr(ml_errmsg(), "cos_dim"));
    CHECK(moe_validate(&cfg) == 0);
}
