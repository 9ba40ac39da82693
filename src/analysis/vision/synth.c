/* 3. Most exciting inputs, synthesised: gradient ascent on the input image from seeded noise
 * with a smoothness (total variation) and norm (L2 around mid-grey) prior (see synth.h). */
/* 3. Most exciting inputs, synthesised over a model: per expert, gradient ascent from noise on its
 * gate logit and on its force-run readout norm (synth.c over src/model/vinput.h), shown beside
 * the dataset top-N of mei.c. */
#include "analysis/vision/mei.h"
#include "analysis/vision/synth.h"
#include "analysis/vision/vision_analyze.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include "model/vinput.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- array math (tested on constructed inputs) ---- */

SynthOptions synth_default_options(void) {
    return (SynthOptions){
        .steps = 200, .lr = 0.05, .tv = 1.0, .l2 = 0.5, .init_std = 0.1, .seed = 1};
}

/* P(x) = tv·Σ squared differences of horizontal and vertical neighbours + l2·Σ (x − ½)²;
 * its gradient is added (× −1) to grad. Returns P(x). */
double synth_prior(const float *x, int C, int S, double tv, double l2, float *grad) {
    double p = 0;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < S; y++)
            for (int q = 0; q < S; q++) {
                long i = ((long)c * S + y) * S + q;
                double m = x[i] - 0.5;
                p += l2 * m * m;
                if (grad) grad[i] -= (float)(2 * l2 * m);
                for (int dir = 0; dir < 2; dir++) { /* right and down neighbours */
                    if ((dir == 0 && q + 1 >= S) || (dir == 1 && y + 1 >= S)) continue;
                    long j = dir == 0 ? i + 1 : i + S;
                    double d = x[j] - x[i];
                    p += tv * d * d;
                    if (grad) grad[i] += (float)(2 * tv * d), grad[j] -= (float)(2 * tv * d);
                }
            }
    return p;
}

static double rms(const float *g, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += (double)g[i] * g[i];
    return n ? sqrt(s / n) : 0;
}

