/* 1. Gating level: routing by category, gate entropy, animacy index with a permutation test. */
/* 1. Gating level over a model: routing matrices per label level, gate entropy, animacy index. */
#include "stats/stats.h"
#include "analysis/vision/gating.h"
#include "analysis/vision/vision_analyze.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- array math (tested on constructed inputs) ---- */

void vgate_matrices(const float *probs, const int32_t *top1, const int32_t *labels, int n, int E,
                    int K, double *mean, double *top1share, double *count) {
    memset(mean, 0, sizeof(double) * K * E);
    memset(top1share, 0, sizeof(double) * K * E);
    memset(count, 0, sizeof(double) * K);
    for (int i = 0; i < n; i++) {
        int k = labels[i];
        count[k] += 1;
        for (int e = 0; e < E; e++) mean[k * E + e] += probs[(long)i * E + e];
        top1share[k * E + top1[i]] += 1;
    }
    for (int k = 0; k < K; k++)
        for (int e = 0; e < E && count[k] > 0; e++)
            mean[k * E + e] /= count[k], top1share[k * E + e] /= count[k];
}

void vgate_entropy(const float *probs, const int32_t *labels, int n, int E, int K, double *h_route,
                   double *h_image) {
    double *m = ml_alloc(sizeof(double) * K * E), *cnt = ml_alloc(sizeof(double) * K);
    double *row = ml_alloc(sizeof(double) * E);
    for (int k = 0; k < K; k++) h_image[k] = 0;
    for (int i = 0; i < n; i++) {
        int k = labels[i];
        cnt[k] += 1;
        for (int e = 0; e < E; e++) row[e] = probs[(long)i * E + e], m[k * E + e] += row[e];
        h_image[k] += stat_entropy(row, E);
    }
    for (int k = 0; k < K; k++) {
        h_route[k] = cnt[k] > 0 ? stat_entropy(m + k * E, E) : NAN;
        h_image[k] = cnt[k] > 0 ? h_image[k] / cnt[k] : NAN;
    }
    ml_free(m), ml_free(cnt), ml_free(row);
}

void vgate_concept_means(const float *probs, const int32_t *concept, int n, int E, int C, double *g,
                         int *count) {
    memset(g, 0, sizeof(double) * C * E);
    memset(count, 0, sizeof(int) * C);
    for (int i = 0; i < n; i++) {
        int c = concept[i];
        if (c < 0 || c >= C) continue;
        count[c]++;
        for (int e = 0; e < E; e++) g[(long)c * E + e] += probs[(long)i * E + e];
    }
    for (int c = 0; c < C; c++)
        for (int e = 0; e < E && count[c]; e++) g[(long)c * E + e] /= count[c];
}

/* A_e for flags flag[j] over the used concepts' rows gu[j, :]. */
static void animacy_index(const double *gu, const int8_t *flag, int m, int E, double *A) {
    for (int e = 0; e < E; e++) {
        double sa = 0, si = 0;
        int na = 0, ni = 0;
        for (int j = 0; j < m; j++)
            if (flag[j])
                sa += gu[(long)j * E + e], na++;
            else
                si += gu[(long)j * E + e], ni++;
        double ma = sa / na, mi = si / ni;
        A[e] = ma + mi > 0 ? (ma - mi) / (ma + mi) : 0;
    }
}

int vgate_animacy(const double *g, const int *count, const int8_t *animate, int C, int E, int P,
                  uint64_t seed, double *A, double *p) {
    double *gu = ml_alloc(sizeof(double) * (C ? C : 1) * E), *Ap = ml_alloc(sizeof(double) * E);
    int8_t *flag = ml_alloc(C ? C : 1), *pf = ml_alloc(C ? C : 1);
    int *perm = ml_alloc(sizeof(int) * (C ? C : 1)), *ge = ml_alloc(sizeof(int) * E);
    int m = 0, na = 0;
    for (int c = 0; c < C; c++)
        if (count[c] > 0 && (animate[c] == 0 || animate[c] == 1)) {
            memcpy(gu + (long)m * E, g + (long)c * E, sizeof(double) * E);
            flag[m] = animate[c], na += animate[c], m++;
        }
    int rc = m;
    if (na == 0 || na == m) {
        rc = ml_error("animacy: need animate and inanimate concepts with images (have %d of %d "
                      "animate)",
                      na, m);
        goto out;
    }
    animacy_index(gu, flag, m, E, A);
    Rng rng;
    rng_seed(&rng, seed);
    for (int t = 0; t < P; t++) {
        stat_shuffle(perm, m, &rng);
        for (int j = 0; j < m; j++) pf[j] = flag[perm[j]];
        animacy_index(gu, pf, m, E, Ap);
        for (int e = 0; e < E; e++) ge[e] += fabs(Ap[e]) >= fabs(A[e]) - 1e-12;
    }
    for (int e = 0; e < E; e++) p[e] = (1.0 + ge[e]) / (1.0 + P);
out:
    ml_free(gu), ml_free(Ap), ml_free(flag), ml_free(pf), ml_free(perm), ml_free(ge);
    return rc;
}

