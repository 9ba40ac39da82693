/* The vision gate's content routing (docs/vision.md, "Gate collapse"): the feature standardisation
 * against a double-precision finite-difference reference, the gate summary on constructed routings
 * with known answers, the collapse warning on a forced collapse and a balanced gate, and a
 * constructed two-class image set whose classes the trained gate must separate. */
#include "analysis/vision/gate_summary.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include "gradcheck.h"
#include "model/vision.h"
#include "model/vision_train.h"
#include "nn/featstd.h"
#include "nn/gate_infomax.h"
#include "test.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/* ---- featstd: double reference of Σ y·R over the groups of a shape ---- */

typedef struct {
    FeatStdShape s;
    const double *R;
    long n;
} FsCase;

static double fs_ref_loss(const double *x, void *ctx) {
    const FsCase *c = ctx;
    const FeatStdShape *s = &c->s;
    double L = 0;
    for (int g = 0; g < s->groups; g++) {
        double mu = 0, var = 0;
        for (int i = 0; i < s->len; i++) mu += x[g * s->gstride + i * s->estride];
        mu /= s->len;
        for (int i = 0; i < s->len; i++) {
            double d = x[g * s->gstride + i * s->estride] - mu;
            var += d * d;
        }
        double r = 1 / sqrt(var / s->len + 1e-5);
        for (int i = 0; i < s->len; i++) {
            long q = g * s->gstride + i * s->estride;
            L += (x[q] - mu) * r * c->R[q];
        }
    }
    return L;
}

static void check_featstd(FeatStdShape s, int N, int C, Rng *r) {
    long n = (long)N * C;
    float *x = ml_alloc_floats(n), *y = ml_alloc_floats(n), *R = ml_alloc_floats(n);
    float *dx = ml_alloc_floats(n), mu[16], rs[16];
    double *xd = ml_alloc(8 * n), *Rd = ml_alloc(8 * n), *g = ml_alloc(8 * n);
    gc_randn(r, x, n, 1.0f);
    for (long i = 0; i < n; i++) x[i] += 3.0f; /* a large common component, as the gate sees */
    gc_randn(r, R, n, 1.0f);
    gc_to_double(xd, x, n), gc_to_double(Rd, R, n);
    FsCase c = {s, Rd, n};
    featstd_forward(y, mu, rs, x, &s, 1e-5f);
    double Ly = 0;
    for (long i = 0; i < n; i++) Ly += (double)y[i] * R[i];
    CHECK_NEAR(Ly, fs_ref_loss(xd, &c), 1e-4);
    featstd_backward(dx, R, y, rs, &s);
    gc_numeric_grad(fs_ref_loss, xd, n, GC_EPS, g, &c);
    gc_compare("featstd dx", dx, g, n, GC_BWD_RTOL, GC_BWD_ATOL);
    ml_free(x), ml_free(y), ml_free(R), ml_free(dx), ml_free(xd), ml_free(Rd), ml_free(g);
}

TEST(featstd_matches_reference_and_finite_differences) {
    Rng r;
    rng_seed(&r, 11);
    check_featstd(featstd_batch_shape(7, 5), 7, 5, &r); /* per feature across the batch */
    check_featstd(featstd_row_shape(6, 9), 6, 9, &r);   /* per image across features */
    /* eval mode: running statistics from one batch reproduce that batch's standardisation up to
     * the unbiased-variance factor */
    float x[12], y[12], ya[12], mu[3], rs[3], rm[3] = {0}, rv[3] = {0};
    for (int i = 0; i < 12; i++) x[i] = (float)rng_normal(&r) + 2;
    FeatStdShape s = featstd_batch_shape(4, 3);
    featstd_forward(y, mu, rs, x, &s, 1e-5f);
    featstd_update_running(rm, rv, mu, rs, 3, 4, 1.0f, 1e-5f);
    featstd_apply(ya, x, rm, rv, 4, 3, 1e-5f);
    for (int i = 0; i < 12; i++) CHECK_NEAR(ya[i] * sqrt(4.0 / 3.0), y[i], 1e-4);
}

/* ---- gate information loss: double reference of L(z) through the softmax ---- */

