/* 2. Per-expert category separability: grouped k-fold cross-validated linear probes. */
/* 2. Per-expert category separability over a model: every expert force-run on every image, a
 * grouped-fold cross-validated linear probe per expert and target (each label level, animacy). */
#include "stats/stats.h"
#include "analysis/vision/separability.h"
#include "analysis/vision/vision_analyze.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- array math (tested on constructed inputs) ---- */

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int vsep_group_folds(const int32_t *grp, int n, int k, uint64_t seed, int32_t *fold) {
    int32_t *ids = ml_alloc(sizeof(int32_t) * (n ? n : 1));
    memcpy(ids, grp, sizeof(int32_t) * n);
    qsort(ids, n, sizeof(int32_t), cmp_i32);
    int G = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || ids[i] != ids[i - 1]) ids[G++] = ids[i];
    int *order = ml_alloc(sizeof(int) * (G ? G : 1)),
        *fold_of = ml_alloc(sizeof(int) * (G ? G : 1));
    Rng rng;
    rng_seed(&rng, seed);
    stat_shuffle(order, G, &rng);
    int folds = k < G ? k : G;
    for (int j = 0; j < G; j++) fold_of[order[j]] = folds ? j % folds : 0;
    for (int i = 0; i < n; i++) {
        int32_t *hit = bsearch(&grp[i], ids, G, sizeof(int32_t), cmp_i32);
        fold[i] = fold_of[hit - ids];
    }
    ml_free(ids), ml_free(order), ml_free(fold_of);
    return folds;
}

int vsep_cv_probe(const float *X, const int32_t *y, const int32_t *fold, int n, int D, int K,
                  const ProbeConfig *cfg, SepResult *r) {
    int F = 0;
    for (int i = 0; i < n; i++)
        if (fold[i] + 1 > F) F = fold[i] + 1;
    if (F < 2) return ml_error("separability: need at least 2 folds, got %d", F);
    double *cnt = ml_alloc(sizeof(double) * K);
    for (int i = 0; i < n; i++) cnt[y[i]] += 1;
    memset(r, 0, sizeof *r);
    for (int k = 0; k < K; k++) {
        if (cnt[k] > 0) r->classes++;
        if (cnt[k] / n > r->chance_major) r->chance_major = cnt[k] / n;
    }
    r->chance_uniform = 1.0 / r->classes;
    float *Xtr = ml_alloc_floats((size_t)n * D), *Xte = ml_alloc_floats((size_t)n * D);
    int32_t *ytr = ml_alloc(sizeof(int32_t) * n), *yte = ml_alloc(sizeof(int32_t) * n);
    long correct = 0;
    int rc = 0;
    for (int f = 0; f < F && !rc; f++) {
        int ntr = 0, nte = 0;
        for (int i = 0; i < n; i++) {
            float *dst = fold[i] == f ? Xte + (long)nte * D : Xtr + (long)ntr * D;
            memcpy(dst, X + (long)i * D, sizeof(float) * D);
            if (fold[i] == f)
                yte[nte++] = y[i];
            else
                ytr[ntr++] = y[i];
        }
        if (!nte || !ntr) continue;
        double acc = probe_train_eval(Xtr, ytr, ntr, Xte, yte, nte, D, K, cfg);
        if (acc < 0) rc = -1;
        correct += (long)(acc * nte + 0.5);
    }
    r->n = n, r->folds = F, r->acc = (double)correct / n;
    stat_wilson((double)correct, n, 1.96, &r->lo, &r->hi);
    ml_free(cnt), ml_free(Xtr), ml_free(Xte), ml_free(ytr), ml_free(yte);
    return rc;
}

/* ---- over a model: files written ---- */

typedef struct {
    const char *name;
    int32_t *y; /* [n] label, -1 = image not in this target */
    int K;
} Target;

/* Rows of X (n × D) with y ≥ 0 into a compact problem; returns its size. */
static int compact(const float *X, const Target *t, const int32_t *groups, int n, int D, float *Xo,
                   int32_t *yo, int32_t *go) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (t->y[i] >= 0) {
            memcpy(Xo + (long)m * D, X + (long)i * D, sizeof(float) * D);
            yo[m] = t->y[i], go[m] = groups[i], m++;
        }
    return m;
}