/* ---- over a model: files written ---- */

static cJSON *names_json(char **names, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(names[i]));
    return a;
}

static int write_level(VaCtx *c, int l, cJSON *levels, AtomicFile *csv) {
    const ImageSet *s = c->set;
    int E = c->E, K = s->n_classes[l];
    double *mean = ml_alloc(sizeof(double) * K * E), *share = ml_alloc(sizeof(double) * K * E);
    double *cnt = ml_alloc(sizeof(double) * K), *hr = ml_alloc(sizeof(double) * K);
    double *hi = ml_alloc(sizeof(double) * K);
    const int32_t *lab = s->labels + (long)l * s->n;
    vgate_matrices(c->probs, c->top1, lab, c->n, E, K, mean, share, cnt);
    vgate_entropy(c->probs, lab, c->n, E, K, hr, hi);
    char name[96];
    int64_t sh[2] = {K, E};
    snprintf(name, sizeof name, "gating_L%d_mean.npy", l);
    int rc = va_write_npy(c, name, "<f8", sh, 2, mean);
    snprintf(name, sizeof name, "gating_L%d_top1.npy", l);
    rc = rc || va_write_npy(c, name, "<f8", sh, 2, share);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "level", s->level_names[l]);
    cJSON_AddItemToObject(o, "classes", names_json(s->class_names[l], K));
    cJSON_AddItemToObject(o, "images", cJSON_CreateDoubleArray(cnt, K));
    cJSON_AddItemToObject(o, "entropy_route", cJSON_CreateDoubleArray(hr, K));
    cJSON_AddItemToObject(o, "entropy_image", cJSON_CreateDoubleArray(hi, K));
    cJSON_AddItemToArray(levels, o);
    for (int k = 0; k < K; k++)
        for (int e = 0; e < E && cnt[k] > 0; e++)
            afile_printf(csv, "%s,\"%s\",%d,%.0f,%.6g,%.6g,%.6g,%.6g\n", s->level_names[l],
                         s->class_names[l][k], e, cnt[k], mean[k * E + e], share[k * E + e], hr[k],
                         hi[k]);
    ml_free(mean), ml_free(share), ml_free(cnt), ml_free(hr), ml_free(hi);
    return rc;
}

static int animacy(VaCtx *c, cJSON *j) {
    const ImageSet *s = c->set;
    int C = s->n_concepts, E = c->E;
    double *g = ml_alloc(sizeof(double) * (C ? C : 1) * E), *A = ml_alloc(sizeof(double) * E);
    double *p = ml_alloc(sizeof(double) * E);
    int *cnt = ml_alloc(sizeof(int) * (C ? C : 1));
    vgate_concept_means(c->probs, s->concept, c->n, E, C, g, cnt);
    int used = vgate_animacy(g, cnt, s->animate, C, E, c->o->perms, c->o->seed, A, p);
    int rc = 0;
    cJSON *a = cJSON_AddObjectToObject(j, "animacy");
    if (used < 0) {
        cJSON_AddStringToObject(a, "skipped", ml_errmsg());
    } else {
        cJSON_AddNumberToObject(a, "concepts", used);
        cJSON_AddNumberToObject(a, "permutations", c->o->perms);
        cJSON_AddItemToObject(a, "index", cJSON_CreateDoubleArray(A, E));
        cJSON_AddItemToObject(a, "p", cJSON_CreateDoubleArray(p, E));
        int64_t sh[2] = {E};
        rc = va_write_npy(c, "animacy_index.npy", "<f8", sh, 1, A);
        double best = 0;
        for (int e = 0; e < E; e++)
            if (fabs(A[e]) > fabs(best)) best = A[e];
        cJSON_AddNumberToObject(c->summary, "animacy_index_max_abs", best);
    }
    ml_free(g), ml_free(A), ml_free(p), ml_free(cnt);
    return rc;
}

int va_gating(VaCtx *c) {
    cJSON *j = cJSON_CreateObject(), *levels = cJSON_AddArrayToObject(j, "levels");
    char *path = ml_path_join(c->o->out_dir, "gating.csv");
    AtomicFile csv;
    int rc = afile_open(&csv, path);
    ml_free(path);
    if (rc) return cJSON_Delete(j), -1;
    afile_printf(&csv, "level,class,expert,images,mean_gate,top1_share,entropy_route,"
                       "entropy_image\n");
    for (int l = 0; l < c->set->n_levels && !rc; l++) rc = write_level(c, l, levels, &csv);
    if (!rc && c->set->concept && c->set->animate) rc = animacy(c, j);
    rc = rc ? (afile_abort(&csv), -1) : afile_commit(&csv);
    if (!rc) rc = va_write_json(c, "gating.json", j);
    cJSON_Delete(j);
    return rc;
}