typedef struct {
    int N, E;
} ImCase;

static void ref_softmax_rows(double *p, const double *z, int N, int E) {
    for (int i = 0; i < N; i++) {
        double mx = -1e300, s = 0;
        for (int e = 0; e < E; e++) mx = fmax(mx, z[i * E + e]);
        for (int e = 0; e < E; e++) s += p[i * E + e] = exp(z[i * E + e] - mx);
        for (int e = 0; e < E; e++) p[i * E + e] /= s;
    }
}

static double im_ref_loss(const double *z, void *ctx) {
    const ImCase *c = ctx;
    double p[8 * 5], mean[5] = {0}, L = 0;
    ref_softmax_rows(p, z, c->N, c->E);
    for (int i = 0; i < c->N; i++)
        for (int e = 0; e < c->E; e++) {
            mean[e] += p[i * c->E + e] / c->N;
            L -= p[i * c->E + e] * log(p[i * c->E + e]) / c->N;
        }
    for (int e = 0; e < c->E; e++) L += mean[e] * log(mean[e]);
    return L;
}

/* Random logits z (and zd in double) and their softmax rows p in float, as the router gives them */
static void random_gate_rows(uint64_t seed, float *z, float *p, double *zd, int N, int E) {
    Rng r;
    rng_seed(&r, seed);
    gc_randn(&r, z, N * E, 1.5f);
    for (int i = 0; i < N; i++) {
        float mx = z[i * E], s = 0;
        for (int e = 1; e < E; e++) mx = fmaxf(mx, z[i * E + e]);
        for (int e = 0; e < E; e++) s += p[i * E + e] = expf(z[i * E + e] - mx);
        for (int e = 0; e < E; e++) p[i * E + e] /= s;
    }
    gc_to_double(zd, z, N * E);
}

/* A gate loss's forward against its double reference, its backward against central differences
 * of the reference, on 8 random rows over 5 experts (4 pairs of views). */
static void check_gate_loss(const char *name, double (*fwd)(const float *, int, int),
                            void (*bwd)(float *, const float *, int, int, float),
                            double (*ref)(const double *, void *), uint64_t seed) {
    enum { N = 8, E = 5 };
    float z[N * E], p[N * E], dz[N * E] = {0};
    double zd[N * E], g[N * E];
    random_gate_rows(seed, z, p, zd, N, E);
    ImCase c = {N, E};
    CHECK_NEAR(fwd(p, N, E), ref(zd, &c), 1e-5);
    bwd(dz, p, N, E, 1.0f);
    gc_numeric_grad(ref, zd, N * E, GC_EPS, g, &c);
    gc_compare(name, dz, g, N * E, GC_BWD_RTOL, GC_BWD_ATOL);
}

