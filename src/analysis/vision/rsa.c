/* 5. RSA (RDMs compared by Spearman), linear CKA, and cross-run expert matching with a
 * stimulus-permutation null. */
/* 5. RSA over a model: per expert an RDM over a fixed stimulus set (one image per concept, else
 * single images, balanced across the level-0 classes), expert × expert comparisons within the run
 * (RDM Spearman and CKA), and the arrays `moelens compare` matches across seeds. */
#include "stats/hungarian.h"
#include "stats/stats.h"
#include "analysis/vision/rsa.h"
#include "analysis/vision/vision_analyze.h"
#include "core/mem.h"
#include "core/rng.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- array math (tested on constructed inputs) ---- */

void rsa_rdm(const float *feats, int S, int D, float *rdm) {
    double *z = ml_alloc(sizeof(double) * (size_t)S * D); /* rows centred, unit norm */
    for (int i = 0; i < S; i++) {
        double m = 0, ss = 0;
        for (int d = 0; d < D; d++) m += feats[(long)i * D + d];
        m /= D;
        for (int d = 0; d < D; d++) {
            double v = feats[(long)i * D + d] - m;
            z[(long)i * D + d] = v, ss += v * v;
        }
        double inv = ss > 0 ? 1 / sqrt(ss) : 0; /* constant row: correlation 0 → distance 1 */
        for (int d = 0; d < D; d++) z[(long)i * D + d] *= inv;
    }
    for (int i = 0; i < S; i++) {
        rdm[(long)i * S + i] = 0;
        for (int j = i + 1; j < S; j++) {
            double r = 0;
            for (int d = 0; d < D; d++) r += z[(long)i * D + d] * z[(long)j * D + d];
            rdm[(long)i * S + j] = rdm[(long)j * S + i] = (float)(1 - r);
        }
    }
    ml_free(z);
}

/* Upper triangle of rdm with stimuli relabelled by perm (NULL: identity). */
static void upper(const float *rdm, int S, const int *perm, double *out) {
    long t = 0;
    for (int i = 0; i < S; i++)
        for (int j = i + 1; j < S; j++) {
            int a = perm ? perm[i] : i, b = perm ? perm[j] : j;
            out[t++] = rdm[(long)a * S + b];
        }
}

static double rdm_spearman(const float *a, const float *b, int S) {
    long m = (long)S * (S - 1) / 2;
    double *x = ml_alloc(sizeof(double) * (m ? m : 1)), *y = ml_alloc(sizeof(double) * (m ? m : 1));
    upper(a, S, NULL, x);
    upper(b, S, NULL, y);
    double r = stat_spearman(x, y, (int)m);
    ml_free(x), ml_free(y);
    return r;
}

double rsa_compare(const float *a, const float *b, int S) {
    return rdm_spearman(a, b, S);
}

/* ‖AᵀB‖²_F for A [S, Da], B [S, Db] row-major (BLAS: this is the cost of the CKA null). */
static double frob2_cross(const double *A, int Da, const double *B, int Db, int S) {
    double *M = ml_alloc(sizeof(double) * (size_t)Da * Db), f = 0;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Da, Db, S, 1.0, A, Da, B, Db, 0.0, M, Db);
    for (long i = 0; i < (long)Da * Db; i++) f += M[i] * M[i];
    ml_free(M);
    return f;
}

/* Gram-free linear CKA via the D×D cross products of centred features (rows of Y permuted). */
static double cka_perm(const float *X, int Dx, const float *Y, int Dy, int S, const int *perm) {
    double *xc = ml_alloc(sizeof(double) * (size_t)S * Dx),
           *yc = ml_alloc(sizeof(double) * (size_t)S * Dy);
    for (int pass = 0; pass < 2; pass++) {
        const float *F = pass ? Y : X;
        double *o = pass ? yc : xc;
        int D = pass ? Dy : Dx;
        for (int d = 0; d < D; d++) {
            double m = 0;
            for (int i = 0; i < S; i++) m += F[(long)i * D + d];
            m /= S;
            for (int i = 0; i < S; i++) {
                int src = pass && perm ? perm[i] : i;
                o[(long)i * D + d] = F[(long)src * D + d] - m;
            }
        }
    }
    double xy = frob2_cross(xc, Dx, yc, Dy, S), xx = frob2_cross(xc, Dx, xc, Dx, S);
    double yy = frob2_cross(yc, Dy, yc, Dy, S);
    ml_free(xc), ml_free(yc);
    return xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : NAN;
}

double rsa_cka(const float *X, int Dx, const float *Y, int Dy, int S) {
    return cka_perm(X, Dx, Y, Dy, S, NULL);
}

