/* Shazeer's importance and load losses and expert-choice routing (nn/moe.h) on the routing half:
 * hand-computed values, the expert-choice capacity against a brute-force top-c, and the analytic
 * backward against central differences of a naive double-precision reference written here from
 * the formulas (Shazeer et al. 2017 §4 and appendix A; Zhou et al. 2022). */
#include "core/mem.h"
#include "moe_ref.h"
#include "nn/moe_internal.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

enum { MAXN = 24, MAXE = 6, MAXC = 5 };

/* The routing half of a learned router as a function of W [E,C] and x [N,C], in double. */
typedef struct {
    MoeConfig cfg;
    int N;
    double W[MAXE * MAXC], x[MAXN * MAXC];
    double Wn[MAXE * MAXC];    /* noise_learned: sd = softplus(Wn·x) */
    double noise[MAXN * MAXE]; /* the layer's train-time draws (ε, or ε·sd when fixed) */
    double r[MAXN * MAXE];     /* L = Σ r_ne·w_ne + coefs·aux */
    int sel[MAXN * MAXE];      /* the reference's choice: 1 when e routes row n */
    double imp, load;          /* unweighted losses of the last evaluation */
} Ref;

static double ref_cv2(const double *v, int n) {
    double m = 0, var = 0;
    for (int i = 0; i < n; i++) m += v[i] / n;
    for (int i = 0; i < n; i++) var += (v[i] - m) * (v[i] - m) / n;
    return var / (m * m + 1e-10);
}

/* The k-th largest of h without entry e. */
static double kth_without(const double *h, int E, int k, int e) {
    double v[MAXE];
    int m = 0;
    for (int i = 0; i < E; i++)
        if (i != e) v[m++] = h[i];
    for (int a = 0; a < m; a++) /* descending selection sort */
        for (int b = a + 1; b < m; b++)
            if (v[b] > v[a]) {
                double t = v[a];
                v[a] = v[b], v[b] = t;
            }
    return v[k - 1];
}

/* Row n's choice: token choice = the k largest noisy logits (ties to the lower index). */
static void token_choice(const double *h, int E, int k, int *sel) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++)
            if (!sel[e] && (best < 0 || h[e] > h[best])) best = e;
        sel[best] = 1;
    }
}

/* Expert choice: each expert takes the c rows with the largest softmax score. */
static void expert_choice(const double *p, int N, int E, int c, int *sel) {
    for (int e = 0; e < E; e++)
        for (int j = 0; j < c; j++) {
            int best = -1;
            for (int n = 0; n < N; n++)
                if (!sel[n * E + e] && (best < 0 || p[n * E + e] > p[best * E + e])) best = n;
            sel[best * E + e] = 1;
        }
}