double synth_ascend(SynthFn f, void *ctx, int C, int S, const SynthOptions *o, float *x,
                    double *f_start) {
    long n = (long)C * S * S;
    Rng r;
    rng_seed(&r, o->seed);
    for (long i = 0; i < n; i++) {
        float v = 0.5f + (float)o->init_std * rng_normal(&r);
        x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    float *g = ml_alloc_floats(n), *m1 = ml_alloc_floats(n), *m2 = ml_alloc_floats(n);
    double f0 = f(ctx, x, g), scale = rms(g, n);
    if (f_start) *f_start = f0;
    if (!(scale > 0)) scale = 1; /* a flat start: the prior alone acts */
    for (int t = 1; t <= o->steps; t++) {
        if (t > 1) f(ctx, x, g);
        for (long i = 0; i < n; i++) g[i] = (float)(g[i] / scale);
        synth_prior(x, C, S, o->tv, o->l2, g);
        /* Adam (ascent), step size decayed linearly to 0 so the iterate settles */
        double lr = o->lr * (1 - (double)(t - 1) / o->steps);
        double c1 = 1 - pow(0.9, t), c2 = 1 - pow(0.999, t);
        for (long i = 0; i < n; i++) {
            m1[i] = 0.9f * m1[i] + 0.1f * g[i];
            m2[i] = 0.999f * m2[i] + 0.001f * g[i] * g[i];
            float v = x[i] + (float)(lr * (m1[i] / c1) / (sqrt(m2[i] / c2) + 1e-8));
            x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
    double fend = f(ctx, x, NULL);
    ml_free(g), ml_free(m1), ml_free(m2);
    return fend;
}

/* ---- over a model: files written ---- */

typedef struct {
    VisionInputGrad *g;
    VinObjective obj;
    int e;
} Target;

static double target_fn(void *ctx, const float *x, float *grad) {
    const Target *t = ctx;
    return vinput_value_grad(t->g, t->obj, t->e, x, grad);
}

/* The single-image pass must agree with the model's own forward on an analysed image (the gate
 * probabilities and expert readout norms of VaCtx); a model whose layers differ is refused, so a
 * changed gate cannot give silently wrong pictures. */
static int agrees_with_model(VaCtx *c, VisionInputGrad *g) {
    const ImageSet *s = c->set;
    float *logits = ml_alloc_floats(c->E);
    vinput_gate_logits(g, s->pixels, logits);
    double mx = -INFINITY, z = 0, worst = 0;
    for (int e = 0; e < c->E; e++) mx = logits[e] > mx ? logits[e] : mx;
    for (int e = 0; e < c->E; e++) z += exp(logits[e] - mx);
    for (int e = 0; e < c->E; e++) {
        double p = exp(logits[e] - mx) / z, d = fabs(p - c->probs[e]);
        worst = d > worst ? d : worst;
        double rn = vinput_value_grad(g, VIN_READOUT_NORM, e, s->pixels, NULL);
        double ref = va_readout_norm(c, e, 0);
        d = fabs(rn - ref) / (ref > 1e-6 ? ref : 1e-6);
        worst = d > worst ? d : worst;
    }
    ml_free(logits);
    if (worst > 1e-3)
        return ml_error("synthesised MEIs: the single-image pass (src/model/vinput.c) disagrees "
                        "with the model's forward by %.3g; update it to the model's layers",
                        worst);
    return 0;
}

int va_mei_synth(VaCtx *c, const int32_t *top, int per, cJSON *experts) {
    const ImageSet *s = c->set;
    int C = s->channels, S = s->size, jobs = 2 * c->E;
    long img = (long)C * S * S;
    VisionInputGrad *g = vinput_new(c->model);
    int bad = !g || agrees_with_model(c, g);
    vinput_free(g);
    if (bad) return -1;
    float *out = ml_alloc_floats((size_t)jobs * img);
    double *f0 = ml_alloc(sizeof(double) * jobs * 3), *f = f0 + jobs, *best = f + jobs;
    /* one (expert, objective) per thread: single images are too small to share a conv */
#pragma omp parallel for schedule(dynamic, 1)
    for (int q = 0; q < jobs; q++) {
        int e = q / 2, by = q % 2;
        Target t = {vinput_new(c->model), by ? VIN_READOUT_NORM : VIN_GATE_LOGIT, e};
        SynthOptions so = synth_default_options();
        so.steps = c->o->synth_steps, so.tv = c->o->synth_tv, so.l2 = c->o->synth_l2;
        so.seed = c->o->seed * 1000003u + (uint64_t)q;
        f[q] = synth_ascend(target_fn, &t, C, S, &so, out + q * img, &f0[q]);
        /* the same objective on the dataset's best image by this kind's ranking */
        best[q] = per ? target_fn(&t, s->pixels + top[(long)q * per] * img, NULL) : NAN;
        vinput_free(t.g);
    }
    int rc = 0;
    for (int q = 0; q < jobs && !rc; q++) {
        int by = q % 2;
        char name[64];
        snprintf(name, sizeof name, "mei_e%d_%s_synth.png", q / 2, by ? "readout" : "gate");
        char *path = ml_path_join(c->o->out_dir, name);
        rc = mei_write_grid(path, out, C, S, &q, 1, 1);
        ml_free(path);
        cJSON *sj = cJSON_CreateObject();
        cJSON_AddStringToObject(sj, "image", name);
        cJSON_AddStringToObject(sj, "objective",
                                by ? "readout L2 norm (expert force-run)" : "gate logit");
        cJSON_AddNumberToObject(sj, "value_noise_start", f0[q]);
        cJSON_AddNumberToObject(sj, "value_synthesised", f[q]);
        cJSON_AddNumberToObject(sj, "value_dataset_top1", best[q]);
        cJSON_AddItemToObject(cJSON_GetArrayItem(experts, q / 2),
                              by ? "readout_synth" : "gate_synth", sj);
    }
    int64_t sh[5] = {c->E, 2, C, S, S};
    if (!rc) rc = va_write_npy(c, "mei_synth.npy", "<f4", sh, 5, out);
    ml_free(out), ml_free(f0);
    return rc;
}
