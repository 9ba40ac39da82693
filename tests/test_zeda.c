/* ZEDA (docs/zeda.md): the group balance loss on a hand-computed case and against central
 * differences, zero experts that output exactly 0 and are skipped, the grown model equal to the
 * original bit for bit once its zero experts are masked, and the distillation KL's gradient. */
#include "core/error.h"
#include "core/mem.h"
#include "gradcheck.h"
#include "lm_small.h"
#include "model/lm_adapt.h"
#include "model/lm_distill.h"
#include "moe_layer.h"
#include "nn/moe_internal.h"
#include "test.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static MoeConfig zeda_cfg(int C, int E, int Z, int k, int hidden) {
    MoeConfig cfg = {0};
    cfg.d_model = C, cfg.n_experts = E, cfg.n_zero = Z, cfg.top_k = k, cfg.hidden = hidden;
    cfg.init_std = 0.5f, cfg.weight_scale = 1, cfg.seed = 42, cfg.cos_dim = 4;
    return cfg;
}

/* E = 2 real, Z = 2 zero, top-1, w = 2. Token 0 has logits (2,0,1,0) and picks real expert 0;
 * token 1 has (0,0,0,3) and picks zero expert 3: C_N = C_Z = 1, and
 * L = (E+wZ)/(k·N²)·(C_N·S_N/E + C_Z·S_Z/(wZ)) = 6/4·(S_N/2 + S_Z/4). */
TEST(zeda_group_loss_hand_value) {
    MoeConfig cfg = zeda_cfg(2, 2, 2, 1, 0);
    cfg.aux_group_coef = 1, cfg.zero_weight = 2;
    Layer L;
    layer_init(&L, &cfg, 2, 2, 1);
    const float w[8] = {2, 0, 0, 0, 1, 0, 0, 3}; /* rows e: (logit for x0, logit for x1) */
    memcpy(L.p.router_w, w, sizeof w);
    float x[4] = {1, 0, 0, 1}, out[4];
    moe_forward(out, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, 2, 0, NULL);
    double d0 = exp(2) + 1 + exp(1) + 1, d1 = 3 + exp(3);
    double sn = (exp(2) + 1) / d0 + 2 / d1, sz = (exp(1) + 1) / d0 + (1 + exp(3)) / d1;
    CHECK(L.a.topk_idx[0] == 0 && L.a.topk_idx[1] == 3);
    CHECK_NEAR(L.a.aux_group, 1.5 * (sn / 2 + sz / 4), 1e-6);
    const double psum[4] = {0, 0, 0, 0};
    cfg.n_zero = 0; /* no zero experts: no group loss */
    CHECK(moe_group_loss(&cfg, L.a.counts, psum, 2, 1) == 0);
    layer_free(&L);
}

/* Double reference of α·L_group over router weights W [EZ,C] and inputs x [N,C] packed in v;
 * the top-k choice is recomputed (the test checks it stays put at ±eps). */
typedef struct {
    int N, C, E, Z, k;
    double alpha, w;
    int zero_slots; /* of the last evaluation */
} GroupRef;

static double group_ref(const double *v, void *ctx) {
    GroupRef *g = ctx;
    const int EZ = g->E + g->Z, C = g->C;
    const double *W = v, *x = v + EZ * C;
    double sn = 0, sz = 0, cz = 0;
    for (int n = 0; n < g->N; n++) {
        double z[EZ], mx = -INFINITY, s = 0;
        for (int e = 0; e < EZ; e++) {
            z[e] = 0;
            for (int c = 0; c < C; c++) z[e] += W[e * C + c] * x[n * C + c];
            mx = fmax(mx, z[e]);
        }
        for (int e = 0; e < EZ; e++) s += exp(z[e] - mx);
        for (int e = 0; e < EZ; e++) *(e < g->E ? &sn : &sz) += exp(z[e] - mx) / s;
        int taken[EZ];
        memset(taken, 0, sizeof taken);
        for (int j = 0; j < g->k; j++) {
            int best = -1;
            for (int e = 0; e < EZ; e++)
                if (!taken[e] && (best < 0 || z[e] > z[best])) best = e;
            taken[best] = 1;
            cz += best >= g->E;
        }
    }
    g->zero_slots = (int)cz;
    double cn = (double)g->N * g->k - cz, N = g->N;
    return g->alpha * (g->E + g->w * g->Z) / (g->k * N * N) *
           (cn * sn / g->E + cz * sz / (g->w * g->Z));
}

