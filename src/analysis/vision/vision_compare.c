/* Cross-seed comparison of vision runs' experts: RSA, CKA, tuning, animacy. */
#include "analysis/vision/vision_compare.h"
#include "analysis/lm/analysis.h"
#include "stats/stats.h"
#include "analysis/vision/rsa.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include "core/rng.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    NpyArray rdm, feats, stim, tune;
    int has_tune, has_anim, E, S, D, A;
    double *anim; /* [E] gate animacy index, when gating found one */
} RunArrays;

static int load_npy(const char *dir, const char *name, const char *dtype, int ndim, NpyArray *a,
                    int optional) {
    char *p = ml_path_join(dir, name);
    int rc;
    if (optional && !ml_file_exists(p))
        rc = 1;
    else if ((rc = npy_read(p, a)) == 0 && (a->ndim != ndim || strcmp(a->dtype, dtype)))
        rc = ml_error("%s: expected %s with %d dims, got %s with %d (re-run moelens analyze)", p,
                      dtype, ndim, a->dtype, a->ndim);
    ml_free(p);
    return rc;
}

static int load_run(const char *run, const char *analysis, RunArrays *r) {
    memset(r, 0, sizeof *r);
    char *dir = ml_path_join(run, analysis);
    int rc = load_npy(dir, "rsa_rdm.npy", "<f4", 3, &r->rdm, 0) ||
             load_npy(dir, "rsa_features.npy", "<f4", 3, &r->feats, 0) ||
             load_npy(dir, "rsa_stimuli.npy", "<i4", 1, &r->stim, 0);
    if (!rc) {
        r->E = (int)r->rdm.shape[0], r->S = (int)r->rdm.shape[1], r->D = (int)r->feats.shape[2];
        int t = load_npy(dir, "tuning_readout_rho.npy", "<f8", 2, &r->tune, 1);
        if (t < 0) rc = -1;
        r->has_tune = t == 0, r->A = t == 0 ? (int)r->tune.shape[1] : 0;
        char *g = ml_path_join(dir, "gating.json"), *buf;
        size_t len;
        if (ml_file_exists(g) && ml_read_file(g, &buf, &len) == 0) {
            cJSON *j = cJSON_Parse(buf);
            cJSON *idx = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "animacy"), "index");
            if (cJSON_IsArray(idx) && cJSON_GetArraySize(idx) == r->E) {
                r->anim = ml_alloc(sizeof(double) * r->E), r->has_anim = 1;
                for (int e = 0; e < r->E; e++) {
                    cJSON *v = cJSON_GetArrayItem(idx, e);
                    r->anim[e] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
                }
            }
            cJSON_Delete(j), ml_free(buf);
        }
        ml_free(g);
    }
    ml_free(dir);
    return rc ? -1 : 0;
}

static void free_run(RunArrays *r) {
    npy_free(&r->rdm), npy_free(&r->feats), npy_free(&r->stim), npy_free(&r->tune);
    ml_free(r->anim);
}

static cJSON *match_json(const double *sim, const int *match, const MatchResult *m, int E) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "match", cJSON_CreateIntArray(match, E));
    double *ms = ml_alloc(sizeof(double) * E);
    for (int e = 0; e < E; e++) ms[e] = sim[e * E + match[e]];
    cJSON_AddItemToObject(o, "matched", cJSON_CreateDoubleArray(ms, E));
    cJSON_AddNumberToObject(o, "matched_mean", m->matched_mean);
    cJSON_AddNumberToObject(o, "identity_mean", m->diag_mean);
    cJSON_AddNumberToObject(o, "null_mean", m->null_mean);
    cJSON_AddNumberToObject(o, "null_sd", m->null_sd);
    cJSON_AddNumberToObject(o, "p", m->p);
    ml_free(ms);
    return o;
}

/* Pearson of matched experts' animacy indices, and its null over random pairings. */
static cJSON *animacy_json(const RunArrays *a, const RunArrays *b, const int *match, int P,
                           uint64_t seed) {
    int E = a->E, *perm = ml_alloc(sizeof(int) * E);
    double *x = ml_alloc(sizeof(double) * E), *y = ml_alloc(sizeof(double) * E);
    double *null = ml_alloc(sizeof(double) * (P ? P : 1));
    for (int e = 0; e < E; e++) x[e] = a->anim[e], y[e] = b->anim[match[e]];
    double r = stat_pearson(x, y, E);
    Rng rng;
    rng_seed(&rng, seed);
    for (int t = 0; t < P; t++) {
        stat_shuffle(perm, E, &rng);
        for (int e = 0; e < E; e++) y[e] = b->anim[perm[e]];
        null[t] = stat_pearson(x, y, E);
        if (isnan(null[t])) null[t] = -2;
    }
    cJSON *o = cJSON_CreateObject();
    for (int e = 0; e < E; e++) y[e] = b->anim[match[e]];
    cJSON_AddItemToObject(o, "index_a", cJSON_CreateDoubleArray(x, E));
    cJSON_AddItemToObject(o, "index_b_matched", cJSON_CreateDoubleArray(y, E));
    cJSON_AddNumberToObject(o, "pearson", r);
    cJSON_AddNumberToObject(o, "p", stat_perm_p(r, null, P));
    ml_free(perm), ml_free(x), ml_free(y), ml_free(null);
    return o;
}

