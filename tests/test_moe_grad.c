/* The MoE layer against the double reference (tests/moe_ref.c): forward values, routing, aux
 * losses, and analytic backward vs central finite differences for every parameter and the input,
 * over router kinds × routing levels × k × {plain, zero experts, shared experts} × score orders ×
 * expert activations. */
#include "core/mem.h"
#include "moe_ref.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    MoeConfig cfg;
    int B, T, N, k;
    float *pbase;
    MoeParams p;
    long np;
    double *prm, *x, *r, *out;
    int *sel;
    int32_t *tokens, *domains, *hash_first;
    MoeRefOpts o;
    float *jitter_u, *noise;
} Case;

static uint64_t sel_signature(const int *sel, int N, int k) {
    uint64_t h = 1469598103934665603ULL;
    for (int n = 0; n < N; n++) {
        uint64_t set = 0; /* order within a token does not matter */
        for (int j = 0; j < k; j++) set |= 1ULL << (sel[n * k + j] + 32);
        h = (h ^ set) * 1099511628211ULL;
    }
    return h;
}

static double case_loss(void *ctx, uint64_t *sig) {
    Case *c = ctx;
    double lb, z, gap;
    moe_ref_forward(c->out, c->sel, &lb, &z, &gap, c->prm, &c->p, c->pbase, &c->cfg, c->x, &c->o);
    double L = c->cfg.aux_lb_coef * lb + c->cfg.aux_z_coef * z;
    for (long i = 0; i < (long)c->N * c->cfg.d_model; i++) L += c->out[i] * c->r[i];
    if (sig) *sig = sel_signature(c->sel, c->N, c->k);
    return L;
}

static void case_free(Case *c) {
    ml_free(c->pbase);
    free(c->prm), free(c->x), free(c->r), free(c->out), free(c->sel);
    free(c->tokens), free(c->domains), free(c->hash_first);
}

/* Random parameters/inputs with no near-ties in the top-k (re-drawn until the margin is clear). */
static void case_init(Case *c, const MoeConfig *cfg, int B, int T, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    c->B = B, c->T = T, c->N = B * T, c->k = cfg->top_k;
    const int N = c->N, C = cfg->d_model;
    c->np = moe_num_params(cfg);
    c->pbase = ml_alloc_floats(c->np + 1);
    moe_point_params(&c->p, c->pbase, cfg);
    c->prm = calloc(c->np + 1, sizeof(double));
    c->x = calloc((size_t)N * C, sizeof(double));
    c->r = calloc((size_t)N * C, sizeof(double));
    c->out = calloc((size_t)N * C, sizeof(double));
    c->sel = calloc((size_t)N * (cfg->n_experts + cfg->n_zero), sizeof(int));
    c->tokens = calloc(N, sizeof(int32_t));
    c->domains = calloc(N, sizeof(int32_t));
    c->hash_first = calloc(N, sizeof(int32_t));
    c->o = (MoeRefOpts){.B = B,
                        .T = T,
                        .domains = c->domains,
                        .hash_first = c->hash_first,
                        .k = cfg->top_k,
                        .renorm = cfg->renorm};
    Rng rng;
    rng_seed(&rng, seed);
    for (int attempt = 0; attempt < 50; attempt++) {
        rng_fill_normal(&rng, c->pbase, c->np, 0.5f);
        if (c->p.cos_log_scale) c->p.cos_log_scale[0] = 1.5f;
        for (long i = 0; i < c->np; i++) c->prm[i] = c->pbase[i];
        for (int n = 0; n < N; n++) {
            c->tokens[n] = (int32_t)rng_below(&rng, 50);
            c->domains[n] = (int32_t)rng_below(&rng, 6);
        }
        for (long i = 0; i < (long)N * C; i++) {
            c->x[i] = (float)rng_normal(&rng);
            c->r[i] = (float)rng_normal(&rng);
        }
        double lb, z, gap;
        moe_ref_forward(c->out, c->sel, &lb, &z, &gap, c->prm, &c->p, c->pbase, cfg, c->x, &c->o);
        if (gap > 0.05) break;
    }
}

/* Runs the layer, compares with the reference, and checks every gradient entry by FD. Returns
 * the number of mismatches (reported through CHECK_MSG with the case name). */