TEST(gate_infomax_matches_reference_and_finite_differences) {
    check_gate_loss("gate_infomax dz", gate_infomax_forward, gate_infomax_backward, im_ref_loss,
                    21);
    /* bounds: one-hot rows spread evenly give −ln E; identical rows give 0 */
    float onehot[4 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, same[2 * 4];
    for (int i = 0; i < 8; i++) same[i] = (i % 4 + 1) / 10.0f;
    CHECK_NEAR(gate_infomax_forward(onehot, 4, 4), -log(4.0), 1e-9);
    CHECK_NEAR(gate_infomax_forward(same, 2, 4), 0, 1e-7);
}

/* ---- pair information loss: double reference of −I(view 1; view 2) through the softmax ---- */

static double pair_ref_loss(const double *z, void *ctx) {
    const ImCase *c = ctx;
    int N = c->N, E = c->E, B = N / 2;
    double p[8 * 5], P[5 * 5] = {0}, m[5] = {0}, L = 0;
    ref_softmax_rows(p, z, N, E);
    for (int k = 0; k < B; k++)
        for (int a = 0; a < E; a++)
            for (int b = 0; b < E; b++)
                P[a * E + b] += (p[2 * k * E + a] * p[(2 * k + 1) * E + b] +
                                 p[(2 * k + 1) * E + a] * p[2 * k * E + b]) /
                                (2.0 * B);
    for (int a = 0; a < E; a++)
        for (int b = 0; b < E; b++) m[a] += P[a * E + b];
    for (int a = 0; a < E; a++)
        for (int b = 0; b < E; b++) L -= P[a * E + b] * log(P[a * E + b] / (m[a] * m[b]));
    return L;
}

TEST(gate_pair_mi_matches_reference_and_finite_differences) {
    check_gate_loss("gate_pair_mi dz", gate_pair_mi_forward, gate_pair_mi_backward, pair_ref_loss,
                    23);
    /* bounds: both views of each pair on one expert, pairs spread evenly: −ln E; every view
     * on its own expert (pairs disagree) with the same spread: I = ln 4 − ln 2 over 4 experts */
    float agree[8 * 4] = {0}, split[8 * 4] = {0};
    for (int k = 0; k < 4; k++) agree[2 * k * 4 + k] = agree[(2 * k + 1) * 4 + k] = 1;
    for (int k = 0; k < 4; k++) /* pair k: experts k and k+1 mod 4 */
        split[2 * k * 4 + k] = split[(2 * k + 1) * 4 + (k + 1) % 4] = 1;
    CHECK_NEAR(gate_pair_mi_forward(agree, 8, 4), -log(4.0), 1e-9);
    CHECK_NEAR(gate_pair_mi_forward(split, 8, 4), -(log(4.0) - log(2.0)), 1e-9);
}

/* ---- label information loss: double reference of I(expert; label) through the softmax ---- */

static const int label_of_row[8] = {0, 1, 2, 0, 1, 0, -1, 2}; /* one row left out (label −1) */

static double label_ref_loss(const double *z, void *ctx) {
    const ImCase *c = ctx;
    int N = c->N, E = c->E, K = 3, n = 0;
    double p[8 * 5], mean[4][5] = {{0}}, cnt[4] = {0}, L = 0;
    ref_softmax_rows(p, z, N, E);
    for (int i = 0; i < N; i++) {
        int l = label_of_row[i];
        if (l < 0) continue;
        n++, cnt[l]++, cnt[K]++;
        for (int e = 0; e < E; e++) mean[l][e] += p[i * E + e], mean[K][e] += p[i * E + e];
    }
    for (int l = 0; l <= K; l++) {
        double h = 0;
        for (int e = 0; e < E; e++) h -= mean[l][e] / cnt[l] * log(mean[l][e] / cnt[l]);
        L += l == K ? h : -cnt[l] / n * h;
    }
    return L;
}

static double label_fwd(const float *p, int N, int E) {
    return gate_label_mi_forward(p, label_of_row, N, E, 3);
}
static void label_bwd(float *dz, const float *p, int N, int E, float coef) {
    gate_label_mi_backward(dz, p, label_of_row, N, E, 3, coef);
}

TEST(gate_label_mi_matches_reference_and_finite_differences) {
    check_gate_loss("gate_label_mi dz", label_fwd, label_bwd, label_ref_loss, 25);
    /* bounds: each of 4 equal labels on its own expert: ln 4; every label with the same mean
     * gate (each label's rows split alike over two experts): 0 */
    float own[8 * 4] = {0}, alike[8 * 4] = {0};
    int lab[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    for (int i = 0; i < 8; i++) own[i * 4 + lab[i]] = 1, alike[i * 4 + i % 2] = 1;
    CHECK_NEAR(gate_label_mi_forward(own, lab, 8, 4, 4), log(4.0), 1e-9);
    CHECK_NEAR(gate_label_mi_forward(alike, lab, 8, 4, 4), 0, 1e-9);
}

/* ---- gate summary on constructed routings ---- */

TEST(gate_summary_usage_entropy_and_mi_on_constructed_routings) {
    enum { N = 400, E = 4, K = 2 };
    float probs[N * E];
    int32_t chosen[N * K], lab[N];
    /* class c → experts (2c, 2c+1) with confident probabilities: usage 0.5 each, MI = 1 bit */
    for (int i = 0; i < N; i++) {
        lab[i] = i % 2;
        for (int e = 0; e < E; e++) probs[i * E + e] = e / 2 == lab[i] ? 0.49f : 0.01f;
        chosen[i * K] = 2 * lab[i] + (i / 2) % 2, chosen[i * K + 1] = 2 * lab[i] + 1 - (i / 2) % 2;
    }
    GateSummary s;
    gate_summary(probs, chosen, N, E, K, lab, 2, 200, 3, &s);
    for (int e = 0; e < E; e++) CHECK_NEAR(s.usage[e], 0.5, 1e-9);
    double h = -2 * 0.49 * log(0.49) - 2 * 0.01 * log(0.01);
    CHECK_NEAR(s.entropy, h, 1e-5);
    CHECK_NEAR(s.mi_bits, 1.0, 1e-9);
    CHECK(s.mi_null_bits < 0.02 && s.mi_p < 0.01);
    CHECK(!s.collapsed);
    /* every image the same experts and a uniform gate: collapsed, MI 0, p 1 */
    for (int i = 0; i < N; i++) {
        for (int e = 0; e < E; e++) probs[i * E + e] = 0.25f;
        chosen[i * K] = 2, chosen[i * K + 1] = 0;
    }
    gate_summary(probs, chosen, N, E, K, lab, 2, 200, 3, &s);
    CHECK(s.collapsed && s.usage_max == 1.0 && s.usage_min == 0.0);
    CHECK_NEAR(s.mi_bits, 0, 1e-12);
    CHECK_NEAR(s.mi_p, 1, 1e-12);
    CHECK_NEAR(s.entropy_frac, 1, 1e-6);
    /* between-image share: identical rows 0, centred rows 1 */
    float rows[6] = {1, 2, 1, 2, 1, 2}, cen[4] = {1, -1, -1, 1};
    CHECK_NEAR(gate_between_share(rows, 3, 2), 0, 1e-12);
    CHECK_NEAR(gate_between_share(cen, 2, 2), 1, 1e-12);
}

/* Per label, the largest share one expert takes as top-1: label 0 all on expert 2, label 1 three
 * of four on expert 0, label 2 absent. */
TEST(gate_top1_max_share_on_a_constructed_routing) {
    enum { N = 8, K = 2 };
    const int32_t lab[N] = {0, 0, 0, 0, 1, 1, 1, 1};
    const int32_t chosen[N * K] = {2, 0, 2, 1, 2, 3, 2, 0, 0, 1, 0, 2, 3, 0, 0, 3};
    double share[3];
    gate_top1_max_share(chosen, K, lab, N, 4, 3, share);
    CHECK_NEAR(share[0], 1.0, 1e-12);
    CHECK_NEAR(share[1], 0.75, 1e-12);
    CHECK(share[2] == -1);
}

/* ---- a constructed image set: two classes of one colour each, with texture noise ---- */

static void two_colour_set(ImageSet *set, int n, int S, uint64_t seed) {
    static int ncls[1] = {2};
    static char *names0[2] = {"reddish", "bluish"}, **names[1] = {names0}, *lvl[1] = {"class"};
    memset(set, 0, sizeof *set);
    set->n = n, set->channels = 3, set->size = S, set->n_levels = 1;
    set->n_classes = ncls, set->class_names = names, set->level_names = lvl;
    set->pixels = ml_alloc_floats((long)n * 3 * S * S);
    set->labels = ml_alloc(sizeof(int32_t) * n), set->split = ml_alloc(sizeof(int32_t) * n);
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int c = i % 2;
        set->labels[i] = c, set->split[i] = i < n * 3 / 4 ? IMAGESET_TRAIN : IMAGESET_HELDOUT;
        for (int ch = 0; ch < 3; ch++)
            for (int p = 0; p < S * S; p++) {
                float base = ch == (c ? 2 : 0) ? 0.8f : 0.2f, v = base + 0.15f * rng_normal(&r);
                set->pixels[((long)i * 3 + ch) * S * S + p] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
    }
}

static void free_set(ImageSet *set) {
    ml_free(set->pixels), ml_free(set->labels), ml_free(set->split);
}

static VisionConfig gate_cfg(void) {
    VisionConfig c;
    vision_preset(&c, "tiny");
    c.in_ch = 3, c.img = 8, c.stem_ch = 8, c.n_experts = 2, c.top_k = 1, c.expert_ch = 8;
    c.expert_blocks = 1, c.readout = 8, c.proj_hidden = 16, c.proj_dim = 8, c.groups = 2;
    c.batch = 16, c.steps = 60, c.warmup = 5, c.eval_every = 0, c.probe_images = 0, c.seed = 3;
    c.aug_jitter = 0, c.aug_grey = 0; /* colour is the content here */
    return c;
}

static const char *run_dir(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", test_tmpdir(), name);
    ml_mkdir_p(buf);
    return buf;
}

/* Two classes, two experts: the share of images whose top-1 expert matches their class under the
 * better of the two pairings (0.5 = the gate ignores the class, 1 = separated). */
static double two_class_separation(const VisionEval *ev) {
    const double *u = ev->usage; /* [class, expert], rows sum to 1 with top_k 1 */
    double a = (u[0] + u[3]) / 2, b = (u[1] + u[2]) / 2;
    return a > b ? a : b;
}

TEST(vision_gate_separates_two_colour_classes_after_short_training) {
    ImageSet set;
    two_colour_set(&set, 256, 8, 7);
    VisionConfig c = gate_cfg();
    VisionModel m;
    CHECK(vision_init(&m, &c) == 0);
    VisionTrainOpts o = {.out_dir = run_dir("two_colour"), .quiet = 1};
    CHECK(vision_train(&m, &set, &o) == 0);
    VisionEval ev;
    CHECK(vision_evaluate(&m, &set, &ev) == 0);
    double sep = two_class_separation(&ev);
    CHECK_MSG(sep >= 0.95, "top-1 separation %.3f (usage %.2f %.2f / %.2f %.2f)", sep, ev.usage[0],
              ev.usage[1], ev.usage[2], ev.usage[3]);
    CHECK(ev.gate.mi_bits > 0.5);
    vision_eval_free(&ev);
    vision_free(&m);
    free_set(&set);
}

static int eval_json_collapse(const char *dir) {
    char *path = ml_path_join(dir, "eval.json"), *buf = NULL;
    size_t len;
    int flag = -1;
    if (ml_read_file(path, &buf, &len) == 0) {
        cJSON *o = cJSON_Parse(buf);
        const cJSON *f = cJSON_GetObjectItem(o, "gate_collapse");
        flag = cJSON_IsBool(f) ? cJSON_IsTrue(f) : -1;
        cJSON_Delete(o);
    }
    ml_free(path), ml_free(buf);
    return flag;
}

TEST(vision_collapse_warning_fires_on_forced_collapse_only) {
    ImageSet set;
    two_colour_set(&set, 128, 8, 9);
    VisionConfig c = gate_cfg();
    c.n_experts = 4, c.top_k = 2, c.steps = 4;
    /* forced collapse: a frozen gate (no learning rate) with a large bias on experts 0 and 1 */
    VisionModel m;
    CHECK(vision_init(&m, &c) == 0);
    m.cfg.gate_lr_mult = 0;
    float bias[4] = {20, 20, 0, 0};
    MoeOverride ov = MOE_OVERRIDE_NONE;
    ov.logit_bias = bias;
    m.gate_override = &ov;
    const char *dir = run_dir("collapsed");
    VisionTrainOpts o = {.out_dir = dir, .quiet = 1};
    CHECK(vision_train(&m, &set, &o) == 0);
    CHECK(eval_json_collapse(dir) == 1);
    VisionEval ev;
    CHECK(vision_evaluate(&m, &set, &ev) == 0);
    CHECK(ev.gate.collapsed && ev.gate.usage[0] == 1.0 && ev.gate.usage[1] == 1.0);
    char *path = ml_path_join(dir, "warn.txt");
    FILE *f = fopen(path, "w");
    CHECK(vision_warn_collapse(&ev, 4, f) == 1);
    fclose(f);
    char *text = NULL;
    size_t len;
    CHECK(ml_read_file(path, &text, &len) == 0 && strstr(text, "gate collapse") &&
          strchr(text, '\n') == text + len - 1); /* one line */
    ml_free(text), ml_free(path);
    vision_eval_free(&ev);
    vision_free(&m);
    /* balanced: the same model trained without the bias routes the two colours apart */
    CHECK(vision_init(&m, &c) == 0);
    m.cfg.steps = 60;
    dir = run_dir("balanced");
    o.out_dir = dir;
    CHECK(vision_train(&m, &set, &o) == 0);
    CHECK(eval_json_collapse(dir) == 0);
    CHECK(vision_evaluate(&m, &set, &ev) == 0);
    CHECK(!ev.gate.collapsed);
    CHECK(vision_warn_collapse(&ev, 60, NULL) == 0);
    vision_eval_free(&ev);
    vision_free(&m);
    free_set(&set);
}

TEST(vision_gate_keys_parse_validate_and_round_trip) {
    VisionConfig c, back;
    vision_preset(&c, "tiny");
    CHECK(c.gate_norm == GATE_NORM_BATCH && c.gate_source == GATE_SRC_BOTH && c.gate_adapt == 1);
    CHECK(vision_config_set(&c, "gate_norm=image") == 0 && c.gate_norm == GATE_NORM_IMAGE);
    CHECK(vision_config_set(&c, "gate_source=conv") == 0 && c.gate_source == GATE_SRC_CONV);
    CHECK(vision_config_set(&c, "gate_infomax=0.5") == 0 && c.gate_infomax == 0.5f);
    CHECK(vision_config_set(&c, "gate_norm=layer") != 0);
    CHECK(vision_config_set(&c, "gate_source=deep") != 0);
    char *json = vision_config_to_json(&c);
    CHECK(vision_config_from_json(&back, json) == 0);
    CHECK(back.gate_norm == GATE_NORM_IMAGE && back.gate_source == GATE_SRC_CONV &&
          back.gate_infomax == 0.5f && back.gate_lr_mult == c.gate_lr_mult);
    ml_free(json);
    /* a checkpoint config from before the gate keys: the gate it was trained with */
    CHECK(vision_config_from_json(&back, "{\"model\":\"vision\",\"stem_ch\":16}") == 0);
    CHECK(back.gate_norm == GATE_NORM_NONE && back.gate_source == GATE_SRC_RELU &&
          back.gate_infomax == 0 && back.gate_adapt == 0);
    c.router = ROUTER_COSINE, c.gate_infomax = 1;
    CHECK(vision_config_validate(&c) != 0); /* the information loss needs z = W·x */
    c.gate_infomax = 0, c.gate_pair_mi = 1;
    CHECK(vision_config_validate(&c) != 0); /* and so does the pair loss */
    c.router = ROUTER_LEARNED;
    CHECK(vision_config_validate(&c) == 0);
    /* the gate's own blocks feed the relu part, so they need it; groups must divide their width */
    c.gate_pair_mi = 0;
    CHECK(vision_config_set(&c, "gate_blocks=2") == 0);
    CHECK(vision_config_validate(&c) != 0); /* gate_source is conv */
    c.gate_source = GATE_SRC_BOTH;
    CHECK(vision_config_validate(&c) == 0);
    CHECK(vision_gate_dim(&c) == c.gate_ch + c.stem_ch);
    c.gate_ch = c.groups * 3 + 1;
    CHECK(vision_config_validate(&c) != 0);
    c.gate_ch = 32, c.img = 4, c.gate_blocks = 3; /* sides 2, 1, then nothing to pool */
    CHECK(vision_config_validate(&c) != 0);
}

TEST(vision_balance_weight_warms_up_linearly) {
    VisionConfig c;
    vision_preset(&c, "tiny");
    CHECK_NEAR(vision_aux_lb(&c, 0), c.aux_lb_coef, 0); /* no warm-up by default */
    c.aux_lb_warmup = 100, c.aux_lb_start = 1.0f, c.aux_lb_coef = 0.01f;
    CHECK_NEAR(vision_aux_lb(&c, 0), 1.0, 1e-7);
    CHECK_NEAR(vision_aux_lb(&c, 50), 0.505, 1e-6);
    CHECK_NEAR(vision_aux_lb(&c, 100), 0.01, 1e-7);
    CHECK_NEAR(vision_aux_lb(&c, 5000), 0.01, 1e-7);
}
