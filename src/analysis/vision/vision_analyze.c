/* Driver of the vision expert analyses: one pass of the model over the images, then each analysis.
 */
#include "analysis/vision/vision_analyze.h"
#include "analysis/lm/analysis.h"
#include "analysis/vision/gate_summary.h"
#include "stats/stats.h"
#include "analysis/vision/synth.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vision_analyze_default_options(VisionAnalyzeOptions *o) {
    memset(o, 0, sizeof *o);
    o->only = VA_ALL, o->max_images = 2000, o->folds = 5, o->perms = 1000, o->mei_n = 16;
    SynthOptions so = synth_default_options();
    o->synth_steps = so.steps, o->synth_tv = so.tv, o->synth_l2 = so.l2, o->split = -1;
    o->rsa_stimuli = 200, o->ridge_lambda = 1.0, o->seed = 1234;
    o->probe = probe_default_config();
    o->probe.iters = 200;
}

/* The vision analyses in the order they run; bit i of VisionAnalyzeOptions.only is row i. */
static const struct {
    const char *name;
    int (*fn)(VaCtx *);
} steps[] = {{"gating", va_gating},
             {"separability", va_separability},
             {"mei", va_mei},
             {"tuning", va_tuning},
             {"rsa", va_rsa}};
enum { VA_STEPS = (int)(sizeof steps / sizeof steps[0]) };
_Static_assert(VA_ALL == (1u << VA_STEPS) - 1 && VA_GATING == 1 && VA_SEPARABILITY == 2 &&
                   VA_MEI == 4 && VA_TUNING == 8 && VA_RSA == 16,
               "VA_* bits follow steps[]");

int vision_analyze_parse_only(const char *list, unsigned *bits) {
    if (an_parse_names(list, &steps[0].name, sizeof steps[0], VA_STEPS, bits, "vision analysis"))
        return -1;
    return *bits ? 0 : ml_error("--only: empty list");
}

void vision_analyze_names(char *buf, size_t cap) {
    an_list_names(buf, cap, &steps[0].name, sizeof steps[0], VA_STEPS);
}

int vision_run_is_vision(const char *run) {
    char *p = ml_path_join(run, "config.json"), *buf;
    size_t len;
    int yes = 0;
    if (ml_file_exists(p) && ml_read_file(p, &buf, &len) == 0) {
        cJSON *j = cJSON_Parse(buf);
        const cJSON *m = cJSON_GetObjectItem(j, "model");
        yes = cJSON_IsString(m) && !strcmp(m->valuestring, "vision");
        cJSON_Delete(j);
        ml_free(buf);
    }
    ml_free(p);
    return yes;
}

int va_write_json(const VaCtx *c, const char *name, const cJSON *j) {
    return an_write_json(c->o->out_dir, name, j);
}

int va_write_npy(const VaCtx *c, const char *name, const char *dtype, const int64_t *shape, int nd,
                 const void *data) {
    return an_write_npy(c->o->out_dir, name, dtype, shape, nd, data);
}

double va_readout_norm(const VaCtx *c, int e, int i) {
    const float *f = c->feats + ((long)e * c->n + i) * c->D;
    double s = 0;
    for (int d = 0; d < c->D; d++) s += (double)f[d] * f[d];
    return sqrt(s);
}

/* A seeded subsample (sorted, so image order is kept) when the set is larger than max_images. */
static void subsample(const ImageSet *in, int max, uint64_t seed, ImageSet *out, int **idx_out) {
    int n = in->n, m = max > 0 && max < n ? max : n;
    int *perm = ml_alloc(sizeof(int) * n), *idx = ml_alloc(sizeof(int) * m);
    Rng r;
    rng_seed(&r, seed);
    if (m < n)
        stat_shuffle(perm, n, &r);
    else
        for (int i = 0; i < n; i++) perm[i] = i;
    char *keep = ml_alloc(n);
    for (int j = 0; j < m; j++) keep[perm[j]] = 1;
    for (int i = 0, j = 0; i < n; i++)
        if (keep[i]) idx[j++] = i;
    imageset_select(in, idx, m, out);
    ml_free(perm), ml_free(keep);
    *idx_out = idx;
}

/* --split's names: -1 all, IMAGESET_TRAIN, IMAGESET_HELDOUT. */
static const char *split_name(int split) {
    static const char *const names[] = {"train", "heldout"};
    return split < 0 ? "all" : names[split];
}

