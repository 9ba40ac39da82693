/* Routing sensitivity on minimal pairs: routing of each text alone, per-layer JS, per-expert signed
 * sensitivity with paired t + BH, top-G / bottom-G masking and its effect on the log-likelihood
 * preference and on perplexity (formulas: docs/analysis.md §5). */
#include "analysis/lm/sensitivity.h"
#include "analysis/lm/analysis.h"
#include "stats/stats.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/progress.h"
#include "nn/moe_kinds.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The model's route (its routing intervention, if any) with the mask's row added to each MoE
 * layer's logit bias, for lm_forward_routed; without a mask, the model's own route. The combined
 * rows go to *rows: ml_free both (free_route) after the forward. */
static const MoeOverride *masked_route(const LmModel *m, const SensMask *mask, float **rows) {
    *rows = NULL;
    if (!mask) return m->route;
    int layers[64], L = an_moe_layers(m, layers), nl = m->cfg.n_layer;
    MoeOverride *route = ml_alloc(sizeof *route * nl);
    for (int l = 0; l < nl; l++) route[l] = m->route ? m->route[l] : MOE_OVERRIDE_NONE;
    *rows = ml_alloc_floats((long)L * mask->EZ);
    for (int l = 0; l < L; l++) {
        float *row = *rows + (long)l * mask->EZ;
        const float *own = route[layers[l]].logit_bias;
        for (int e = 0; e < mask->EZ; e++)
            row[e] = mask->bias[(long)l * mask->EZ + e] + (own ? own[e] : 0.0f);
        route[layers[l]].logit_bias = row;
    }
    return route;
}

static void free_route(const LmModel *m, const MoeOverride *route, float *rows) {
    if (route != m->route) ml_free((void *)route);
    ml_free(rows);
}

double sens_score_text(LmModel *m, const int32_t *ids, int n, const SensMask *mask, double *P,
                       double *picks) {
    int layers[64], L = an_moe_layers(m, layers);
    int32_t *tg = ml_alloc(sizeof(int32_t) * n), *dom = ml_alloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) tg[i] = i + 1 < n ? ids[i + 1] : -1;
    float *rows;
    const MoeOverride *route = masked_route(m, mask, &rows);
    lm_forward_routed(m, route, ids, tg, dom, 1, n, 0);
    free_route(m, route, rows);
    double logp = 0;
    for (int i = 0; i + 1 < n; i++) logp -= m->losses[i];
    for (int l = 0; l < L; l++) {
        const MoeActs *a = &m->acts[layers[l]].moe;
        int EZ = a->EZ;
        if (P) {
            double *row = P + (long)l * EZ;
            memset(row, 0, sizeof(double) * EZ);
            for (int t = 0; t < n; t++) {
                const float *pr = a->probs + (long)t * EZ;
                double s = 0;
                for (int e = 0; e < EZ; e++) s += pr[e];
                if (s > 0)
                    for (int e = 0; e < EZ; e++) row[e] += pr[e] / s;
            }
            for (int e = 0; e < EZ; e++) row[e] /= n;
        }
        if (picks) {
            memset(picks + (long)l * EZ, 0, sizeof(double) * EZ);
            for (long s = 0; s < (long)n * a->k; s++) picks[(long)l * EZ + a->topk_idx[s]] += 1;
        }
    }
    ml_free(tg), ml_free(dom);
    return logp;
}

typedef struct {
    double key;
    int id;
} Ranked;
static int by_key_desc(const void *x, const void *y) {
    const Ranked *a = x, *b = y;
    if (a->key != b->key) return a->key > b->key ? -1 : 1;
    return a->id - b->id;
}

/* S, t, p per (layer, expert) from the paired differences, BH across all of them, rank by |S|. */
static void sensitivity_stats(SensResult *r) {
    int n = r->n, LE = r->L * r->EZ;
    double *d = ml_alloc(sizeof(double) * (n ? n : 1));
    Ranked *rk = ml_alloc(sizeof(Ranked) * LE);
    for (int i = 0; i < LE; i++) {
        for (int j = 0; j < n; j++) d[j] = r->pa[(long)j * LE + i] - r->pb[(long)j * LE + i];
        r->S[i] = stat_mean(d, n);
        r->p[i] = stat_ttest_1samp(d, n, &r->t[i]);
        rk[i].key = fabs(r->S[i]), rk[i].id = i;
    }
    stat_bh(r->p, r->q, LE);
    qsort(rk, LE, sizeof(Ranked), by_key_desc);
    for (int i = 0; i < LE; i++) r->rank[i] = rk[i].id;
    ml_free(d), ml_free(rk);
}