static double ref_loss(void *ctx, uint64_t *sig) {
    Ref *R = ctx;
    const MoeConfig *cfg = &R->cfg;
    const int N = R->N, E = cfg->n_experts, C = cfg->d_model, k = cfg->top_k;
    double z[MAXN * MAXE], h[MAXN * MAXE], p[MAXN * MAXE], imp[MAXE] = {0}, load[MAXE] = {0};
    double sd[MAXN * MAXE];
    for (int n = 0; n < N; n++) {
        double mx = -1e300, s = 0;
        for (int e = 0; e < E; e++) {
            double u = 0;
            z[n * E + e] = 0;
            for (int i = 0; i < C; i++) z[n * E + e] += R->W[e * C + i] * R->x[n * C + i];
            for (int i = 0; i < C; i++) u += R->Wn[e * C + i] * R->x[n * C + i];
            sd[n * E + e] = cfg->noise_learned ? log1p(exp(u)) : cfg->noise_std;
            h[n * E + e] =
                z[n * E + e] + R->noise[n * E + e] * (cfg->noise_learned ? sd[n * E + e] : 1);
            mx = h[n * E + e] > mx ? h[n * E + e] : mx;
        }
        for (int e = 0; e < E; e++) s += p[n * E + e] = exp(h[n * E + e] - mx);
        for (int e = 0; e < E; e++) p[n * E + e] /= s;
    }
    memset(R->sel, 0, sizeof R->sel);
    if (cfg->choice == CHOICE_EXPERT)
        expert_choice(p, N, E, moe_expert_capacity(cfg, N), R->sel);
    else
        for (int n = 0; n < N; n++) token_choice(h + n * E, E, k, R->sel + n * E);
    double L = 0;
    uint64_t hash = 1469598103934665603ULL;
    for (int n = 0; n < N; n++) {
        double sum = 0;
        for (int e = 0; e < E; e++) sum += R->sel[n * E + e] * p[n * E + e];
        for (int e = 0; e < E; e++) {
            double w = R->sel[n * E + e] ? p[n * E + e] / (cfg->renorm ? sum : 1) : 0;
            L += R->r[n * E + e] * w;
            imp[e] += w;
            if (cfg->aux_load_coef > 0)
                load[e] += 0.5 * erfc(-(z[n * E + e] - kth_without(h + n * E, E, k, e)) /
                                      sd[n * E + e] / sqrt(2.0));
            hash = (hash ^ (uint64_t)(R->sel[n * E + e] + 2 * e + 16 * n)) * 1099511628211ULL;
        }
    }
    R->imp = ref_cv2(imp, E), R->load = cfg->aux_load_coef > 0 ? ref_cv2(load, E) : 0;
    if (sig) *sig = hash;
    return L + cfg->aux_imp_coef * R->imp + cfg->aux_load_coef * R->load;
}

/* A layer with the reference's W, x: forward (train, noise drawn), backward with dL/dw = r. */
typedef struct {
    float base[2 * MAXE * MAXC + 1], grad[2 * MAXE * MAXC + 1], xf[MAXN * MAXC], dx[MAXN * MAXC];
    MoeParams p, g;
    MoeActs a;
} Layer;

static void layer_run(Layer *L, Ref *R, uint64_t seed) {
    const MoeConfig *cfg = &R->cfg;
    const int N = R->N, E = cfg->n_experts, C = cfg->d_model;
    moe_point_params(&L->p, L->base, cfg);
    moe_point_params(&L->g, L->grad, cfg);
    memset(L->grad, 0, sizeof L->grad);
    for (int i = 0; i < E * C; i++) L->p.router_w[i] = (float)R->W[i];
    for (int i = 0; L->p.noise_w && i < E * C; i++) L->p.noise_w[i] = (float)R->Wn[i];
    for (int i = 0; i < N * C; i++) L->xf[i] = (float)R->x[i], L->dx[i] = 0;
    moe_acts_alloc(&L->a, cfg, N, 1);
    Rng rng;
    rng_seed(&rng, seed);
    moe_route_forward(&L->a, &L->p, cfg, NULL, L->xf, NULL, NULL, N, 1, &rng);
    for (int n = 0; n < N; n++) /* noise = noisy logit − clean logit (÷ the learned sd) */
        for (int e = 0; e < E; e++) {
            double zc = 0, u = 0;
            for (int i = 0; i < C; i++) zc += R->W[e * C + i] * R->x[n * C + i];
            for (int i = 0; i < C; i++) u += R->Wn[e * C + i] * R->x[n * C + i];
            R->noise[n * E + e] =
                (L->a.logits[n * E + e] - zc) / (cfg->noise_learned ? log1p(exp(u)) : 1.0);
        }
    const int k = L->a.k;
    float dw[MAXN * MAXE];
    for (int n = 0; n < N; n++)
        for (int j = 0; j < k; j++) {
            int e = L->a.topk_idx[n * k + j];
            dw[n * k + j] = e < 0 ? 0.0f : (float)R->r[n * E + e];
        }
    moe_route_backward(L->dx, &L->g, dw, &L->a, &L->p, cfg, L->xf, N);
}