static void model_pass(VaCtx *c, VisionModel *m) {
    const ImageSet *s = c->set;
    int32_t *chosen = ml_alloc(sizeof(int32_t) * c->n * c->k);
    /* with gate_adapt, training and held-out images each get their own gate statistics */
    vision_embed_adapted(m, s->pixels, s->split, c->n, c->readout, c->probs, chosen);
    if (m->cfg.gate_adapt && m->p.gate_run_mean && s->split) {
        /* what follows (synthesised MEIs of the gate logits) sees the gate with the statistics of
         * the first image's split (the training split for the emoji set), so its single-image
         * pass agrees with c->probs there */
        long img = (long)s->channels * s->size * s->size;
        int cnt = 0;
        float *xs = ml_alloc_floats((size_t)c->n * img);
        for (int i = 0; i < c->n; i++)
            if (s->split[i] == s->split[0]) memcpy(xs + cnt++ * img, s->pixels + i * img, 4 * img);
        if (cnt >= 2) vision_gate_calibrate(m, xs, cnt);
        ml_free(xs);
    }
    for (int i = 0; i < c->n; i++) c->top1[i] = chosen[(long)i * c->k];
    ml_free(chosen);
    Progress p;
    if (!c->o->quiet) progress_start(&p, "analyze vision: experts", c->E);
    for (int e = 0; e < c->E; e++) {
        vision_expert_readouts(m, e, s->pixels, c->n, c->feats + (long)e * c->n * c->D);
        if (!c->o->quiet) progress_update(&p, e + 1, NULL);
    }
    if (!c->o->quiet) progress_end(&p, NULL);
}

/* Does the gate route by drawing style rather than content? MI(top-1; style) with its shuffled
 * null, and per style the largest share of its images one expert takes as top-1 (1 = the whole
 * style on one expert), beside the group MI. */
static void style_routing_json(cJSON *j, const float *probs, const int32_t *chosen,
                               const int32_t *style, int n, int E, int k, const ImageSet *in,
                               const VisionAnalyzeOptions *o) {
    GateSummary g;
    gate_summary(probs, chosen, n, E, k, style, in->n_styles, o->perms, o->seed, &g);
    cJSON_AddNumberToObject(j, "mi_style_bits", g.mi_bits);
    cJSON_AddNumberToObject(j, "mi_style_null_bits", g.mi_null_bits);
    cJSON_AddNumberToObject(j, "mi_style_p", g.mi_p);
    cJSON *by = cJSON_AddObjectToObject(j, "style_top1_max");
    double *share = ml_alloc(sizeof(double) * in->n_styles);
    gate_top1_max_share(chosen, k, style, n, E, in->n_styles, share);
    for (int st = 0; st < in->n_styles; st++)
        if (share[st] >= 0) cJSON_AddNumberToObject(by, in->style_names[st], share[st]);
    ml_free(share);
}

/* The gate summary (analysis/gate_summary.h) on ALL the held-out images of the analysed set (else
 * all its images), not the subsample: its MI null shrinks with the image count (≈ (E−1)(K−1) /
 * (2n ln 2) bits). With gate_adapt they are one domain, as in train vision's evaluation. */
static void gate_summary_json(VisionModel *m, const ImageSet *in, const VisionAnalyzeOptions *o,
                              cJSON *summary) {
    int E = m->cfg.n_experts, k = m->cfg.top_k, n = 0, held = 0;
    long img = (long)in->channels * in->size * in->size;
    for (int i = 0; in->split && i < in->n; i++) held += in->split[i] == IMAGESET_HELDOUT;
    float *x = ml_alloc_floats((size_t)in->n * img + 1),
          *probs = ml_alloc_floats((size_t)in->n * E);
    int32_t *chosen = ml_alloc(sizeof(int32_t) * ((size_t)in->n * k + 1));
    int32_t *lab = ml_alloc(sizeof(int32_t) * (in->n + 1)),
            *sty = ml_alloc(sizeof(int32_t) * (in->n + 1));
    for (int i = 0; i < in->n; i++)
        if (!held || in->split[i] == IMAGESET_HELDOUT) {
            memcpy(x + n * img, in->pixels + i * img, sizeof(float) * img);
            sty[n] = in->style ? in->style[i] : -1;
            lab[n++] = in->labels[i];
        }
    vision_embed_adapted(m, x, NULL, n, NULL, probs, chosen);
    GateSummary g;
    gate_summary(probs, chosen, n, E, k, lab, in->n_classes[0], o->perms, o->seed, &g);
    cJSON *j = cJSON_AddObjectToObject(summary, "gate_summary");
    cJSON_AddStringToObject(j, "images", held ? "held-out split" : "all");
    cJSON_AddNumberToObject(j, "n", n);
    cJSON_AddStringToObject(j, "mi_level", in->level_names[0]);
    cJSON_AddStringToObject(j, "gate_stats",
                            m->cfg.gate_adapt && m->p.gate_run_mean ? "adapted to these images"
                                                                    : "training");
    gate_summary_add_json(j, &g);
    cJSON_AddBoolToObject(j, "collapsed", g.collapsed);
    if (g.collapsed) cJSON_AddStringToObject(j, "collapse_reason", g.reason);
    int styled = in->style && in->n_styles > 1;
    for (int i = 0; styled && i < n; i++) styled = sty[i] >= 0;
    if (styled) style_routing_json(j, probs, chosen, sty, n, E, k, in, o);
    ml_free(x), ml_free(probs), ml_free(chosen), ml_free(lab), ml_free(sty);
}