/* Top-G from the head of the ranking and bottom-G from its tail (disjoint), each keeping at least
 * k selectable experts per layer and touching only layers whose router has logits to mask. */
static void choose_groups(SensResult *r, const LmModel *m, int G) {
    int LE = r->L * r->EZ, eligible = 0;
    for (int l = 0; l < r->L; l++)
        if (moe_router_is_scored(m->layer_ffn[r->layers[l]].router) && r->EZ > r->k)
            eligible += r->EZ - r->k < r->EZ / 2 ? r->EZ - r->k : r->EZ / 2;
    if (G > eligible) G = eligible;
    uint8_t *taken = ml_alloc(LE);
    for (int g = 1; g <= 2; g++) {
        int per_layer[64] = {0};
        r->group[g] = ml_alloc(sizeof(int32_t) * (G ? G : 1));
        for (int i = 0; i < LE && r->n_group[g] < G; i++) {
            int id = r->rank[g == 1 ? i : LE - 1 - i], l = id / r->EZ;
            if (taken[id] || !moe_router_is_scored(m->layer_ffn[r->layers[l]].router) ||
                per_layer[l] >= r->EZ - r->k)
                continue;
            taken[id] = 1, per_layer[l]++;
            r->group[g][r->n_group[g]++] = id;
        }
    }
    ml_free(taken);
}

/* Perplexity over up to max_tokens validation tokens (windows spread evenly over each source). */
static double masked_ppl(LmModel *m, const AnalyzeData *data, const SensMask *mask, int T, int B,
                         long max_tokens, long *tokens) {
    int32_t *in = ml_alloc(sizeof(int32_t) * B * T), *tg = ml_alloc(sizeof(int32_t) * B * T);
    int32_t *dom = ml_alloc(sizeof(int32_t) * B * T);
    long per_src = max_tokens / data->n_src / T;
    double nll = 0;
    long cnt = 0;
    for (int s = 0; s < data->n_src; s++) {
        long all = an_src_windows(data, s, T), nw = per_src > 0 && per_src < all ? per_src : all;
        if (per_src <= 0 && nw > 1) nw = 1;
        for (long w0 = 0; w0 < nw; w0 += B) {
            int b = (int)(nw - w0 < B ? nw - w0 : B);
            for (int i = 0; i < b; i++)
                an_src_window(data, s, (w0 + i) * all / nw, T, in + (long)i * T, tg + (long)i * T,
                              dom + (long)i * T);
            float *rows;
            const MoeOverride *route = masked_route(m, mask, &rows);
            lm_forward_routed(m, route, in, tg, dom, b, T, 0);
            free_route(m, route, rows);
            for (int i = 0; i < b * T; i++)
                if (tg[i] >= 0) nll += m->losses[i], cnt++;
        }
    }
    ml_free(in), ml_free(tg), ml_free(dom);
    *tokens = cnt;
    return cnt ? exp(nll / cnt) : NAN;
}

static void alloc_result(SensResult *r, const LmModel *m, int n) {
    memset(r, 0, sizeof *r);
    r->L = an_moe_layers(m, r->layers);
    const MoeConfig *f = &m->layer_ffn[r->layers[0]];
    r->EZ = f->n_experts + f->n_zero, r->k = lm_route_k(m, r->layers[0]), r->n = n;
    long LE = (long)r->L * r->EZ;
    r->pa = ml_alloc(sizeof(double) * (n * LE + 1)),
    r->pb = ml_alloc(sizeof(double) * (n * LE + 1));
    r->js = ml_alloc(sizeof(double) * (n * r->L + 1));
    r->S = ml_alloc(sizeof(double) * LE), r->t = ml_alloc(sizeof(double) * LE);
    r->p = ml_alloc(sizeof(double) * LE), r->q = ml_alloc(sizeof(double) * LE);
    r->rank = ml_alloc(sizeof(int32_t) * LE);
    r->logp = ml_alloc(sizeof(double) * 6 * (n + 1));
    for (long i = 0; i < 6L * n; i++) r->logp[i] = NAN;
    for (int c = 0; c < 3; c++) r->ppl[c] = NAN;
}

