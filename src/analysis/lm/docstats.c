/* Document-level bootstrap intervals for NMI(expert; domain), NMI(expert; token class), n50,
 * experts above the 100·k/E line and the perplexity cost of k' < k experts (docstats.h). */
#include "analysis/lm/docstats.h"
#include "stats/bootstrap.h"
#include "stats/stats.h"
#include "core/mem.h"
#include "dist/dist.h"
#include <math.h>
#include <string.h>

void docs_init(DocAcc *a, const LmModel *m, int D, int U, const char *unit, int B, uint64_t seed) {
    memset(a, 0, sizeof *a);
    a->L = an_moe_layers(m, a->layers);
    a->D = D, a->U = U, a->unit = unit, a->B = B, a->seed = seed;
    if (a->L) {
        const MoeConfig *f = &m->layer_ffn[a->layers[0]];
        a->EZ = f->n_experts + f->n_zero, a->k = f->top_k;
    }
    a->C = 1 + 2 * a->k;
    long le = (long)a->L * a->EZ;
    a->dom = ml_alloc(sizeof(int32_t) * (U + 1));
    for (int u = 0; u < U; u++) a->dom[u] = -1;
    a->top1 = ml_alloc(sizeof(double) * (U * le + 1));
    a->cls = ml_alloc(sizeof(double) * (U * le * TOKCLASS_COUNT + 1));
    a->picks = ml_alloc(sizeof(double) * (U * le + 1));
    a->tokens = ml_alloc(sizeof(double) * (U + 1));
    a->nll = ml_alloc(sizeof(double) * ((long)U * a->C + 1));
    a->scored = ml_alloc(sizeof(double) * (U + 1));
}

void docs_tokens(DocAcc *a, const AnBatch *b) {
    for (int n = 0; n < b->N; n++) {
        int u = b->units[n];
        if (a->dom[u] < 0) a->dom[u] = b->domains[n];
        a->tokens[u] += 1;
    }
}

void docs_layer(DocAcc *a, const AnBatch *b, const LmFfnRows *rows) {
    int l = an_moe_index(a->layers, a->L, rows->layer);
    if (l < 0) return;
    long le = (long)a->L * a->EZ;
    const MoeActs *m = rows->moe;
    for (int i = 0; i < rows->n; i++) {
        long n = rows->row0 + i;
        int u = b->units[n], best = 0;
        const float *w = m->topk_w + (long)i * m->k;
        const int32_t *id = m->topk_idx + (long)i * m->k;
        for (int j = 0; j < m->k; j++) {
            a->picks[u * le + (long)l * a->EZ + id[j]] += 1;
            if (w[j] > w[best]) best = j;
        }
        long e = u * le + (long)l * a->EZ + id[best];
        a->top1[e] += 1;
        a->cls[e * TOKCLASS_COUNT + b->classes[n]] += 1;
    }
}

void docs_add_nll(DocAcc *a, const AnBatch *b, int c) {
    for (int n = 0; n < b->N; n++) {
        if (b->targets[n] < 0) continue;
        a->nll[(long)b->units[n] * a->C + c] += b->m->losses[n];
        if (c == 0) a->scored[b->units[n]] += 1;
    }
}

void docs_reduce(DocAcc *a) {
    long le = (long)a->L * a->EZ, U = a->U;
    dist_max_i32(a->dom, U); /* a unit's domain where any rank saw it (-1 where none did) */
    dist_sum_f64(a->top1, U * le), dist_sum_f64(a->cls, U * le * TOKCLASS_COUNT);
    dist_sum_f64(a->picks, U * le), dist_sum_f64(a->tokens, U);
    dist_sum_f64(a->nll, U * a->C), dist_sum_f64(a->scored, U);
}

/* ---- statistics under unit weights ---- */

/* Each resample's statistics come from one pass over the units (boot_intervals): the sums for
 * "all" and for each domain are formed side by side, each in unit order, so every value is what a
 * pass of its own would give. */
typedef struct {
    const DocAcc *a;
    int l, col; /* layer; k' perplexity column (1 + (k' − 1)·2 + renorm) */
} Q;

enum { LOAD_STATS = 3 }; /* n50, experts with picks/tokens ≥ k/E, max share of tokens */

/* The load statistics of one set of units: picks c[E] over tok tokens into out[LOAD_STATS]. */
static void load_stats(const DocAcc *a, const double *c, double tok, double *out) {
    int E = a->EZ;
    double above = 0, max = 0;
    for (int e = 0; e < E; e++) {
        above += tok > 0 && c[e] / tok >= (double)a->k / E;
        max = tok > 0 && c[e] / tok > max ? c[e] / tok : max;
    }
    out[0] = stat_n50(c, E), out[1] = above, out[2] = max;
}

