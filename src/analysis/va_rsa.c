/* 5. RSA over a model: per expert an RDM over a fixed stimulus set (one image per concept, else
 * classes taken in turn), expert × expert comparisons within the run (RDM Spearman and CKA), and
 * the arrays `moelens compare` matches across seeds. */
#include "analysis/vision_an.h"
#include "analysis/vision_analyze.h"
#include "core/mem.h"
#include <string.h>

/* Stimuli: the first image of each concept (concept order), else the first images of each level-0
 * class in turn; deterministic given the analysed images, so equal across runs. */
static int pick_stimuli(const VaCtx *c, int max, int *st) {
    const ImageSet *s = c->set;
    int S = 0;
    if (s->concept) {
        int *first = ml_alloc(sizeof(int) * (s->n_concepts ? s->n_concepts : 1));
        for (int q = 0; q < s->n_concepts; q++) first[q] = -1;
        for (int i = c->n - 1; i >= 0; i--)
            if (s->concept[i] >= 0) first[s->concept[i]] = i;
        for (int q = 0; q < s->n_concepts && S < max; q++)
            if (first[q] >= 0) st[S++] = first[q];
        ml_free(first);
        if (S >= 2) return S;
        S = 0;
    }
    int K = s->n_classes[0];
    int *next = ml_alloc(sizeof(int) * K); /* next unused image index per class */
    char *used = ml_alloc(c->n);
    for (int round = 0, added = 1; added && S < max; round++) {
        added = 0;
        for (int k = 0; k < K && S < max; k++) {
            while (next[k] < c->n && (s->labels[next[k]] != k || used[next[k]])) next[k]++;
            if (next[k] < c->n) st[S++] = next[k], used[next[k]] = 1, added = 1;
        }
    }
    ml_free(next), ml_free(used);
    return S;
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
    cJSON_AddStringToObject(j, "stimulus_rule",
                            c->set->concept ? "first image of each concept"
                                            : "level-0 classes in turn");
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
