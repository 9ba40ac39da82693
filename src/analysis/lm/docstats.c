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

typedef struct {
    const DocAcc *a;
    int l, d, what,
        col; /* layer, domain (−1 all), what: 0 NMI domain, 1 NMI class, 2 n50, 3 above */
} Q;

static double nmi_stat(const double *w, void *ctx) {
    const Q *q = ctx;
    const DocAcc *a = q->a;
    int Y = q->what ? TOKCLASS_COUNT : a->D, E = a->EZ;
    long le = (long)a->L * E;
    double *t = ml_alloc(sizeof(double) * E * Y);
    for (int u = 0; u < a->U; u++) {
        if (!w[u] || a->dom[u] < 0) continue;
        for (int e = 0; e < E; e++) {
            long i = u * le + (long)q->l * E + e;
            if (q->what)
                for (int y = 0; y < Y; y++) t[e * Y + y] += w[u] * a->cls[i * TOKCLASS_COUNT + y];
            else
                t[e * Y + a->dom[u]] += w[u] * a->top1[i];
        }
    }
    double v = stat_nmi(t, E, Y, NULL, NULL);
    ml_free(t);
    return v;
}

/* picks of layer l summed over the domain's units; what 2: n50, 3: experts with picks/tokens ≥ k/E
 */
static double load_stat(const double *w, void *ctx) {
    const Q *q = ctx;
    const DocAcc *a = q->a;
    int E = a->EZ;
    long le = (long)a->L * E;
    double *c = ml_alloc(sizeof(double) * E), tok = 0;
    for (int u = 0; u < a->U; u++) {
        if (!w[u] || a->dom[u] < 0 || (q->d >= 0 && a->dom[u] != q->d)) continue;
        tok += w[u] * a->tokens[u];
        for (int e = 0; e < E; e++) c[e] += w[u] * a->picks[u * le + (long)q->l * E + e];
    }
    double v = 0;
    if (q->what == 2)
        v = stat_n50(c, E);
    else if (q->what == 3)
        for (int e = 0; e < E; e++) v += tok > 0 && c[e] / tok >= (double)a->k / E;
    else
        for (int e = 0; e < E; e++) v = tok > 0 && c[e] / tok > v ? c[e] / tok : v;
    ml_free(c);
    return v;
}

/* 100·(PPL(column col) / PPL(full) − 1) over the domain's units (token-weighted NLL). */
static double ppl_stat(const double *w, void *ctx) {
    const Q *q = ctx;
    const DocAcc *a = q->a;
    double x = 0, f = 0, n = 0;
    for (int u = 0; u < a->U; u++) {
        if (!w[u] || a->dom[u] < 0 || (q->d >= 0 && a->dom[u] != q->d)) continue;
        x += w[u] * a->nll[(long)u * a->C + q->col], f += w[u] * a->nll[(long)u * a->C];
        n += w[u] * a->scored[u];
    }
    return n > 0 ? 100 * expm1((x - f) / n) : NAN;
}

static cJSON *interval(const DocAcc *a, const int *strata, BootStat f, Q q) {
    BootPlan p = {a->U, strata, a->B, a->seed, 0.95};
    double v, lo, hi;
    boot_interval(&p, f, &q, &v, &lo, &hi);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "value", v);
    cJSON_AddNumberToObject(o, "lo", lo);
    cJSON_AddNumberToObject(o, "hi", hi);
    return o;
}

/* {"all": interval, domain: interval, ...} of a per-domain statistic. */
static cJSON *by_domain(const DocAcc *a, const int *strata, BootStat f, Q q,
                        const char *const *names, const double *dom_tok) {
    cJSON *o = cJSON_CreateObject();
    q.d = -1;
    cJSON_AddItemToObject(o, "all", interval(a, strata, f, q));
    for (int d = 0; d < a->D; d++)
        if (dom_tok[d] > 0) q.d = d, cJSON_AddItemToObject(o, names[d], interval(a, strata, f, q));
    return o;
}

/* One layer's intervals: NMI (domain, class) and the load statistics per domain. */
static cJSON *layer_json(const DocAcc *a, int l, const int *strata, const char *const *names,
                         const double *dom_tok) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "layer", a->layers[l]);
    cJSON_AddItemToObject(o, "nmi_domain", interval(a, strata, nmi_stat, (Q){a, l, -1, 0, 0}));
    cJSON_AddItemToObject(o, "nmi_class", interval(a, strata, nmi_stat, (Q){a, l, -1, 1, 0}));
    cJSON_AddItemToObject(o, "n50",
                          by_domain(a, strata, load_stat, (Q){a, l, -1, 2, 0}, names, dom_tok));
    cJSON_AddItemToObject(o, "above_threshold",
                          by_domain(a, strata, load_stat, (Q){a, l, -1, 3, 0}, names, dom_tok));
    cJSON_AddItemToObject(o, "max_share_tokens",
                          by_domain(a, strata, load_stat, (Q){a, l, -1, 4, 0}, names, dom_tok));
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
    /* every interval resamples on its own (seeded alike), so the layers and the k' columns go
     * to the threads and their objects join the document in order: the same bytes as serially */
    int L = a->L, P = scored > 0 ? 2 * a->k : 0;
    cJSON **part = ml_alloc(sizeof(cJSON *) * (L + P + 1));
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < L + P; i++)
        part[i] = i < L ? layer_json(a, i, strata, names, dom_tok)
                        : by_domain(a, strata_ppl, ppl_stat, (Q){a, 0, -1, 0, 1 + (i - L)}, names,
                                    dom_tok);
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