static int check_case(Case *c, const char *name, int train, uint64_t train_seed) {
    const MoeConfig *cfg = &c->cfg;
    const int N = c->N, C = cfg->d_model, k = c->k;
    MoeActs a;
    moe_acts_alloc(&a, cfg, N, c->T);
    MoeOverride ov = {.k = c->o.k != cfg->top_k ? c->o.k : 0, .renorm = -1,
                      .logit_bias = c->o.logit_bias};
    float *xf = ml_alloc_floats((size_t)N * C), *rf = ml_alloc_floats((size_t)N * C);
    float *out = ml_alloc_floats((size_t)N * C), *dinp = ml_alloc_floats((size_t)N * C);
    float *gbase = ml_alloc_floats(c->np + 1);
    for (long i = 0; i < (long)N * C; i++) xf[i] = (float)c->x[i], rf[i] = (float)c->r[i];
    MoeParams g;
    moe_point_params(&g, gbase, cfg);
    Rng rng;
    rng_seed(&rng, train_seed);
    moe_forward(out, &a, &c->p, cfg, &ov, xf, c->tokens, c->domains, c->B, c->T, train, &rng);
    for (int n = 0; n < N; n++) c->hash_first[n] = a.topk_idx[n * k];
    moe_backward(dinp, &g, rf, &a, &c->p, cfg, xf, c->B, c->T);
    double lb, z, gap;
    moe_ref_forward(c->out, c->sel, &lb, &z, &gap, c->prm, &c->p, c->pbase, cfg, c->x, &c->o);
    int bad = 0;
    for (long i = 0; i < (long)N * C; i++)
        if (fabs(out[i] - c->out[i]) > 1e-4 * (1 + fabs(c->out[i]))) bad++;
    CHECK_MSG(!bad, "%s: forward differs from the reference in %d entries", name, bad);
    CHECK_MSG(fabs(a.aux_lb - lb) < 1e-4 && fabs(a.aux_z - z) < 1e-4 * (1 + z),
              "%s: aux lb %g vs %g, z %g vs %g", name, a.aux_lb, lb, a.aux_z, z);
    int sel_bad = 0;
    for (long s = 0; s < (long)N * k; s++) {
        int e = c->sel[s] < 0 ? -1 - c->sel[s] : c->sel[s];
        if (a.topk_idx[s] != e) sel_bad++;
    }
    CHECK_MSG(!sel_bad, "%s: %d top-k slots differ from the reference", name, sel_bad);
    uint64_t sig = sel_signature(c->sel, N, k);
    ParamTensor pt[32];
    int nt = moe_param_tensors(pt, 0, "", &c->p, cfg);
    int gbad = 0, tested = 0;
    for (int t = 0; t < nt; t++) {
        long off = pt[t].p - c->pbase;
        for (long i = 0; i < pt[t].n; i++) {
            float an = gbase[off + i];
            if (pt[t].frozen) { /* frozen tensors (random router, balance bias) get no gradient */
                if (an != 0) gbad++;
                continue;
            }
            int stable;
            double fd = fd_central(case_loss, c, &c->prm[off + i], 1e-5, sig, &stable);
            if (!stable) continue;
            tested++;
            if (fabs(an - fd) > 3e-4 + 2e-3 * fabs(fd)) {
                if (gbad++ < 3)
                    fprintf(stderr, "    %s: d%s[%ld] analytic %.7g fd %.7g\n", name, pt[t].name, i,
                            an, fd);
            }
        }
    }
    for (long i = 0; i < (long)N * C; i++) {
        int stable;
        double fd = fd_central(case_loss, c, &c->x[i], 1e-5, sig, &stable);
        if (!stable) continue;
        tested++;
        if (fabs(dinp[i] - fd) > 3e-4 + 2e-3 * fabs(fd) && gbad++ < 3)
            fprintf(stderr, "    %s: dinp[%ld] analytic %.7g fd %.7g\n", name, i, dinp[i], fd);
    }
    CHECK_MSG(!gbad, "%s: %d gradient entries differ from finite differences", name, gbad);
    CHECK_MSG(tested > N * C / 2, "%s: only %d stable FD entries", name, tested);
    ml_free(xf), ml_free(rf), ml_free(out), ml_free(dinp), ml_free(gbase);
    moe_acts_free(&a);
    return bad + sel_bad + gbad;
}

static MoeConfig tiny_cfg(void) {
    MoeConfig cfg = {0};
    cfg.d_model = 4, cfg.n_experts = 3, cfg.hidden = 3, cfg.top_k = 1, cfg.cos_dim = 3;
    cfg.aux_lb_coef = 0.1f, cfg.aux_z_coef = 0.05f, cfg.init_std = 0.5f, cfg.seed = 7;
    cfg.weight_scale = 1.0f;
    return cfg;
}

static const char *router_name[] = {"learned", "random", "cosine", "hash", "domain", "dense"};
static const char *level_name[] = {"token", "seq-causal", "seq-mean"};