void rsa_rank_rdms(const float *rdm, int E, int S, double *ranks) {
    long m = (long)S * (S - 1) / 2;
    double *x = ml_alloc(sizeof(double) * (m ? m : 1)), *r = ml_alloc(sizeof(double) * (m ? m : 1));
    for (int e = 0; e < E; e++) {
        const float *R = rdm + (long)e * S * S;
        double *o = ranks + (long)e * S * S;
        upper(R, S, NULL, x);
        stat_rank(x, (int)m, r);
        long t = 0;
        for (int i = 0; i < S; i++) {
            o[(long)i * S + i] = 0;
            for (int j = i + 1; j < S; j++, t++) o[(long)i * S + j] = o[(long)j * S + i] = r[t];
        }
    }
    ml_free(x), ml_free(r);
}

double rsa_sim_rdm(const void *ctx, int ea, int eb, const int *perm) {
    const RdmPair *p = ctx;
    int S = p->S;
    long m = (long)S * (S - 1) / 2, t = 0, s2 = (long)S * S;
    const double *A = p->rank_a + ea * s2, *B = p->rank_b + eb * s2;
    double *x = ml_alloc(sizeof(double) * (m ? m : 1)), *y = ml_alloc(sizeof(double) * (m ? m : 1));
    for (int i = 0; i < S; i++)
        for (int j = i + 1; j < S; j++, t++) {
            x[t] = A[(long)i * S + j];
            y[t] = perm ? B[(long)perm[i] * S + perm[j]] : B[(long)i * S + j];
        }
    double r = stat_pearson(x, y, (int)m);
    ml_free(x), ml_free(y);
    return r;
}

double rsa_sim_profile(const void *ctx, int ea, int eb, const int *perm) {
    const ProfilePair *p = ctx;
    double *y = ml_alloc(sizeof(double) * (p->A ? p->A : 1));
    for (int a = 0; a < p->A; a++) y[a] = p->b[(long)eb * p->A + (perm ? perm[a] : a)];
    double r = stat_pearson(p->a + (long)ea * p->A, y, p->A);
    ml_free(y);
    return r;
}

void rsa_cka_prepare(const float *feats, int E, int S, int D, double *centred, double *self) {
    for (int e = 0; e < E; e++) {
        const float *F = feats + (long)e * S * D;
        double *o = centred + (long)e * S * D;
        for (int d = 0; d < D; d++) {
            double m = 0;
            for (int i = 0; i < S; i++) m += F[(long)i * D + d];
            m /= S;
            for (int i = 0; i < S; i++) o[(long)i * D + d] = F[(long)i * D + d] - m;
        }
        self[e] = sqrt(frob2_cross(o, D, o, D, S));
    }
}

double rsa_sim_cka(const void *ctx, int ea, int eb, const int *perm) {
    const FeatPair *p = ctx;
    long sz = (long)p->S * p->D;
    const double *X = p->ca + ea * sz, *Y = p->cb + eb * sz;
    double *Yp = NULL;
    if (perm) {
        Yp = ml_alloc(sizeof(double) * sz);
        for (int i = 0; i < p->S; i++)
            memcpy(Yp + (long)i * p->D, Y + (long)perm[i] * p->D, sizeof(double) * p->D);
        Y = Yp;
    }
    double den = p->self_a[ea] * p->self_b[eb];
    double r = den > 0 ? frob2_cross(X, p->D, Y, p->D, p->S) / den : NAN;
    ml_free(Yp);
    return r;
}

static double matched_mean(const double *sim, int E, int *match) {
    hungarian_max(sim, E, match);
    double s = 0;
    int n = 0;
    for (int e = 0; e < E; e++)
        if (!isnan(sim[e * E + match[e]])) s += sim[e * E + match[e]], n++;
    return n ? s / n : NAN;
}

void rsa_match(SimFn sim, const void *ctx, int E, int n_perm_items, int P, uint64_t seed,
               double *simmat, int *match, MatchResult *r) {
    for (int a = 0; a < E; a++)
        for (int b = 0; b < E; b++) simmat[a * E + b] = sim(ctx, a, b, NULL);
    r->matched_mean = matched_mean(simmat, E, match);
    r->diag_mean = 0;
    for (int e = 0; e < E; e++) r->diag_mean += simmat[e * E + e] / E;
    double *null = ml_alloc(sizeof(double) * (P ? P : 1)), *s = ml_alloc(sizeof(double) * E * E);
    int *perm = ml_alloc(sizeof(int) * (n_perm_items ? n_perm_items : 1)),
        *m = ml_alloc(sizeof(int) * E);
    Rng rng;
    rng_seed(&rng, seed);
    for (int t = 0; t < P; t++) {
        stat_shuffle(perm, n_perm_items, &rng);
        for (int a = 0; a < E; a++)
            for (int b = 0; b < E; b++) s[a * E + b] = sim(ctx, a, b, perm);
        null[t] = matched_mean(s, E, m);
    }
    r->null_mean = stat_mean(null, P), r->null_sd = stat_sd(null, P);
    r->p = P ? stat_perm_p(r->matched_mean, null, P) : NAN;
    ml_free(null), ml_free(s), ml_free(perm), ml_free(m);
}

/* ---- over a model: files written ---- */

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