/* Layer l's statistics: NMI(top-1 expert; domain), NMI(top-1 expert; token class), then
 * LOAD_STATS for all units and for each domain's: 2 + LOAD_STATS·(D + 1) values. */
static void layer_stats(const double *w, void *ctx, double *out) {
    const Q *q = ctx;
    const DocAcc *a = q->a;
    const int E = a->EZ, D = a->D, Y = TOKCLASS_COUNT;
    const long le = (long)a->L * E;
    double *td = ml_alloc(sizeof(double) * E * D), *tc = ml_alloc(sizeof(double) * E * Y);
    double *c = ml_alloc(sizeof(double) * E * (D + 1)), *tok = ml_alloc(sizeof(double) * (D + 1));
    for (int u = 0; u < a->U; u++) {
        int d = a->dom[u];
        if (!w[u] || d < 0) continue;
        long i0 = u * le + (long)q->l * E;
        double *cd = c + (long)(1 + d) * E;
        tok[0] += w[u] * a->tokens[u], tok[1 + d] += w[u] * a->tokens[u];
        for (int e = 0; e < E; e++) {
            double p = w[u] * a->picks[i0 + e];
            td[e * D + d] += w[u] * a->top1[i0 + e];
            for (int y = 0; y < Y; y++) tc[e * Y + y] += w[u] * a->cls[(i0 + e) * Y + y];
            c[e] += p, cd[e] += p;
        }
    }
    out[0] = stat_nmi(td, E, D, NULL, NULL), out[1] = stat_nmi(tc, E, Y, NULL, NULL);
    for (int g = 0; g <= D; g++) load_stats(a, c + (long)g * E, tok[g], out + 2 + LOAD_STATS * g);
    ml_free(td), ml_free(tc), ml_free(c), ml_free(tok);
}

/* 100·(PPL(column col) / PPL(full) − 1) (token-weighted NLL) over all units, then each domain's:
 * D + 1 values. */
static void ppl_stats(const double *w, void *ctx, double *out) {
    const Q *q = ctx;
    const DocAcc *a = q->a;
    const int D = a->D;
    double *s = ml_alloc(sizeof(double) * 3 * (D + 1)); /* x, f, n of each set */
    for (int u = 0; u < a->U; u++) {
        int d = a->dom[u];
        if (!w[u] || d < 0) continue;
        double x = w[u] * a->nll[(long)u * a->C + q->col], f = w[u] * a->nll[(long)u * a->C];
        double n = w[u] * a->scored[u];
        double *all = s, *dom = s + 3 * (1 + d);
        all[0] += x, all[1] += f, all[2] += n;
        dom[0] += x, dom[1] += f, dom[2] += n;
    }
    for (int g = 0; g <= D; g++)
        out[g] = s[3 * g + 2] > 0 ? 100 * expm1((s[3 * g] - s[3 * g + 1]) / s[3 * g + 2]) : NAN;
    ml_free(s);
}

static cJSON *interval_json(double v, double lo, double hi) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "value", v);
    cJSON_AddNumberToObject(o, "lo", lo);
    cJSON_AddNumberToObject(o, "hi", hi);
    return o;
}

/* Intervals of K statistics, value/lo/hi[K] (one array of 3K). */
static double *intervals(const DocAcc *a, const int *strata, BootStats f, Q q, int K) {
    BootPlan p = {a->U, strata, a->B, a->seed, 0.95};
    double *r = ml_alloc(sizeof(double) * 3 * K);
    boot_intervals(&p, f, &q, K, r, r + K, r + 2 * K);
    return r;
}

/* {"all": interval, domain: interval, ...}: statistic i of "all" and i + stride·(1 + d) of
 * domain d, in r (intervals' layout, K statistics). */
static cJSON *by_domain(const DocAcc *a, const double *r, int K, int i, int stride,
                        const char *const *names, const double *dom_tok) {
    cJSON *o = cJSON_CreateObject();
    for (int g = 0; g <= a->D; g++) {
        int s = i + stride * g;
        if (g && dom_tok[g - 1] <= 0) continue;
        cJSON_AddItemToObject(o, g ? names[g - 1] : "all",
                              interval_json(r[s], r[K + s], r[2 * K + s]));
    }
    return o;
}

