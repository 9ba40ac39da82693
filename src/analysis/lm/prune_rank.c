#include "analysis/lm/prune_rank.h"
#include "analysis/lm/analysis.h"
#include "core/error.h"
#include "core/mem.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const crit_names[PRUNE_N_CRITERIA] = {"freq", "reap"};

const char *prune_criterion_name(int c) {
    return c >= 0 && c < PRUNE_N_CRITERIA ? crit_names[c] : "?";
}

int prune_criterion_parse(const char *s) {
    for (int c = 0; c < PRUNE_N_CRITERIA; c++)
        if (!strcmp(s, crit_names[c])) return c;
    return ml_error("--by: unknown criterion '%s' (expected freq or reap)", s);
}

void prune_stats_init(PruneStats *s, const LmModel *m) {
    memset(s, 0, sizeof *s);
    s->L = an_moe_layers(m, s->layers);
    s->E = s->L ? m->layer_ffn[s->layers[0]].n_experts : 0;
    s->count = ml_alloc(sizeof(double) * ((size_t)s->L * s->E + 1));
    s->reap_sum = ml_alloc(sizeof(double) * ((size_t)s->L * s->E + 1));
}

void prune_stats_free(PruneStats *s) {
    ml_free(s->count), ml_free(s->reap_sum);
    memset(s, 0, sizeof *s);
}

void prune_stats_rows(PruneStats *s, int l, const MoeActs *a, const uint8_t *use, int C) {
    double *cnt = s->count + (long)l * s->E, *rs = s->reap_sum + (long)l * s->E;
    for (int n = 0; n < a->N; n++) { /* serial: sums in a fixed order */
        if (use && !use[n]) continue;
        for (int j = 0; j < a->k; j++) {
            long slot = (long)n * a->k + j;
            int e = a->topk_idx[slot];
            if (e < 0 || e >= s->E || a->topk_w[slot] == 0.0f) continue; /* zero / dropped */
            const float *o = a->expert_out + slot * C;
            double sq = 0;
            for (int c = 0; c < C; c++) sq += (double)o[c] * o[c];
            cnt[e] += 1, rs[e] += a->topk_w[slot] * sqrt(sq);
        }
    }
}

void prune_stats_accumulate(PruneStats *s, const LmModel *m, const uint8_t *use) {
    int N = s->L ? m->acts[s->layers[0]].moe.N : 0;
    for (int l = 0; l < s->L; l++)
        prune_stats_rows(s, l, &m->acts[s->layers[l]].moe, use, m->cfg.d_model);
    for (int n = 0; n < N; n++) s->tokens += !use || use[n];
}

double prune_saliency(const PruneStats *s, int crit, int l, int e) {
    double c = s->count[(long)l * s->E + e];
    if (crit == PRUNE_FREQ) return c;
    return c > 0 ? s->reap_sum[(long)l * s->E + e] / c : 0;
}

static int cmp_i32(const void *a, const void *b) {
    return *(const int32_t *)a - *(const int32_t *)b;
}

void prune_rank(const PruneStats *s, int crit, int l, int n_keep, int32_t *kept) {
    int E = s->E;
    int32_t *order = ml_alloc(sizeof(int32_t) * E);
    for (int e = 0; e < E; e++) order[e] = e;
    for (int i = 1; i < E; i++) { /* insertion sort, most salient first, stable on ids */
        int32_t x = order[i];
        double v = prune_saliency(s, crit, l, x);
        int j = i;
        while (j > 0 && prune_saliency(s, crit, l, order[j - 1]) < v) order[j] = order[j - 1], j--;
        order[j] = x;
    }
    memcpy(kept, order, sizeof(int32_t) * n_keep);
    qsort(kept, (size_t)n_keep, sizeof(int32_t), cmp_i32);
    ml_free(order);
}

typedef struct {
    PruneStats *s;
    int C;
} CalibFeed;

static void calib_rows(void *ctx, const LmFfnRows *rows) {
    CalibFeed *f = ctx;
    int l = an_moe_index(f->s->layers, f->s->L, rows->layer);
    if (l >= 0) prune_stats_rows(f->s, l, rows->moe, NULL, f->C);
}

int prune_calibrate(LmModel *m, const int32_t *ids, long n, int ctx, PruneStats *s) {
    if (n < 1) return ml_error("the calibration text has no tokens");
    /* observed: each layer's rows counted as the forward goes, one layer's activations kept (the
     * targets only let the head run in blocks; the loss is not read) */
    int lean = m->lean;
    m->lean = LM_LEAN_OBSERVED;
    int32_t *tg = ml_alloc(sizeof(int32_t) * ctx);
    CalibFeed f = {s, m->cfg.d_model};
    LmObserver obs = {calib_rows, NULL, &f};
    for (long c0 = 0; c0 < n; c0 += ctx) {
        int T = (int)(n - c0 < ctx ? n - c0 : ctx);
        for (int t = 0; t < T; t++) tg[t] = t + 1 < T ? ids[c0 + t + 1] : -1;
        lm_forward_observed(m, &obs, ids + c0, tg, NULL, 1, T);
        s->tokens += T;
    }
    m->lean = lean;
    ml_free(tg);
    return 0;
}

int prune_parse_keep(const char *v, int E, int *n_keep) {
    char *end;
    double x = strtod(v, &end);
    int integer = *v && !strpbrk(v, ".eE") && !*end;
    if (!*v || *end || !isfinite(x) || x <= 0 || (integer ? x > E || x != floor(x) : x > 1))
        return ml_error("--keep: expected a fraction in (0, 1] or an expert count 1..%d, got '%s'",
                        E, v);
    *n_keep = integer ? (int)x : (int)lround(x * E);
    if (*n_keep < 1) *n_keep = 1;
    return 0;
}