int sensitivity_run(LmModel *m, const SensPairs *pairs, const AnalyzeData *data,
                    const SensOptions *o, SensResult *r) {
    int layers[64], L = an_moe_layers(m, layers);
    if (!L) return ml_error("sensitivity: the model has no MoE layer");
    if (pairs->n < 1) return ml_error("sensitivity: no pairs");
    for (int l = 1; l < L; l++) {
        const MoeConfig *f = &m->layer_ffn[layers[l]], *g = &m->layer_ffn[layers[0]];
        if (f->n_experts + f->n_zero != g->n_experts + g->n_zero ||
            lm_route_k(m, layers[l]) != lm_route_k(m, layers[0]))
            return ml_error("sensitivity: MoE layers differ in experts or top-k");
    }
    double t0 = ml_now();
    int n = pairs->n;
    alloc_result(r, m, n);
    long LE = (long)r->L * r->EZ;
    double *picks = ml_alloc(sizeof(double) * LE);
    int longest = 1;
    for (int i = 0; i < n; i++) {
        if (pairs->na[i] > longest) longest = pairs->na[i];
        if (pairs->nb[i] > longest) longest = pairs->nb[i];
    }
    lm_alloc_acts(m, 1, longest); /* once, not once per longer text */
    for (int i = 0; i < n; i++) {
        double *pa = r->pa + i * LE, *pb = r->pb + i * LE;
        r->logp[i] = sens_score_text(m, pairs->a[i], pairs->na[i], NULL, pa, NULL);
        r->logp[n + i] = sens_score_text(m, pairs->b[i], pairs->nb[i], NULL, pb, NULL);
        for (int l = 0; l < r->L; l++)
            r->js[(long)i * r->L + l] = stat_js(pa + l * r->EZ, pb + l * r->EZ, r->EZ);
    }
    sensitivity_stats(r);
    choose_groups(r, m, o->mask_top);
    SensMask mask = {r->L, r->EZ, ml_alloc_floats(LE)};
    int do_ppl = data && data->n_src > 0 && o->ppl_tokens > 0;
    for (int c = 0; c < 3; c++) {
        if (c > 0 && r->n_group[c] == 0) continue;
        memset(mask.bias, 0, sizeof(float) * LE);
        for (int j = 0; j < r->n_group[c]; j++) mask.bias[r->group[c][j]] = -INFINITY;
        const SensMask *mk = c ? &mask : NULL;
        for (int i = 0; c > 0 && i < n; i++) {
            double *lp = r->logp + (long)c * 2 * n;
            for (int ab = 0; ab < 2; ab++) {
                lp[(long)ab * n + i] =
                    sens_score_text(m, ab ? pairs->b[i] : pairs->a[i],
                                    ab ? pairs->nb[i] : pairs->na[i], mk, NULL, picks);
                for (int j = 0; j < r->n_group[c]; j++) r->masked_picks[c] += picks[r->group[c][j]];
            }
        }
        if (do_ppl) r->ppl[c] = masked_ppl(m, data, mk, o->T, o->B, o->ppl_tokens, &r->ppl_tokens);
    }
    ml_free(mask.bias), ml_free(picks);
    r->seconds = ml_now() - t0;
    return 0;
}

double sens_preference(const SensResult *r, int c, double *margin) {
    const double *a = r->logp + (long)c * 2 * r->n, *b = a + r->n;
    double wins = 0, m = 0;
    for (int i = 0; i < r->n; i++) wins += a[i] > b[i], m += a[i] - b[i];
    if (margin) *margin = r->n && !isnan(m) ? m / r->n : NAN;
    return r->n && !isnan(m) ? 100.0 * wins / r->n : NAN;
}

void sensitivity_free(SensResult *r) {
    ml_free(r->pa), ml_free(r->pb), ml_free(r->js), ml_free(r->S), ml_free(r->t), ml_free(r->p);
    ml_free(r->q), ml_free(r->rank), ml_free(r->logp);
    for (int c = 0; c < 3; c++) ml_free(r->group[c]);
    memset(r, 0, sizeof *r);
}