/* `in` is the (split) set to analyse; the files go to o->out_dir. */
static int analyze_into(VisionModel *m, const ImageSet *in, const VisionAnalyzeOptions *o) {
    ImageSet sub;
    int *idx;
    subsample(in, o->max_images, o->seed, &sub, &idx);
    int total = in->n;
    VaCtx c = {
        .o = o, .model = m, .set = &sub, .n = sub.n, .E = m->cfg.n_experts, .k = m->cfg.top_k};
    c.D = m->cfg.readout, c.orig = idx;
    c.probs = ml_alloc_floats((size_t)c.n * c.E);
    c.top1 = ml_alloc(sizeof(int32_t) * c.n);
    c.feats = ml_alloc_floats((size_t)c.E * c.n * c.D);
    c.groups = ml_alloc(sizeof(int32_t) * c.n);
    c.readout = ml_alloc_floats((size_t)c.n * c.D);
    for (int i = 0; i < c.n; i++) {
        int cc = sub.concept ? sub.concept[i] : -1;
        c.groups[i] = cc < 0 ? sub.n_concepts + i : sub.fold_group ? sub.fold_group[cc] : cc;
    }
    model_pass(&c, m);
    c.summary = cJSON_CreateObject();
    cJSON_AddStringToObject(c.summary, "kind", "vision");
    cJSON_AddStringToObject(c.summary, "images", o->images_path ? o->images_path : "");
    cJSON_AddStringToObject(c.summary, "split", split_name(o->split));
    cJSON_AddNumberToObject(c.summary, "images_total", total);
    cJSON_AddNumberToObject(c.summary, "images_analysed", c.n);
    cJSON_AddNumberToObject(c.summary, "experts", c.E);
    cJSON_AddNumberToObject(c.summary, "top_k", c.k);
    cJSON_AddNumberToObject(c.summary, "readout_dim", c.D);
    cJSON_AddNumberToObject(c.summary, "seed", (double)o->seed);
    if (in->n > 1) gate_summary_json(m, in, o, c.summary);
    int64_t sh[3] = {c.n, c.E, 0};
    int32_t *idx32 = ml_alloc(sizeof(int32_t) * c.n);
    for (int i = 0; i < c.n; i++) idx32[i] = idx[i];
    int rc = va_write_npy(&c, "images_index.npy", "<i4", sh, 1, idx32) ||
             va_write_npy(&c, "gate_probs.npy", "<f4", sh, 2, c.probs) ||
             va_write_npy(&c, "top1.npy", "<i4", sh, 1, c.top1);
    ml_free(idx32);
    for (int s = 0; s < VA_STEPS && !rc; s++)
        if (o->only & (1u << s)) rc = steps[s].fn(&c);
    if (!rc) rc = va_write_json(&c, "vision.json", c.summary);
    cJSON_Delete(c.summary);
    ml_free(c.probs), ml_free(c.top1), ml_free(c.feats), ml_free(c.groups), ml_free(c.readout),
        ml_free(idx);
    imageset_free(&sub);
    return rc ? -1 : 0;
}

typedef struct {
    VisionModel *m;
    const ImageSet *set;
    const VisionAnalyzeOptions *o;
} VisionAnalyzeJob;

static int write_analysis(const char *dir, void *ctx) {
    VisionAnalyzeJob *j = ctx;
    VisionAnalyzeOptions in_dir = *j->o;
    in_dir.out_dir = dir;
    return analyze_into(j->m, j->set, &in_dir);
}

/* Written into a fresh temporary folder that replaces o->out_dir whole (see ml_dir_write). */
int vision_analyze(VisionModel *m, const ImageSet *set, const VisionAnalyzeOptions *o) {
    if (set->channels != m->cfg.in_ch || set->size != m->cfg.img)
        return ml_error("%s: images are %d×%d×%d, the model expects %d×%d×%d", o->images_path,
                        set->channels, set->size, set->size, m->cfg.in_ch, m->cfg.img, m->cfg.img);
    ImageSet part = {0}; /* --split: the training or the held-out images only */
    if (o->split >= 0) imageset_split(set, o->split, &part);
    const ImageSet *in = o->split >= 0 ? &part : set;
    int rc;
    if (in->n < 2)
        rc = ml_error("%s: need at least 2 images (split %s), got %d", o->images_path,
                      split_name(o->split), in->n);
    else {
        VisionAnalyzeJob job = {m, in, o};
        rc = ml_dir_write(o->out_dir, write_analysis, &job);
    }
    imageset_free(&part);
    return rc;
}