TEST(moe_grad_sweep_all_routers_levels_k_variants) {
    int cases = 0, failed = 0;
    for (int router = 0; router <= ROUTER_DENSE; router++)
        for (int level = 0; level < 3; level++)
            for (int k = 1; k <= 2; k++)
                for (int variant = 0; variant < 3; variant++) {
                    int scored = router <= ROUTER_COSINE;
                    if (router == ROUTER_DENSE && (k == 2 || variant == 1)) continue;
                    for (int score = 0; score < (scored ? 5 : 1); score++)
                        for (int act = 0; act < 2; act++) {
                            MoeConfig cfg = tiny_cfg();
                            cfg.router = router, cfg.level = level, cfg.top_k = k, cfg.act = act;
                            cfg.score = score < 2    ? SCORE_SOFTMAX_TOPK
                                        : score == 2 ? SCORE_TOPK_SOFTMAX
                                                     : SCORE_SIGMOID;
                            cfg.renorm = score == 1 || score == 4;
                            cfg.expert_bias = (cases & 1);
                            if (variant == 1) cfg.n_zero = 2;
                            if (variant == 2) {
                                cfg.n_shared = 1 + (cases & 1), cfg.shared_hidden = 2;
                                cfg.shared_gate = (cases >> 1) & 1;
                            }
                            if (router == ROUTER_DENSE) cfg.n_experts = 1;
                            char name[160];
                            snprintf(name, sizeof name, "%s/%s/k%d/%s/score%d/%s",
                                     router_name[router], level_name[level], k,
                                     variant == 0   ? "plain"
                                     : variant == 1 ? "zero"
                                                    : "shared",
                                     score, act ? "swiglu" : "gelu");
                            CHECK_MSG(moe_validate(&cfg) == 0, "%s", name);
                            Case c;
                            case_init(&c, &cfg, 2, 3, 1000 + cases);
                            failed += check_case(&c, name, 0, 0) != 0;
                            case_free(&c);
                            cases++;
                        }
                }
    CHECK_MSG(failed == 0, "%d of %d configurations failed", failed, cases);
    CHECK(cases > 300);
}

/* The train-time draws, replicated from the documented order: jitter (N·C uniforms, row-major),
 * then noise (N·EZ normals). */
static void replicate_draws(Case *c, uint64_t seed) {
    const int N = c->N, C = c->cfg.d_model, EZ = c->cfg.n_experts + c->cfg.n_zero;
    Rng rng;
    rng_seed(&rng, seed);
    float j = c->cfg.jitter;
    c->jitter_u = ml_alloc_floats((size_t)N * C);
    c->noise = ml_alloc_floats((size_t)N * EZ);
    for (long i = 0; i < (long)N * C; i++)
        c->jitter_u[i] = (1.0f - j) + 2.0f * j * rng_uniform(&rng);
    for (long i = 0; i < (long)N * EZ; i++) c->noise[i] = c->cfg.noise_std * rng_normal(&rng);
    c->o.jitter_u = c->jitter_u, c->o.noise = c->noise;
}

TEST(moe_grad_noise_jitter_capacity_scale_interventions) {
    float bias[5] = {0.3f, -0.2f, 0, 0.1f, -INFINITY};
    for (int variant = 0; variant < 6; variant++) {
        MoeConfig cfg = tiny_cfg();
        cfg.router = variant % 3 == 2 ? ROUTER_COSINE : ROUTER_LEARNED;
        cfg.level = variant % 3;
        cfg.top_k = 2, cfg.n_zero = 2, cfg.renorm = variant & 1, cfg.max_k = 3;
        cfg.noise_std = 0.3f, cfg.jitter = 0.1f, cfg.weight_scale = 2.5f;
        cfg.capacity_factor = variant < 3 ? 0.6f : 0;
        cfg.act = variant & 1;
        Case c;
        case_init(&c, &cfg, 2, 4, 77 + variant);
        replicate_draws(&c, 5 + variant);
        c.o.logit_bias = variant >= 3 ? bias : NULL;
        if (variant >= 4) c.o.k = c.k = 3; /* k_override above top_k */
        double lb, z, gap;
        moe_ref_forward(c.out, c.sel, &lb, &z, &gap, c.prm, &c.p, c.pbase, &cfg, c.x, &c.o);
        CHECK_MSG(gap > 1e-3, "variant %d: near tie %g", variant, gap);
        char name[64];
        snprintf(name, sizeof name, "special variant %d", variant);
        check_case(&c, name, 1, 5 + variant);
        ml_free(c.jitter_u), ml_free(c.noise);
        case_free(&c);
    }
}