TEST(zeda_group_loss_gradient_matches_central_differences) {
    const int C = 5, E = 4, Z = 2, k = 2, N = 6, EZ = E + Z;
    MoeConfig cfg = zeda_cfg(C, E, Z, k, 0); /* routing only: the loss is the group term alone */
    cfg.aux_group_coef = 0.7f, cfg.zero_weight = 1.5f;
    Layer L;
    layer_init(&L, &cfg, N, N, 3);
    float x[N * C], out[N * C], dout[N * C], dx[N * C];
    Rng rng;
    rng_seed(&rng, 5);
    gc_randn(&rng, x, N * C, 1.0f);
    moe_forward(out, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, N, 0, NULL);
    memset(dout, 0, sizeof dout), memset(dx, 0, sizeof dx);
    memset(L.gbase, 0, moe_num_params(&cfg) * sizeof(float));
    moe_backward(dx, &L.g, dout, &L.a, &L.p, &cfg, x, 1, N);
    GroupRef ref = {N, C, E, Z, k, 0.7, 1.5, 0};
    long nv = (long)EZ * C + N * C;
    double *v = calloc(nv, sizeof(double)), *num = calloc(nv, sizeof(double));
    gc_to_double(v, L.p.router_w, EZ * C);
    gc_to_double(v + EZ * C, x, N * C);
    CHECK_NEAR(group_ref(v, &ref), 0.7 * L.a.aux_group, 1e-6);
    int zs = ref.zero_slots;
    CHECK_MSG(zs > 0 && zs < N * k, "the case should route to both groups (zero slots %d)", zs);
    gc_numeric_grad(group_ref, v, nv, GC_EPS, num, &ref);
    CHECK(ref.zero_slots == zs);
    gc_compare("d router_w", L.g.router_w, num, EZ * C, GC_BWD_RTOL, GC_BWD_ATOL);
    gc_compare("d x", dx, num + EZ * C, N * C, GC_BWD_RTOL, GC_BWD_ATOL);
    free(v), free(num);
    layer_free(&L);
}

/* Zero experts output exactly 0 and are never computed: the layer's output is the weighted sum
 * of the real slots alone, and only real slots are dispatched to expert FFNs. */
TEST(zeda_zero_experts_contribute_zero_and_are_skipped) {
    const int C = 6, E = 3, Z = 3, k = 2, N = 16, EZ = E + Z;
    MoeConfig cfg = zeda_cfg(C, E, Z, k, 8);
    Layer L;
    layer_init(&L, &cfg, N, N, 11);
    float x[N * C], out[N * C], y[C];
    Rng rng;
    rng_seed(&rng, 2);
    gc_randn(&rng, x, N * C, 1.0f);
    moe_forward(out, &L.a, &L.p, &cfg, &L.ov, x, NULL, NULL, 1, N, 0, NULL);
    int real = 0, zero = 0;
    for (int n = 0; n < N; n++) {
        double ref[C];
        memset(ref, 0, sizeof ref);
        for (int j = 0; j < k; j++) {
            int e = L.a.topk_idx[n * k + j];
            const float *eo = L.a.expert_out + ((long)n * k + j) * C;
            moe_expert_forward(y, &L.p, &cfg, e, x + n * C, 1);
            for (int c = 0; c < C; c++) {
                CHECK(eo[c] == y[c]);
                if (e >= E) CHECK(eo[c] == 0.0f);
                ref[c] += (double)L.a.topk_w[n * k + j] * y[c];
            }
            *(e < E ? &real : &zero) += 1;
        }
        for (int c = 0; c < C; c++) CHECK_NEAR(out[n * C + c], ref[c], 1e-5);
    }
    CHECK_MSG(zero > 0 && real > 0, "both groups routed (real %d, zero %d)", real, zero);
    const MoeInternal *in = L.a.internal;
    CHECK(in->expert_off[E] == real); /* rows sent to expert FFNs: the real slots only */
    int counted = 0;
    for (int e = E; e < EZ; e++) counted += L.a.counts[e];
    CHECK(counted == zero);
    layer_free(&L);
}

/* The grown model: every old tensor and router row copied exactly; with the zero experts masked
 * (logit −inf) it computes the original's probabilities bit for bit; unmasked it skips slots. */
TEST(zeda_adapted_model_masked_equals_original) {
    LmModel orig, st;
    test_small_lm(&orig, "learned", 4, 2, 2);
    LmConfig cfg;
    CHECK(lm_adapt_config(&cfg, &orig.cfg, 3) == 0);
    CHECK(lm_adapt_check_arch(&cfg, &orig.cfg, 3) == 0);
    CHECK(lm_create(&st, &cfg, 0) == 0);
    CHECK(lm_adapt_grow(&st, &orig, 9) == 0);
    const int L = cfg.n_layer, C = cfg.d_model, E = 4, EZ = 7, B = 2, T = 16, V = cfg.vocab_size;
    for (int l = 0; l < L; l++) {
        const float *a = orig.params.layers[l].ffn.router_w, *b = st.params.layers[l].ffn.router_w;
        CHECK(!memcmp(a, b, (size_t)E * C * sizeof(float)));
        int differs = 0;
        for (long i = (long)E * C; i < (long)EZ * C; i++) differs |= isfinite(b[i]) && b[i] != 0;
        CHECK(differs);
    }
    int32_t tok[B * T], tg[B * T];
    for (int i = 0; i < B * T; i++) tok[i] = (i * 7 + 3) % V, tg[i] = (i * 5 + 1) % V;
    float mask[EZ];
    for (int e = 0; e < EZ; e++) mask[e] = e < E ? 0.0f : -INFINITY;
    double lo = lm_forward(&orig, tok, tg, NULL, B, T, 0);
    double ls = lm_forward(&st, tok, tg, NULL, B, T, 0); /* unmasked: the zero experts route */
    long zero = 0;
    for (int l = 0; l < L; l++)
        for (int e = E; e < EZ; e++) zero += st.acts[l].moe.counts[e];
    CHECK_MSG(zero > 0, "unmasked, some slots go to zero experts");
    CHECK(ls != lo);
    MoeOverride masked[L];
    for (int l = 0; l < L; l++) masked[l] = MOE_OVERRIDE_NONE, masked[l].logit_bias = mask;
    ls = lm_forward_routed(&st, masked, tok, tg, NULL, B, T, 0);
    CHECK(ls == lo);
    CHECK(!memcmp(orig.logits, st.logits, (size_t)B * T * V * sizeof(float)));
    for (int l = 0; l < L; l++)
        for (int e = E; e < EZ; e++) CHECK(st.acts[l].moe.counts[e] == 0);
    /* identical distributions: distillation loss and gradient exactly 0 */
    CHECK(lm_distill_kl(st.logits, orig.logits, tg, B * T, V, 1.0f) == 0);
    for (long i = 0; i < (long)B * T * V; i++) CHECK(st.logits[i] == 0);
    lm_free(&orig), lm_free(&st);
}