/* Random W, x, r (float-representable); r = 0 isolates the auxiliary losses. */
static void ref_init(Ref *R, const MoeConfig *cfg, int N, int with_r, uint64_t seed) {
    memset(R, 0, sizeof *R);
    R->cfg = *cfg, R->N = N;
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < cfg->n_experts * cfg->d_model; i++) R->W[i] = (float)rng_normal(&rng);
    for (int i = 0; i < N * cfg->d_model; i++) R->x[i] = (float)rng_normal(&rng);
    for (int i = 0; with_r && i < N * cfg->n_experts; i++) R->r[i] = (float)rng_normal(&rng);
    for (int i = 0; cfg->noise_learned && i < cfg->n_experts * cfg->d_model; i++)
        R->Wn[i] = (float)(0.5 * rng_normal(&rng));
}

/* Entry i of the checked inputs: W, then W_noise (noise_learned), then x. */
static double *entry(Ref *R, Layer *L, int i, float *an, const char **what, int *at) {
    const int EC = R->cfg.n_experts * R->cfg.d_model, WN = R->cfg.noise_learned ? EC : 0;
    if (i < EC) return *an = L->grad[i], *what = "dW", *at = i, &R->W[i];
    if (i < EC + WN) return *an = L->grad[i], *what = "dW_noise", *at = i - EC, &R->Wn[i - EC];
    *an = L->dx[i - EC - WN], *what = "dx", *at = i - EC - WN;
    return &R->x[i - EC - WN];
}

/* Analytic dW, dW_noise, dx against central differences of the reference; the loss values. */
static void check_grad(const char *name, const MoeConfig *cfg, int N, int with_r, uint64_t seed) {
    Ref R;
    ref_init(&R, cfg, N, with_r, seed);
    Layer *L = calloc(1, sizeof *L);
    layer_run(L, &R, seed + 1);
    uint64_t sig;
    ref_loss(&R, &sig);
    if (cfg->aux_imp_coef > 0) CHECK_NEAR(L->a.aux_imp, R.imp, 1e-5 * (1 + R.imp));
    if (cfg->aux_load_coef > 0) CHECK_NEAR(L->a.aux_load, R.load, 1e-5 * (1 + R.load));
    int tested = 0, bad = 0;
    const int E = cfg->n_experts, C = cfg->d_model;
    const int total = E * C * (1 + (cfg->noise_learned != 0)) + N * C;
    for (int i = 0; i < total; i++) {
        float an;
        const char *what;
        int at;
        double *v = entry(&R, L, i, &an, &what, &at);
        int stable;
        double fd = fd_central(ref_loss, &R, v, 1e-5, sig, &stable);
        if (!stable) continue;
        tested++;
        if (fabs(an - fd) > 3e-4 + 2e-3 * fabs(fd) && bad++ < 3)
            fprintf(stderr, "    %s: %s[%d] analytic %.7g fd %.7g\n", name, what, at, an, fd);
    }
    CHECK_MSG(!bad, "%s: %d of %d gradient entries differ from central differences", name, bad,
              tested);
    CHECK_MSG(tested > total / 2, "%s: only %d entries had a stable choice", name, tested);
    moe_acts_free(&L->a);
    free(L);
}

static MoeConfig gate(int C, int E, int k) {
    return (MoeConfig){.d_model = C,
                       .n_experts = E,
                       .top_k = k,
                       .router = ROUTER_LEARNED,
                       .score = SCORE_SOFTMAX_TOPK,
                       .renorm = 1,
                       .level = ROUTE_TOKEN,
                       .weight_scale = 1,
                       .init_std = 0.5f};
}

TEST(moe_cv_squared_hand_values) {
    double v[2] = {1, 3}, dv[2], same[3] = {2, 2, 2};
    CHECK_NEAR(moe_cv_squared(v, 2, dv), 0.25, 1e-9); /* var 1 / mean² 4 */
    CHECK_NEAR(dv[0], -0.375, 1e-9); /* 2(v−m)/(n·m²) − var·2m/(n·m⁴) = −0.25 − 0.125 */
    CHECK_NEAR(dv[1], 0.125, 1e-9);
    CHECK_NEAR(moe_cv_squared(same, 3, NULL), 0, 1e-12);
}

