/* 4. Semantic tuning: concept-level responses against semantic dimensions. */
/* 4. Semantic tuning over a model: concept-level responses (readout norm of the force-run expert,
 * and gate probability) against each semantic dimension of a concept × dimension matrix. */
#include "stats/stats.h"
#include "analysis/vision/separability.h"
#include "analysis/vision/tuning.h"
#include "analysis/vision/vision_analyze.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- array math (tested on constructed inputs) ---- */

void vtune_concept_mean(const double *s, const int32_t *concept, int n, int C, double *out) {
    int *cnt = ml_alloc(sizeof(int) * (C ? C : 1));
    for (int c = 0; c < C; c++) out[c] = 0;
    for (int i = 0; i < n; i++)
        if (concept[i] >= 0 && concept[i] < C) out[concept[i]] += s[i], cnt[concept[i]]++;
    for (int c = 0; c < C; c++) out[c] = cnt[c] ? out[c] / cnt[c] : NAN;
    ml_free(cnt);
}

void vtune_spearman(const double *resp, const float *attr, int C, int A, double *rho) {
    double *x = ml_alloc(sizeof(double) * (C ? C : 1)), *y = ml_alloc(sizeof(double) * (C ? C : 1));
    for (int a = 0; a < A; a++) {
        int m = 0;
        for (int c = 0; c < C; c++)
            if (isfinite(resp[c])) x[m] = resp[c], y[m] = attr[(long)c * A + a], m++;
        rho[a] = stat_spearman(x, y, m);
    }
    ml_free(x), ml_free(y);
}

/* Solves the symmetric positive definite system M β = v (size A) in place by Cholesky. */
static int cholesky_solve(double *M, double *v, int A) {
    for (int j = 0; j < A; j++) {
        double d = M[(long)j * A + j];
        for (int k = 0; k < j; k++) d -= M[(long)j * A + k] * M[(long)j * A + k];
        if (d <= 0) return -1;
        d = sqrt(d);
        M[(long)j * A + j] = d;
        for (int i = j + 1; i < A; i++) {
            double s = M[(long)i * A + j];
            for (int k = 0; k < j; k++) s -= M[(long)i * A + k] * M[(long)j * A + k];
            M[(long)i * A + j] = s / d;
        }
    }
    for (int i = 0; i < A; i++) { /* L z = v */
        for (int k = 0; k < i; k++) v[i] -= M[(long)i * A + k] * v[k];
        v[i] /= M[(long)i * A + i];
    }
    for (int i = A - 1; i >= 0; i--) { /* Lᵀ β = z */
        for (int k = i + 1; k < A; k++) v[i] -= M[(long)k * A + i] * v[k];
        v[i] /= M[(long)i * A + i];
    }
    return 0;
}

double vtune_ridge_cv_r2(const double *resp, const float *attr, const int32_t *fold, int C, int A,
                         double lambda) {
    int F = 0;
    for (int c = 0; c < C; c++)
        if (isfinite(resp[c]) && fold[c] + 1 > F) F = fold[c] + 1;
    if (F < 2) return NAN;
    double *mu = ml_alloc(sizeof(double) * A), *sd = ml_alloc(sizeof(double) * A);
    double *M = ml_alloc(sizeof(double) * A * A), *v = ml_alloc(sizeof(double) * A);
    double *z = ml_alloc(sizeof(double) * A), *pred = ml_alloc(sizeof(double) * (C ? C : 1));
    for (int f = 0; f < F; f++) {
        int ntr = 0;
        double ym = 0;
        memset(mu, 0, sizeof(double) * A), memset(sd, 0, sizeof(double) * A);
        for (int c = 0; c < C; c++)
            if (isfinite(resp[c]) && fold[c] != f) {
                ntr++, ym += resp[c];
                for (int a = 0; a < A; a++) mu[a] += attr[(long)c * A + a];
            }
        if (!ntr) continue;
        ym /= ntr;
        for (int a = 0; a < A; a++) mu[a] /= ntr;
        for (int c = 0; c < C; c++)
            if (isfinite(resp[c]) && fold[c] != f)
                for (int a = 0; a < A; a++) {
                    double d = attr[(long)c * A + a] - mu[a];
                    sd[a] += d * d;
                }
        for (int a = 0; a < A; a++) sd[a] = sd[a] > 0 ? sqrt(sd[a] / ntr) : 1; /* constant: 0s */
        memset(M, 0, sizeof(double) * A * A), memset(v, 0, sizeof(double) * A);
        for (int c = 0; c < C; c++) {
            if (!isfinite(resp[c]) || fold[c] == f) continue;
            for (int a = 0; a < A; a++) z[a] = (attr[(long)c * A + a] - mu[a]) / sd[a];
            for (int a = 0; a < A; a++) {
                v[a] += z[a] * (resp[c] - ym);
                for (int b = 0; b <= a; b++) M[(long)a * A + b] += z[a] * z[b];
            }
        }
        for (int a = 0; a < A; a++) {
            for (int b = 0; b < a; b++) M[(long)b * A + a] = M[(long)a * A + b];
            M[(long)a * A + a] += lambda;
        }
        if (cholesky_solve(M, v, A)) continue; /* λ > 0 makes this unreachable */
        for (int c = 0; c < C; c++) {
            if (!isfinite(resp[c]) || fold[c] != f) continue;
            double y = ym;
            for (int a = 0; a < A; a++) y += v[a] * (attr[(long)c * A + a] - mu[a]) / sd[a];
            pred[c] = y;
        }
    }
    double m = 0, sse = 0, sst = 0;
    int n = 0;
    for (int c = 0; c < C; c++)
        if (isfinite(resp[c])) m += resp[c], n++;
    m /= n;
    for (int c = 0; c < C; c++)
        if (isfinite(resp[c]))
            sse += (resp[c] - pred[c]) * (resp[c] - pred[c]), sst += (resp[c] - m) * (resp[c] - m);
    ml_free(mu), ml_free(sd), ml_free(M), ml_free(v), ml_free(z), ml_free(pred);
    return sst > 0 ? 1 - sse / sst : NAN;
}