/* One layer's intervals: NMI (domain, class) and the load statistics per domain. */
static cJSON *layer_json(const DocAcc *a, int l, const int *strata, const char *const *names,
                         const double *dom_tok) {
    static const char *load_names[LOAD_STATS] = {"n50", "above_threshold", "max_share_tokens"};
    int K = 2 + LOAD_STATS * (a->D + 1);
    double *r = intervals(a, strata, layer_stats, (Q){a, l, 0}, K);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "layer", a->layers[l]);
    cJSON_AddItemToObject(o, "nmi_domain", interval_json(r[0], r[K], r[2 * K]));
    cJSON_AddItemToObject(o, "nmi_class", interval_json(r[1], r[K + 1], r[2 * K + 1]));
    for (int i = 0; i < LOAD_STATS; i++)
        cJSON_AddItemToObject(o, load_names[i],
                              by_domain(a, r, K, 2 + i, LOAD_STATS, names, dom_tok));
    ml_free(r);
    return o;
}

/* The perplexity cost of k' column col, per domain. */
static cJSON *ppl_json(const DocAcc *a, int col, const int *strata, const char *const *names,
                       const double *dom_tok) {
    int K = a->D + 1;
    double *r = intervals(a, strata, ppl_stats, (Q){a, 0, col}, K);
    cJSON *o = by_domain(a, r, K, 0, 1, names, dom_tok);
    ml_free(r);
    return o;
}

cJSON *docs_json(const DocAcc *a, const char *const *names) {
    int *strata = ml_alloc(sizeof(int) * (a->U + 1)), *units = ml_alloc(sizeof(int) * (a->D + 1));
    int *strata_ppl = ml_alloc(sizeof(int) * (a->U + 1)); /* units the k' forwards scored */
    double *dom_tok = ml_alloc(sizeof(double) * (a->D + 1)), scored = 0;
    for (int u = 0; u < a->U; u++) {
        strata[u] = a->tokens[u] > 0 ? a->dom[u] : -1;
        strata_ppl[u] = a->scored[u] > 0 ? a->dom[u] : -1;
        if (strata[u] >= 0) units[strata[u]]++, dom_tok[strata[u]] += a->tokens[u];
        scored += a->scored[u];
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "unit", a->unit);
    cJSON_AddNumberToObject(j, "resamples", a->B);
    cJSON_AddNumberToObject(j, "level", 0.95);
    cJSON_AddStringToObject(j, "method",
                            "percentile bootstrap, units resampled within each domain");
    cJSON *un = cJSON_AddObjectToObject(j, "units");
    for (int d = 0; d < a->D; d++)
        if (units[d]) cJSON_AddNumberToObject(un, names[d], units[d]);
    /* every layer's and k' column's intervals resample on their own (seeded alike), so they go
     * to the threads and their objects join the document in order: the same bytes as serially */
    int L = a->L, P = scored > 0 ? 2 * a->k : 0;
    cJSON **part = ml_alloc(sizeof(cJSON *) * (L + P + 1));
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < L + P; i++)
        part[i] = i < L ? layer_json(a, i, strata, names, dom_tok)
                        : ppl_json(a, 1 + (i - L), strata_ppl, names, dom_tok);
    cJSON *ls = cJSON_AddArrayToObject(j, "layers");
    for (int l = 0; l < L; l++) cJSON_AddItemToArray(ls, part[l]);
    if (P) {
        cJSON *pp = cJSON_AddObjectToObject(j, "ppl_increase_pct");
        cJSON_AddNumberToObject(pp, "scored_tokens", scored);
        const char *wn[2] = {"raw", "renorm"};
        for (int rn = 0; rn < 2; rn++) { /* column 1 + (k' - 1)·2 + rn */
            cJSON *arr = cJSON_AddArrayToObject(pp, wn[rn]);
            for (int kp = 1; kp <= a->k; kp++)
                cJSON_AddItemToArray(arr, part[L + (kp - 1) * 2 + rn]);
        }
    }
    ml_free(part);
    ml_free(strata), ml_free(strata_ppl), ml_free(units), ml_free(dom_tok);
    return j;
}

int docs_write(const DocAcc *a, const char *dir, const char *const *names) {
    cJSON *j = docs_json(a, names);
    int rc = an_write_json(dir, "bootstrap.json", j);
    cJSON_Delete(j);
    return rc;
}

void docs_free(DocAcc *a) {
    ml_free(a->dom), ml_free(a->top1), ml_free(a->cls), ml_free(a->picks), ml_free(a->tokens);
    ml_free(a->nll), ml_free(a->scored);
    memset(a, 0, sizeof *a);
}
