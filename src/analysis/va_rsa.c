/* 5. RSA over a model: per expert an RDM over a fixed stimulus set (one image per concept, else
 * single images, balanced across the level-0 classes), expert × expert comparisons within the run
 * (RDM Spearman and CKA), and the arrays `moelens compare` matches across seeds. */
#include "analysis/vision_an.h"
#include "analysis/vision_analyze.h"
#include "core/mem.h"
#include <stdio.h>
#include <string.h>

/* Stimuli: one image per concept (its first analysed image), else single images, drawn across
 * the level-0 classes by rsa_stratified_stimuli with the analysis seed, so runs analysed on the
 * same --images get the same stimuli (moelens compare needs that). */
static int pick_stimuli(const VaCtx *c, int max, int *st) {
    const ImageSet *s = c->set;
    int *cand = ml_alloc(sizeof(int) * c->n), nc = 0;
    if (s->concept) {
        int *first = ml_alloc(sizeof(int) * (s->n_concepts ? s->n_concepts : 1));
        for (int q = 0; q < s->n_concepts; q++) first[q] = -1;
        for (int i = c->n - 1; i >= 0; i--)
            if (s->concept[i] >= 0) first[s->concept[i]] = i;
        for (int q = 0; q < s->n_concepts; q++)
            if (first[q] >= 0) cand[nc++] = first[q];
        ml_free(first);
    }
    if (nc < 2)
        for (nc = 0; nc < c->n; nc++) cand[nc] = nc;
    int32_t *cls = ml_alloc(sizeof(int32_t) * (nc ? nc : 1));
    for (int j = 0; j < nc; j++) cls[j] = s->labels[cand[j]];
    int *pick = ml_alloc(sizeof(int) * (nc ? nc : 1));
    int S = rsa_stratified_stimuli(cls, nc, s->n_classes[0], max, c->o->seed, pick);
    for (int j = 0; j < S; j++) st[j] = cand[pick[j]];
    ml_free(cand), ml_free(cls), ml_free(pick);
    return S;
}

/* The stimuli's count per level-0 class, for rsa.json. */
static cJSON *class_counts(const VaCtx *c, const int *st, int S) {
    const ImageSet *s = c->set;
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; k < s->n_classes[0]; k++) {
        int m = 0;
        for (int j = 0; j < S; j++) m += s->labels[st[j]] == k;
        cJSON_AddNumberToObject(o, s->class_names[0][k], m);
    }
    return o;
}

int va_rsa(VaCtx *c) {
    int E = c->E, D = c->D, max = c->o->rsa_stimuli < c->n ? c->o->rsa_stimuli : c->n;
    int *st = ml_alloc(sizeof(int) * max), S = pick_stimuli(c, max, st);
    float *F = ml_alloc_floats((size_t)(E + 1) * S * D),
          *R = ml_alloc_floats((size_t)(E + 1) * S * S);
    for (int e = 0; e <= E; e++) /* row E: the model's readout */
        for (int j = 0; j < S; j++)
            memcpy(F + ((long)e * S + j) * D,
                   e < E ? c->feats + ((long)e * c->n + st[j]) * D : c->readout + (long)st[j] * D,
                   sizeof(float) * D);
    for (int e = 0; e <= E; e++) rsa_rdm(F + (long)e * S * D, S, D, R + (long)e * S * S);
    double *w = ml_alloc(sizeof(double) * E * E), *k = ml_alloc(sizeof(double) * E * E);
    for (int a = 0; a < E; a++)
        for (int b = 0; b < E; b++) {
            w[a * E + b] = rsa_compare(R + (long)a * S * S, R + (long)b * S * S, S);
            k[a * E + b] = rsa_cka(F + (long)a * S * D, D, F + (long)b * S * D, D, S);
        }
    int32_t *orig = ml_alloc(sizeof(int32_t) * S);
    for (int j = 0; j < S; j++) orig[j] = c->orig[st[j]];
    int64_t sr[3] = {E, S, S}, sf[3] = {E, S, D}, se[2] = {E, E}, s1[2] = {S, S};
    int rc = va_write_npy(c, "rsa_rdm.npy", "<f4", sr, 3, R) ||
             va_write_npy(c, "rsa_features.npy", "<f4", sf, 3, F) ||
             va_write_npy(c, "rsa_model_rdm.npy", "<f4", s1, 2, R + (long)E * S * S) ||
             va_write_npy(c, "rsa_stimuli.npy", "<i4", sr + 1, 1, orig) ||
             va_write_npy(c, "rsa_within.npy", "<f8", se, 2, w) ||
             va_write_npy(c, "rsa_within_cka.npy", "<f8", se, 2, k);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "stimuli", S);
    char rule[320];
    snprintf(rule, sizeof rule,
             "%s, drawn balanced across the %d level-0 classes ('%s'): each class's candidates "
             "in a random order seeded by the analysis seed %llu, places dealt round-robin over "
             "the classes; listed by class",
             c->set->concept ? "the first analysed image of each concept" : "single images",
             c->set->n_classes[0], c->set->level_names[0], (unsigned long long)c->o->seed);
    cJSON_AddStringToObject(j, "stimulus_rule", rule);
    cJSON_AddNumberToObject(j, "stimulus_seed", (double)c->o->seed);
    cJSON_AddItemToObject(j, "stimuli_per_class", class_counts(c, st, S));
    double model_vs[64];
    for (int e = 0; e < E && e < 64; e++)
        model_vs[e] = rsa_compare(R + (long)e * S * S, R + (long)E * S * S, S);
    cJSON_AddItemToObject(j, "expert_vs_model_rho",
                          cJSON_CreateDoubleArray(model_vs, E < 64 ? E : 64));
    double off = 0;
    for (int a = 0; a < E; a++)
        for (int b = 0; b < E; b++)
            if (a != b) off += w[a * E + b] / (E * (E - 1) > 0 ? E * (E - 1) : 1);
    cJSON_AddNumberToObject(j, "within_mean_offdiag_rho", off);
    cJSON_AddNumberToObject(c->summary, "rsa_within_mean_offdiag_rho", off);
    if (!rc) rc = va_write_json(c, "rsa.json", j);
    cJSON_Delete(j);
    ml_free(st), ml_free(F), ml_free(R), ml_free(w), ml_free(k), ml_free(orig);
    return rc ? -1 : 0;
}