TEST(zeda_adapt_refuses_architecture_changes_and_fixed_routers) {
    LmModel orig;
    test_small_lm(&orig, "learned", 4, 2, 1);
    LmConfig cfg;
    CHECK(lm_adapt_config(&cfg, &orig.cfg, 0) == -1 && strstr(ml_errmsg(), "--zero-experts"));
    CHECK(lm_adapt_config(&cfg, &orig.cfg, 2) == 0);
    lm_config_set(&cfg, "steps", "5"), lm_config_set(&cfg, "aux_group", "0.3");
    CHECK(lm_adapt_check_arch(&cfg, &orig.cfg, 2) == 0);
    lm_config_set(&cfg, "expert_hidden", "64");
    CHECK(lm_adapt_check_arch(&cfg, &orig.cfg, 2) == -1 && strstr(ml_errmsg(), "architecture"));
    lm_free(&orig);
    test_small_lm(&orig, "hash", 4, 2, 1);
    CHECK(lm_adapt_config(&cfg, &orig.cfg, 2) == -1 && strstr(ml_errmsg(), "learned"));
    lm_free(&orig);
}

/* KL(p_T ‖ softmax(z)) summed over rows, in double, from logits packed in v. */
typedef struct {
    int N, V;
    const double *pt;
} KlRef;

static double kl_ref(const double *z, void *ctx) {
    KlRef *r = ctx;
    double kl = 0;
    for (int n = 0; n < r->N; n++) {
        const double *zn = z + n * r->V, *pt = r->pt + n * r->V;
        double mx = -INFINITY, s = 0;
        for (int v = 0; v < r->V; v++) mx = fmax(mx, zn[v]);
        for (int v = 0; v < r->V; v++) s += exp(zn[v] - mx);
        for (int v = 0; v < r->V; v++) kl += pt[v] * (log(pt[v]) - (zn[v] - mx - log(s)));
    }
    return kl;
}

static void softmax_rows(float *p, const float *z, int N, int V) {
    for (int n = 0; n < N; n++) {
        double mx = -INFINITY, s = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, z[n * V + v]);
        for (int v = 0; v < V; v++) s += exp(z[n * V + v] - mx);
        for (int v = 0; v < V; v++) p[n * V + v] = (float)(exp(z[n * V + v] - mx) / s);
    }
}

TEST(zeda_distill_kl_value_and_gradient) {
    enum { N = 4, V = 7 };
    float zs[N * V], zt[N * V], ps[N * V], pt[N * V];
    Rng rng;
    rng_seed(&rng, 8);
    gc_randn(&rng, zs, N * V, 1.5f);
    gc_randn(&rng, zt, N * V, 1.5f);
    softmax_rows(ps, zs, N, V);
    softmax_rows(pt, zt, N, V);
    int32_t tg[N] = {1, 2, -1, 0}; /* row 2 is not scored */
    double z[N * V], ptd[N * V], num[N * V];
    gc_to_double(z, zs, N * V);
    gc_to_double(ptd, pt, N * V);
    for (int v = 0; v < V; v++) /* the unscored row as uniform against uniform: no KL, no grad */
        z[2 * V + v] = 0, ptd[2 * V + v] = 1.0 / V;
    KlRef ref = {N, V, ptd};
    double want = kl_ref(z, &ref);
    gc_numeric_grad(kl_ref, z, N * V, GC_EPS, num, &ref);
    const float scale = 0.5f;
    double got = lm_distill_kl(ps, pt, tg, N, V, scale);
    CHECK_NEAR(got, want, 1e-5 * (1 + want));
    for (int i = 0; i < N * V; i++) num[i] *= scale;
    gc_compare("dKL/dlogits", ps, num, N * V, GC_BWD_RTOL, GC_BWD_ATOL);
}