static cJSON *result_json(const char *who, const char *target, const SepResult *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "features", who);
    cJSON_AddStringToObject(o, "target", target);
    cJSON_AddNumberToObject(o, "accuracy", r->acc);
    cJSON_AddNumberToObject(o, "ci95_lo", r->lo);
    cJSON_AddNumberToObject(o, "ci95_hi", r->hi);
    cJSON_AddNumberToObject(o, "chance_majority", r->chance_major);
    cJSON_AddNumberToObject(o, "chance_uniform", r->chance_uniform);
    cJSON_AddNumberToObject(o, "images", r->n);
    cJSON_AddNumberToObject(o, "folds", r->folds);
    cJSON_AddNumberToObject(o, "classes", r->classes);
    return o;
}

int va_separability(VaCtx *c) {
    const ImageSet *s = c->set;
    int n = c->n, D = c->D, nt = 0;
    Target t[9];
    for (int l = 0; l < s->n_levels && nt < 8; l++)
        t[nt++] = (Target){s->level_names[l], s->labels + (long)l * n, s->n_classes[l]};
    int32_t *anim = NULL;
    if (s->concept && s->animate) {
        anim = ml_alloc(sizeof(int32_t) * n);
        for (int i = 0; i < n; i++) {
            int cc = s->concept[i];
            anim[i] = cc >= 0 && (s->animate[cc] == 0 || s->animate[cc] == 1) ? s->animate[cc] : -1;
        }
        t[nt++] = (Target){"animate", anim, 2};
    }
    float *X = ml_alloc_floats((size_t)n * D);
    int32_t *y = ml_alloc(sizeof(int32_t) * n), *g = ml_alloc(sizeof(int32_t) * n);
    int32_t *fold = ml_alloc(sizeof(int32_t) * n);
    cJSON *j = cJSON_CreateObject(), *res = cJSON_AddArrayToObject(j, "results");
    cJSON_AddNumberToObject(j, "probe_iters", c->o->probe.iters);
    cJSON_AddNumberToObject(j, "probe_l2", c->o->probe.l2);
    char *path = ml_path_join(c->o->out_dir, "separability.csv");
    AtomicFile csv;
    int rc = afile_open(&csv, path);
    ml_free(path);
    if (rc) {
        cJSON_Delete(j);
        ml_free(X), ml_free(y), ml_free(g), ml_free(fold), ml_free(anim);
        return -1;
    }
    afile_printf(&csv, "features,target,accuracy,ci95_lo,ci95_hi,chance_majority,"
                       "chance_uniform,images,folds\n");
    Progress p;
    if (!c->o->quiet) progress_start(&p, "analyze vision: separability", (c->E + 1) * nt);
    for (int e = -1; e < c->E && !rc; e++) { /* -1: the model's readout y, for reference */
        char who[32];
        snprintf(who, sizeof who, e < 0 ? "model" : "expert%d", e);
        const float *F = e < 0 ? c->readout : c->feats + (long)e * n * D;
        for (int k = 0; k < nt && !rc; k++) {
            int m = compact(F, &t[k], c->groups, n, D, X, y, g);
            SepResult r;
            if (vsep_group_folds(g, m, c->o->folds, c->o->seed, fold) < 2) {
                if (!c->o->quiet) progress_update(&p, (e + 1) * nt + k + 1, NULL);
                continue; /* fewer than 2 groups: nothing to cross-validate */
            }
            rc = vsep_cv_probe(X, y, fold, m, D, t[k].K, &c->o->probe, &r);
            if (rc) break;
            cJSON_AddItemToArray(res, result_json(who, t[k].name, &r));
            afile_printf(&csv, "%s,%s,%.6g,%.6g,%.6g,%.6g,%.6g,%d,%d\n", who, t[k].name, r.acc,
                         r.lo, r.hi, r.chance_major, r.chance_uniform, r.n, r.folds);
            if (!c->o->quiet) progress_update(&p, (e + 1) * nt + k + 1, NULL);
        }
    }
    if (!c->o->quiet) progress_end(&p, NULL);
    rc = rc ? (afile_abort(&csv), -1) : afile_commit(&csv);
    if (!rc) rc = va_write_json(c, "separability.json", j);
    cJSON_Delete(j);
    ml_free(X), ml_free(y), ml_free(g), ml_free(fold), ml_free(anim);
    return rc;
}