/* Rows x = e0, e1, e0 and W = ln3·I: each row picks (k = 1) the expert of its axis with softmax
 * weight 3/4, so Imp = (1.5, 0.75): mean 1.125, variance 0.140625, CV² = 1/9. */
TEST(moe_importance_loss_hand_value) {
    MoeConfig cfg = gate(2, 2, 1);
    cfg.renorm = 0, cfg.aux_imp_coef = 1;
    float base[4], x[6] = {1, 0, 0, 1, 1, 0};
    MoeParams p;
    moe_point_params(&p, base, &cfg);
    const float a = logf(3.0f);
    p.router_w[0] = a, p.router_w[1] = 0, p.router_w[2] = 0, p.router_w[3] = a;
    MoeActs acts;
    moe_acts_alloc(&acts, &cfg, 3, 1);
    moe_route_forward(&acts, &p, &cfg, NULL, x, NULL, NULL, 3, 0, NULL);
    CHECK_NEAR(acts.topk_w[0], 0.75, 1e-6);
    CHECK_NEAR(acts.aux_imp, 1.0 / 9.0, 1e-6);
    moe_acts_free(&acts);
}

/* One row, logits (1, 0), k = 1, sd 1, no noise drawn (evaluation): P_0 = Φ(1 − 0), P_1 = Φ(0 − 1)
 * = 1 − Φ(1); with two experts CV² = 4(Φ(1) − ½)² = 0.466065 (Φ(1) = 0.8413447461). */
TEST(moe_load_loss_hand_value) {
    MoeConfig cfg = gate(2, 2, 1);
    cfg.noise_std = 1, cfg.aux_load_coef = 1;
    float base[4] = {1, 0, 0, 0}, x[2] = {1, 0};
    MoeParams p;
    moe_point_params(&p, base, &cfg);
    double d = 0.8413447461 - 0.5;
    for (int infer = 0; infer < 2; infer++) { /* forward-only buffers too (an LM's evaluation) */
        MoeActs acts;
        if (infer)
            moe_acts_alloc_infer(&acts, &cfg, 1, 1, 0);
        else
            moe_acts_alloc(&acts, &cfg, 1, 1);
        moe_route_forward(&acts, &p, &cfg, NULL, x, NULL, NULL, 1, 0, NULL);
        CHECK_NEAR(acts.aux_load, 4 * d * d, 1e-6);
        moe_acts_free(&acts);
    }
}

TEST(moe_importance_and_load_gradients_match_central_differences) {
    MoeConfig cfg = gate(MAXC, 4, 2);
    cfg.noise_std = 0.7f, cfg.aux_imp_coef = 1;
    check_grad("importance", &cfg, 12, 0, 5);
    cfg.aux_imp_coef = 0, cfg.aux_load_coef = 1;
    check_grad("load", &cfg, 12, 0, 6);
    cfg.aux_imp_coef = 0.5f, cfg.renorm = 0, cfg.top_k = 1;
    check_grad("importance+load, k=1, raw weights, with r", &cfg, 12, 1, 7);
    cfg = gate(MAXC, MAXE, 3);
    cfg.noise_std = 1.3f, cfg.aux_imp_coef = 0.3f, cfg.aux_load_coef = 2;
    check_grad("importance+load, E=6, k=3, with r", &cfg, 16, 1, 8);
    cfg.noise_learned = 1; /* Shazeer's sd = softplus(W_noise·x): the weights and P both see it */
    check_grad("learned noise, importance+load, E=6, k=3, with r", &cfg, 16, 1, 11);
    cfg.aux_imp_coef = cfg.aux_load_coef = 0, cfg.top_k = 2;
    check_grad("learned noise alone, k=2, with r", &cfg, 12, 1, 12);
}

TEST(moe_expert_choice_gradients_match_central_differences) {
    MoeConfig cfg = gate(MAXC, 4, 2);
    cfg.choice = CHOICE_EXPERT;
    check_grad("expert choice", &cfg, 12, 1, 9);
    cfg.renorm = 0, cfg.aux_imp_coef = 1, cfg.capacity_factor = 0.5f, cfg.noise_std = 0.5f;
    check_grad("expert choice, raw weights, importance, cf 0.5, noise", &cfg, 16, 1, 10);
}

