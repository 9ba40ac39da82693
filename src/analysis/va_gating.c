/* 1. Gating level over a model: routing matrices per label level, gate entropy, animacy index. */
#include "analysis/vision_analyze.h"
#include "analysis/vision_an.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <math.h>
#include <stdio.h>

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