/* ---- over a model: files written ---- */

static char **read_names(const char *json_path, int *n) {
    char *buf;
    size_t len;
    *n = 0;
    if (!ml_file_exists(json_path) || ml_read_file(json_path, &buf, &len)) return NULL;
    cJSON *j = cJSON_Parse(buf), *a = cJSON_GetObjectItem(j, "names"), *it;
    ml_free(buf);
    char **out = cJSON_IsArray(a) ? ml_alloc(sizeof(char *) * (cJSON_GetArraySize(a) + 1)) : NULL;
    cJSON_ArrayForEach(it, a) out[(*n)++] = ml_strdup(cJSON_IsString(it) ? it->valuestring : "?");
    cJSON_Delete(j);
    return out;
}

/* Dimension names: attributes.json for the binary matrix; an NMF dimension is named by its three
 * heaviest attributes in attributes_nmf_basis.npy; else FILE.json "names"; else dim<k>. */
static char **dim_names(const char *path, int A) {
    char **out = ml_alloc(sizeof(char *) * A), *dir = ml_strdup(path), *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    int m = 0;
    char *an = ml_path_join(dir, "attributes.json");
    char **attr = read_names(an, &m);
    char buf[512];
    NpyArray basis = {0};
    char *bp = ml_path_join(dir, "attributes_nmf_basis.npy");
    int nmf = !strcmp(base, "attributes_nmf.npy") && attr && ml_file_exists(bp) &&
              npy_read(bp, &basis) == 0 && basis.ndim == 2 && basis.shape[0] == A &&
              basis.shape[1] == m && !strcmp(basis.dtype, "<f4");
    int named = !strcmp(base, "attributes.npy") && attr && m == A;
    char **own = NULL;
    int own_n = 0;
    if (!nmf && !named) {
        snprintf(buf, sizeof buf, "%.*s.json", (int)(strlen(path) - 4), path);
        own = read_names(buf, &own_n);
    }
    for (int a = 0; a < A; a++) {
        if (nmf) {
            const float *h = (const float *)basis.data + (long)a * m;
            int best[3] = {-1, -1, -1};
            for (int t = 0; t < 3; t++)
                for (int q = 0; q < m; q++)
                    if (q != best[0] && q != best[1] && (best[t] < 0 || h[q] > h[best[t]]))
                        best[t] = q;
            snprintf(buf, sizeof buf, "nmf%d: %s, %s, %s", a, best[0] >= 0 ? attr[best[0]] : "",
                     best[1] >= 0 ? attr[best[1]] : "", best[2] >= 0 ? attr[best[2]] : "");
        } else if (named)
            snprintf(buf, sizeof buf, "%s", attr[a]);
        else if (own && own_n == A)
            snprintf(buf, sizeof buf, "%s", own[a]);
        else
            snprintf(buf, sizeof buf, "dim%d", a);
        out[a] = ml_strdup(buf);
    }
    for (int i = 0; i < m; i++) ml_free(attr[i]);
    for (int i = 0; i < own_n; i++) ml_free(own[i]);
    ml_free(attr), ml_free(own), ml_free(an), ml_free(bp), ml_free(dir);
    npy_free(&basis);
    return out;
}

static char *default_attributes(const char *images) {
    if (!images) return NULL;
    char *p = ml_path_join(images, "attributes_nmf.npy");
    if (ml_file_exists(p)) return p;
    ml_free(p);
    p = ml_path_join(images, "attributes.npy");
    if (ml_file_exists(p)) return p;
    ml_free(p);
    return NULL;
}

/* Names the 5 dimensions with the largest |ρ| of one expert's profile. */
static cJSON *top_dims(const double *rho, int A, char **names) {
    char *taken = ml_alloc(A ? A : 1);
    int order[5];
    for (int t = 0; t < 5 && t < A; t++) { /* selection: A is small and only 5 are wanted */
        int best = -1;
        for (int a = 0; a < A; a++)
            if (!taken[a] && (best < 0 || (isnan(rho[best]) && !isnan(rho[a])) ||
                              fabs(rho[a]) > fabs(rho[best])))
                best = a;
        order[t] = best, taken[best] = 1;
    }
    cJSON *arr = cJSON_CreateArray();
    for (int t = 0; t < 5 && t < A; t++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dim", names[order[t]]);
        cJSON_AddNumberToObject(o, "rho", rho[order[t]]);
        cJSON_AddItemToArray(arr, o);
    }
    ml_free(taken);
    return arr;
}

