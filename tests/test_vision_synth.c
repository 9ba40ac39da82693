/* Synthesised most exciting inputs: the single-image input gradient of a vision model against
 * finite differences and against the model's own forward, and the prior-regularised ascent on a
 * linear objective whose optimum is known. */
#include "analysis/vision/synth.h"
#include "core/mem.h"
#include "core/rng.h"
#include "model/vinput.h"
#include "model/vision.h"
#include "test.h"
#include <math.h>
#include <string.h>

static VisionConfig synth_cfg(void) {
    VisionConfig c;
    vision_preset(&c, "tiny");
    c.in_ch = 3, c.img = 8, c.stem_ch = 4, c.n_experts = 3, c.top_k = 2, c.expert_ch = 4;
    c.expert_blocks = 2, c.readout = 5, c.proj_hidden = 6, c.proj_dim = 4, c.groups = 2;
    c.batch = 3, c.seed = 5;
    return c;
}

static float *noise_image(int n, uint64_t seed) {
    float *x = ml_alloc_floats(n);
    Rng r;
    rng_seed(&r, seed);
    rng_fill_uniform(&r, x, n, 0, 1);
    return x;
}

/* ∂f/∂x along random directions against central differences (float forward, eps 1e-3), for both
 * objectives of every expert; gate_blocks > 0: the gate's logits go through its own blocks. */
static void check_input_gradients(int gate_blocks) {
    VisionConfig c = synth_cfg();
    c.gate_blocks = gate_blocks, c.gate_ch = 4;
    VisionModel m;
    CHECK(vision_init(&m, &c) == 0);
    for (int i = 0; i < c.n_experts * vision_gate_dim(&c);
         i++) /* the init's tiny router: logits O(1) */
        m.p.gate.router_w[i] *= 100;
    VisionInputGrad *g = vinput_new(&m);
    CHECK(g != NULL);
    int n = c.in_ch * c.img * c.img;
    float *x = noise_image(n, 3), *dx = ml_alloc_floats(n), *dir = ml_alloc_floats(n);
    float *xp = ml_alloc_floats(n);
    Rng r;
    rng_seed(&r, 11);
    for (int obj = 0; obj < 2; obj++)
        for (int e = 0; e < c.n_experts; e++)
            for (int rep = 0; rep < 2; rep++) {
                vinput_value_grad(g, obj, e, x, dx);
                rng_fill_normal(&r, dir, n, 1.0f);
                double analytic = 0, eps = 1e-3;
                for (int i = 0; i < n; i++) analytic += (double)dx[i] * dir[i];
                for (int i = 0; i < n; i++) xp[i] = x[i] + (float)eps * dir[i];
                double fp = vinput_value_grad(g, obj, e, xp, NULL);
                for (int i = 0; i < n; i++) xp[i] = x[i] - (float)eps * dir[i];
                double fm = vinput_value_grad(g, obj, e, xp, NULL);
                double numeric = (fp - fm) / (2 * eps);
                CHECK_MSG(fabs(numeric) > 0.05, "objective %d expert %d: flat (%.3g)", obj, e,
                          numeric);
                CHECK_MSG(fabs(numeric - analytic) <= 2e-3 + 0.03 * fabs(numeric),
                          "objective %d expert %d: analytic %.6g, numeric %.6g", obj, e, analytic,
                          numeric);
            }
    ml_free(x), ml_free(dx), ml_free(dir), ml_free(xp);
    vinput_free(g);
    vision_free(&m);
}

TEST(vinput_gradient_matches_finite_differences) {
    check_input_gradients(0);
    check_input_gradients(2); /* the gate's own two blocks over the stem */
}

/* The single-image pass gives the model's own gate probabilities and expert readouts (with the
 * stem's pooled output or the gate's own blocks as the gate's input). */