static int compare_pair(const RunArrays *a, const RunArrays *b, int ia, int ib, int P,
                        uint64_t seed, const char *out_dir, cJSON *pair) {
    int E = a->E, S = a->S, match[256];
    double *sim = ml_alloc(sizeof(double) * E * E);
    MatchResult m;
    char name[96];
    int64_t sh[2] = {E, E};
    int rc = 0;
    double *ra = ml_alloc(sizeof(double) * E * S * S), *rb = ml_alloc(sizeof(double) * E * S * S);
    rsa_rank_rdms(a->rdm.data, E, S, ra);
    rsa_rank_rdms(b->rdm.data, E, S, rb);
    RdmPair rp = {ra, rb, S};
    rsa_match(rsa_sim_rdm, &rp, E, S, P, seed, sim, match, &m);
    ml_free(ra), ml_free(rb);
    cJSON_AddItemToObject(pair, "rsa", match_json(sim, match, &m, E));
    snprintf(name, sizeof name, "pair%d_%d_rsa.npy", ia, ib);
    if (out_dir) rc = an_write_npy(out_dir, name, "<f8", sh, 2, sim);
    if (a->has_anim && b->has_anim)
        cJSON_AddItemToObject(pair, "animacy", animacy_json(a, b, match, P, seed + 2));
    long sz = (long)E * S * a->D;
    double *ca = ml_alloc(sizeof(double) * sz), *cb = ml_alloc(sizeof(double) * sz);
    double *na = ml_alloc(sizeof(double) * E), *nb = ml_alloc(sizeof(double) * E);
    rsa_cka_prepare(a->feats.data, E, S, a->D, ca, na);
    rsa_cka_prepare(b->feats.data, E, S, a->D, cb, nb);
    FeatPair fp = {ca, cb, na, nb, S, a->D};
    rsa_match(rsa_sim_cka, &fp, E, S, P, seed + 1, sim, match, &m);
    ml_free(ca), ml_free(cb), ml_free(na), ml_free(nb);
    cJSON_AddItemToObject(pair, "cka", match_json(sim, match, &m, E));
    snprintf(name, sizeof name, "pair%d_%d_cka.npy", ia, ib);
    if (out_dir && !rc) rc = an_write_npy(out_dir, name, "<f8", sh, 2, sim);
    if (a->has_tune && b->has_tune && a->A == b->A) {
        ProfilePair pp = {a->tune.data, b->tune.data, a->A};
        rsa_match(rsa_sim_profile, &pp, E, a->A, P, seed + 3, sim, match, &m);
        cJSON_AddItemToObject(pair, "tuning", match_json(sim, match, &m, E));
        snprintf(name, sizeof name, "pair%d_%d_tuning.npy", ia, ib);
        if (out_dir && !rc) rc = an_write_npy(out_dir, name, "<f8", sh, 2, sim);
    }
    ml_free(sim);
    return rc;
}

int vision_compare_runs(const char *const *runs, int n, const char *analysis, int perms,
                        uint64_t seed, const char *out_dir, cJSON **out) {
    if (n < 2) return ml_error("compare: vision runs need at least 2 runs to match experts");
    RunArrays *r = ml_alloc(sizeof(RunArrays) * n);
    int rc = 0, loaded = 0;
    for (; loaded < n && !rc; loaded++) rc = load_run(runs[loaded], analysis, &r[loaded]);
    for (int i = 1; i < n && !rc; i++)
        if (r[i].E != r[0].E || r[i].S != r[0].S || r[i].D != r[0].D ||
            memcmp(r[i].stim.data, r[0].stim.data, sizeof(int32_t) * r[0].S))
            rc = ml_error("compare: %s and %s were analysed on different stimuli or shapes "
                          "(experts %d/%d, stimuli %d/%d): analyse both on the same --images",
                          runs[0], runs[i], r[0].E, r[i].E, r[0].S, r[i].S);
    if (!rc && r[0].E > 256) rc = ml_error("compare: at most 256 experts");
    if (!rc && out_dir) rc = ml_mkdir_p(out_dir);
    cJSON *j = cJSON_CreateObject(), *pairs = cJSON_AddArrayToObject(j, "pairs");
    cJSON_AddStringToObject(j, "kind", "vision");
    cJSON_AddItemToObject(j, "runs", cJSON_CreateStringArray(runs, n));
    cJSON_AddNumberToObject(j, "experts", r[0].E);
    cJSON_AddNumberToObject(j, "stimuli", r[0].S);
    cJSON_AddNumberToObject(j, "permutations", perms);
    for (int a = 0; a < n && !rc; a++)
        for (int b = a + 1; b < n && !rc; b++) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "a", a);
            cJSON_AddNumberToObject(p, "b", b);
            cJSON_AddItemToArray(pairs, p);
            rc = compare_pair(&r[a], &r[b], a, b, perms, seed, out_dir, p);
        }
    if (!rc && out_dir) rc = an_write_json(out_dir, "compare_vision.json", j);
    for (int i = 0; i < loaded; i++) free_run(&r[i]);
    ml_free(r);
    if (rc) {
        cJSON_Delete(j);
        return -1;
    }
    *out = j;
    return 0;
}