/* Each expert takes exactly c = k·N/E rows, the c with its highest scores (a brute-force top-c);
 * each row's slots hold its experts best first, the rest −1 with weight 0; evaluation forwards
 * route by token choice with k slots. */
TEST(moe_expert_choice_fills_every_expert_with_its_top_c) {
    enum { N = 20, E = 4, K = 2 };
    MoeConfig cfg = gate(MAXC, E, K);
    cfg.choice = CHOICE_EXPERT;
    CHECK(moe_validate(&cfg) == 0);
    const int c = moe_expert_capacity(&cfg, N);
    CHECK(c == K * N / E);
    float base[E * MAXC], x[N * MAXC];
    MoeParams p;
    moe_point_params(&p, base, &cfg);
    Rng rng;
    rng_seed(&rng, 4);
    rng_fill_normal(&rng, base, E * MAXC, 1.0f);
    rng_fill_normal(&rng, x, N * MAXC, 1.0f);
    MoeActs a;
    moe_acts_alloc(&a, &cfg, N, 1);
    moe_route_forward(&a, &p, &cfg, NULL, x, NULL, NULL, N, 1, &rng);
    CHECK(a.expert_choice && a.k == E);
    int took[N][E];
    memset(took, 0, sizeof took);
    for (int n = 0; n < N; n++) {
        double wsum = 0;
        int filled = 1;
        for (int j = 0; j < E; j++) {
            int e = a.topk_idx[n * E + j];
            if (e < 0) {
                filled = 0;
                CHECK(a.topk_w[n * E + j] == 0);
                continue;
            }
            CHECK(filled); /* no filled slot after an empty one */
            took[n][e] = 1, wsum += a.topk_w[n * E + j];
            if (j > 0 && a.topk_idx[n * E + j - 1] >= 0)
                CHECK(a.probs[n * E + e] <= a.probs[n * E + a.topk_idx[n * E + j - 1]]);
        }
        if (wsum > 0) CHECK_NEAR(wsum, 1, 1e-5); /* renormalised over the row's experts */
    }
    for (int e = 0; e < E; e++) {
        int count = 0;
        float lo = 2, hi = -1; /* lowest score taken, highest left */
        for (int n = 0; n < N; n++) {
            float s = a.probs[n * E + e];
            if (took[n][e])
                count++, lo = s < lo ? s : lo;
            else
                hi = s > hi ? s : hi;
        }
        CHECK_MSG(count == c && a.counts[e] == c, "expert %d took %d rows, expected %d", e, count,
                  c);
        CHECK_MSG(lo >= hi, "expert %d: took a score %g below one it left (%g)", e, lo, hi);
    }
    CHECK_NEAR(a.aux_lb, 1, 1e-5); /* every expert equally full: the Switch loss's minimum */
    moe_route_forward(&a, &p, &cfg, NULL, x, NULL, NULL, N, 0, NULL);
    CHECK(!a.expert_choice && a.k == K);
    for (int n = 0; n < N; n++) CHECK(a.topk_idx[n * K] >= 0 && a.topk_idx[n * K + 1] >= 0);
    moe_acts_free(&a);
}

TEST(moe_balance_config_errors) {
    MoeConfig cfg = gate(4, 4, 2);
    cfg.aux_load_coef = 1; /* no noise: the estimator has no sd */
    CHECK(moe_validate(&cfg) != 0);
    cfg.noise_std = 1;
    CHECK(moe_validate(&cfg) == 0);
    cfg.choice = CHOICE_EXPERT; /* every expert is full: nothing to balance */
    CHECK(moe_validate(&cfg) != 0);
    cfg.aux_load_coef = 0, cfg.hidden = 8; /* expert FFNs: the LM layer takes token choice */
    CHECK(moe_validate(&cfg) != 0);
    cfg.hidden = 0, cfg.aux_imp_coef = -1;
    CHECK(moe_validate(&cfg) != 0);
}