static void check_agrees_with_model(int gate_blocks) {
    VisionConfig c = synth_cfg();
    c.gate_blocks = gate_blocks, c.gate_ch = 4;
    VisionModel m;
    CHECK(vision_init(&m, &c) == 0);
    int n = c.in_ch * c.img * c.img, E = c.n_experts;
    float *x = noise_image(2 * n, 4), probs[2 * 3], logits[3], ro[2 * 5];
    vision_embed(&m, x, 2, NULL, probs, NULL);
    VisionInputGrad *g = vinput_new(&m);
    for (int i = 0; i < 2; i++) {
        vinput_gate_logits(g, x + i * n, logits);
        double mx = logits[0], z = 0;
        for (int e = 1; e < E; e++) mx = logits[e] > mx ? logits[e] : mx;
        for (int e = 0; e < E; e++) z += exp(logits[e] - mx);
        for (int e = 0; e < E; e++)
            CHECK_MSG(fabs(exp(logits[e] - mx) / z - probs[i * E + e]) < 1e-5, "image %d e %d", i,
                      e);
    }
    for (int e = 0; e < E; e++) {
        vision_expert_readouts(&m, e, x, 2, ro);
        for (int i = 0; i < 2; i++) {
            double ss = 0;
            for (int d = 0; d < c.readout; d++) ss += (double)ro[i * 5 + d] * ro[i * 5 + d];
            double f = vinput_value_grad(g, VIN_READOUT_NORM, e, x + i * n, NULL);
            CHECK_MSG(fabs(f - sqrt(ss)) < 1e-4 * (1 + sqrt(ss)), "readout e %d i %d", e, i);
        }
    }
    vinput_free(g);
    vision_free(&m);
    ml_free(x);
}

TEST(vinput_agrees_with_model_forward) {
    check_agrees_with_model(0);
    check_agrees_with_model(2);
    VisionConfig c = synth_cfg();
    VisionModel m;
    /* a cosine router has no logit gradient here: refused by name */
    c.router = ROUTER_COSINE, c.gate_infomax = 0; /* the information loss needs z = W·x */
    CHECK(vision_init(&m, &c) == 0);
    CHECK(vinput_new(&m) == NULL);
    vision_free(&m);
}

typedef struct {
    const float *w;
    int n;
} Linear;

static double linear_fn(void *ctx, const float *x, float *grad) {
    const Linear *l = ctx;
    double f = 0;
    for (int i = 0; i < l->n; i++) f += (double)l->w[i] * x[i];
    if (grad) memcpy(grad, l->w, sizeof(float) * l->n);
    return f;
}

/* f(x) = w·x with the L2 prior only: the optimum is x* = ½ + w / (2·l2·rms(w)) (inside [0,1]
 * for l2 = 4); with total variation added the result is smoother. */
TEST(vsynth_linear_objective_reaches_known_optimum) {
    enum { C = 3, S = 8, n = C * S * S };
    float *w = noise_image(n, 21), x[n], xs[n];
    for (int i = 0; i < n; i++) w[i] = 2 * w[i] - 1;
    double ms = 0;
    for (int i = 0; i < n; i++) ms += (double)w[i] * w[i];
    double rms = sqrt(ms / n);
    Linear l = {w, n};
    SynthOptions o = synth_default_options();
    o.tv = 0, o.l2 = 4, o.steps = 400, o.lr = 0.05, o.seed = 2;
    double f0, f = synth_ascend(linear_fn, &l, C, S, &o, x, &f0);
    CHECK(f > f0);
    double dot = 0, nx = 0, worst = 0;
    for (int i = 0; i < n; i++) {
        double want = 0.5 + w[i] / (2 * o.l2 * rms);
        dot += (x[i] - 0.5) * w[i], nx += (x[i] - 0.5) * (x[i] - 0.5);
        worst = fabs(x[i] - want) > worst ? fabs(x[i] - want) : worst;
    }
    CHECK_MSG(dot / sqrt(nx * ms) > 0.99, "cosine to w %.4f", dot / sqrt(nx * ms));
    CHECK_MSG(worst < 0.02, "largest distance to the optimum %.4f", worst);
    o.tv = 2; /* smoothness costs some of f and lowers the image's total variation */
    double fs = synth_ascend(linear_fn, &l, C, S, &o, xs, NULL);
    CHECK(synth_prior(xs, C, S, 1, 0, NULL) < 0.5 * synth_prior(x, C, S, 1, 0, NULL));
    CHECK(fs < f);
    ml_free(w);
}