int va_tuning(VaCtx *c) {
    const ImageSet *s = c->set;
    cJSON *j = cJSON_CreateObject();
    char *path =
        c->o->attributes ? ml_strdup(c->o->attributes) : default_attributes(c->o->images_path);
    if (!s->concept || !path) {
        cJSON_AddStringToObject(j, "skipped",
                                !s->concept ? "the image set has no concepts"
                                            : "no --attributes and none in the set");
        int rc = va_write_json(c, "tuning.json", j);
        cJSON_Delete(j), ml_free(path);
        return rc;
    }
    NpyArray X;
    if (npy_read(path, &X)) return cJSON_Delete(j), ml_free(path), -1;
    int C = s->n_concepts, E = c->E, n = c->n;
    if (X.ndim != 2 || X.shape[0] != C || strcmp(X.dtype, "<f4")) {
        int rc = ml_error("%s: expected float32 [%d concepts, dims], got %s with %d dims", path, C,
                          X.dtype, X.ndim);
        npy_free(&X), cJSON_Delete(j), ml_free(path);
        return rc;
    }
    int A = (int)X.shape[1];
    const float *attr = X.data;
    char **names = dim_names(path, A);
    double *sv = ml_alloc(sizeof(double) * n), *resp = ml_alloc(sizeof(double) * 2 * E * C);
    double *rho = ml_alloc(sizeof(double) * 2 * E * A), *r2 = ml_alloc(sizeof(double) * 2 * E);
    int32_t *fold = ml_alloc(sizeof(int32_t) * C), *grp = ml_alloc(sizeof(int32_t) * C);
    for (int q = 0; q < C; q++) grp[q] = s->fold_group ? s->fold_group[q] : q;
    int folds = vsep_group_folds(grp, C, c->o->folds, c->o->seed, fold);
    int ridge = A <= 64 && folds >= 2; /* normal equations: A³ per fold */
    cJSON_AddStringToObject(j, "attributes", path);
    cJSON_AddItemToObject(j, "dims", cJSON_CreateStringArray((const char *const *)names, A));
    cJSON *ex = cJSON_AddArrayToObject(j, "experts");
    for (int by = 0; by < 2; by++)
        for (int e = 0; e < E; e++) {
            for (int i = 0; i < n; i++)
                sv[i] = by ? c->probs[(long)i * E + e] : va_readout_norm(c, e, i);
            double *rp = resp + ((long)by * E + e) * C, *rh = rho + ((long)by * E + e) * A;
            vtune_concept_mean(sv, s->concept, n, C, rp);
            vtune_spearman(rp, attr, C, A, rh);
            r2[by * E + e] =
                ridge ? vtune_ridge_cv_r2(rp, attr, fold, C, A, c->o->ridge_lambda) : NAN;
        }
    for (int e = 0; e < E; e++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "expert", e);
        cJSON_AddItemToObject(o, "top_readout", top_dims(rho + (long)e * A, A, names));
        cJSON_AddItemToObject(o, "top_gate", top_dims(rho + (long)(E + e) * A, A, names));
        cJSON_AddNumberToObject(o, "ridge_cv_r2_readout", r2[e]);
        cJSON_AddNumberToObject(o, "ridge_cv_r2_gate", r2[E + e]);
        cJSON_AddItemToArray(ex, o);
    }
    int64_t sh[2] = {E, A}, shr[2] = {E, C};
    int rc = va_write_npy(c, "tuning_readout_rho.npy", "<f8", sh, 2, rho) ||
             va_write_npy(c, "tuning_gate_rho.npy", "<f8", sh, 2, rho + (long)E * A) ||
             va_write_npy(c, "tuning_readout_concept.npy", "<f8", shr, 2, resp) ||
             va_write_npy(c, "tuning_gate_concept.npy", "<f8", shr, 2, resp + (long)E * C);
    char *cp = ml_path_join(c->o->out_dir, "tuning.csv");
    AtomicFile csv;
    if (!rc && !(rc = afile_open(&csv, cp))) {
        afile_printf(&csv, "response,expert,dim,name,rho\n");
        for (int by = 0; by < 2; by++)
            for (int e = 0; e < E; e++)
                for (int a = 0; a < A; a++)
                    afile_printf(&csv, "%s,%d,%d,\"%s\",%.6g\n", by ? "gate" : "readout", e, a,
                                 names[a], rho[((long)by * E + e) * A + a]);
        rc = afile_commit(&csv);
    }
    if (!rc) rc = va_write_json(c, "tuning.json", j);
    for (int a = 0; a < A; a++) ml_free(names[a]);
    ml_free(names), ml_free(r2), ml_free(sv), ml_free(resp), ml_free(rho), ml_free(fold),
        ml_free(grp), ml_free(cp);
    ml_free(path), npy_free(&X), cJSON_Delete(j);
    return rc ? -1 : 0;
}
