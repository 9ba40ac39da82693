#include "analysis/lm/prune_curve.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include "dist/dist.h"
#include "nn/moe_kinds.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const double keep_fracs[PRUNE_MAX_COUNTS] = {0.75, 0.5, 0.25, 0.125};

void prune_curve_init(PruneCurveAcc *c, const LmModel *m, int D, int T, long eval_tokens) {
    memset(c, 0, sizeof *c);
    prune_stats_init(&c->stats, m);
    c->D = D, c->T = T, c->cap = c->stats.L ? eval_tokens : 0;
    for (int l = 0; l < c->stats.L && c->cap > 0; l++) {
        RouterKind r = m->layer_ffn[c->stats.layers[l]].router;
        c->logit_free |= !moe_router_is_scored(r); /* hash/domain: masks would change nothing */
    }
    if (c->stats.L) c->k = lm_route_k(m, c->stats.layers[0]); /* --top-k K */
    for (int i = 0; i < PRUNE_MAX_COUNTS; i++) {
        int n = (int)lround(keep_fracs[i] * c->stats.E);
        if (n >= c->k && n < c->stats.E && (!c->n_counts || n < c->counts[c->n_counts - 1]))
            c->counts[c->n_counts++] = n;
    }
    c->cap_win = c->cap > 0 ? (int)(c->cap / T + 1) : 0;
    size_t cells = (size_t)c->cap_win * T + 1;
    c->in = ml_alloc(sizeof(int32_t) * cells), c->tg = ml_alloc(sizeof(int32_t) * cells);
    c->dom = ml_alloc(sizeof(int32_t) * cells), c->len = ml_alloc(sizeof(int) * (c->cap_win + 1));
    c->nll_full = ml_alloc(sizeof(double) * D), c->tok = ml_alloc(sizeof(double) * D);
    c->seen_dom = ml_alloc(sizeof(long) * D), c->held_dom = ml_alloc(sizeof(long) * D);
    c->nll = ml_alloc(sizeof(double) * PRUNE_N_CRITERIA * PRUNE_MAX_COUNTS * D);
}

/* Whether the next window (domain d, length T) of the stream is held out: each domain alternates
 * and holds its share of the budget. Sharded, every rank decides every window, its own batches' and
 * the others' (prune_curve_skip), so all follow the one-process sequence. */
static int hold_next(PruneCurveAcc *c, int d, int T) {
    int hold = (c->seen_dom[d]++ & 1) && c->held_dom[d] < c->cap / c->D && c->held_win < c->cap_win;
    c->windows_seen++;
    if (hold) c->held_win++, c->held += T, c->held_dom[d] += T;
    return hold;
}

/* At the batch's first layer rows: hold its odd windows, calibrate on the rest (use). */
static void hold_windows(PruneCurveAcc *c, const AnBatch *b) {
    if (b->N > c->use_cap) ml_free(c->use), c->use = ml_alloc((size_t)b->N), c->use_cap = b->N;
    for (int i = 0; i < b->B; i++) {
        long r0 = (long)i * b->T;
        int hold = hold_next(c, b->domains[r0], b->T);
        memset(c->use + r0, !hold, (size_t)b->T);
        if (!hold) continue;
        long dst = (long)c->n_win * c->T;
        memcpy(c->in + dst, b->tokens + r0, sizeof(int32_t) * b->T);
        memcpy(c->tg + dst, b->targets + r0, sizeof(int32_t) * b->T);
        memcpy(c->dom + dst, b->domains + r0, sizeof(int32_t) * b->T);
        c->len[c->n_win++] = b->T;
    }
    c->batch_open = 1;
}

void prune_curve_skip(PruneCurveAcc *c, const AnBatch *b) {
    if (c->cap <= 0 || c->logit_free) return;
    for (int i = 0; i < b->B; i++) hold_next(c, b->domains[(long)i * b->T], b->T);
}

void prune_curve_layer(PruneCurveAcc *c, const AnBatch *b, const LmFfnRows *rows) {
    if (c->cap <= 0 || c->logit_free) return;
    int l = an_moe_index(c->stats.layers, c->stats.L, rows->layer);
    if (l < 0) return;
    if (!c->batch_open) hold_windows(c, b);
    prune_stats_rows(&c->stats, l, rows->moe, c->use + rows->row0, b->m->cfg.d_model);
}

void prune_curve_batch(PruneCurveAcc *c, const AnBatch *b) {
    if (c->cap <= 0 || c->logit_free) return;
    if (!c->batch_open) hold_windows(c, b);
    for (int n = 0; n < b->N; n++) c->stats.tokens += c->use[n] != 0;
    c->batch_open = 0;
}

/* Scores every held window, up to the activations' batch of full windows per forward (they lie
 * back to back); adds each scored token's NLL to nll[domain] (and counts tokens). */
static void score_held(const PruneCurveAcc *c, LmModel *m, const MoeOverride *route, double *nll,
                       double *tok) {
    for (int w = 0; w < c->n_win;) {
        int g = 1, T = c->len[w];
        while (T == c->T && g < m->B && w + g < c->n_win && c->len[w + g] == T) g++;
        long o = (long)w * c->T;
        lm_forward_routed(m, route, c->in + o, c->tg + o, c->dom + o, g, T, 0);
        for (long n = 0; n < (long)g * T; n++)
            if (c->tg[o + n] >= 0) {
                nll[c->dom[o + n]] += m->losses[n];
                if (tok) tok[c->dom[o + n]] += 1;
            }
        w += g;
    }
}

void prune_curve_run(PruneCurveAcc *c, LmModel *m) {
    if (c->cap <= 0 || c->logit_free) return; /* alike on every rank */
    double t0 = ml_now();
    const PruneStats *s = &c->stats;
    /* the ranking is the whole stream's: every rank's calibration summed (on every rank) */
    dist_sum_f64(s->count, (long)s->L * s->E), dist_sum_f64(s->reap_sum, (long)s->L * s->E);
    dist_sum_f64(&c->stats.tokens, 1);
    if (!c->n_win) return; /* this rank holds none of the held-out windows */
    score_held(c, m, m->route, c->nll_full, c->tok);
    const int nl = m->cfg.n_layer;
    const MoeConfig *f0 = &m->layer_ffn[s->layers[0]];
    const int EZ = f0->n_experts + f0->n_zero;
    /* the model's route (an intervention: --top-k, --mask, kept under ours) with the masks */
    MoeOverride *route = ml_alloc(sizeof *route * nl);
    for (int l = 0; l < nl; l++) route[l] = m->route ? m->route[l] : MOE_OVERRIDE_NONE;
    float *bias = ml_alloc(sizeof(float) * s->L * EZ);
    int32_t *kept = ml_alloc(sizeof(int32_t) * s->E);
    for (int cr = 0; cr < PRUNE_N_CRITERIA; cr++)
        for (int i = 0; i < c->n_counts; i++) {
            for (int l = 0; l < s->L; l++) {
                const float *own = m->route ? m->route[s->layers[l]].logit_bias : NULL;
                float *b = bias + (long)l * EZ;
                prune_rank(s, cr, l, c->counts[i], kept);
                for (int e = 0; e < EZ; e++) /* routed experts masked, zero experts kept */
                    b[e] = e < s->E ? -INFINITY : own ? own[e] : 0;
                for (int j = 0; j < c->counts[i]; j++) b[kept[j]] = own ? own[kept[j]] : 0;
                route[s->layers[l]].logit_bias = b;
            }
            score_held(c, m, route, c->nll + ((long)cr * PRUNE_MAX_COUNTS + i) * c->D, NULL);
        }
    ml_free(route), ml_free(bias), ml_free(kept);
    c->seconds = ml_now() - t0;
}

void prune_curve_reduce(PruneCurveAcc *c) {
    dist_sum_f64(c->nll_full, c->D), dist_sum_f64(c->tok, c->D);
    dist_sum_f64(c->nll, (long)PRUNE_N_CRITERIA * PRUNE_MAX_COUNTS * c->D);
}

double prune_curve_ppl(const PruneCurveAcc *c, int crit, int i, int d) {
    const double *src = i < 0 ? c->nll_full : c->nll + ((long)crit * PRUNE_MAX_COUNTS + i) * c->D;
    double nll = 0, n = 0;
    for (int x = 0; x < c->D; x++)
        if (d < 0 || x == d) nll += src[x], n += c->tok[x];
    return n > 0 ? exp(nll / n) : NAN;
}

static double domain_tokens(const PruneCurveAcc *c, int d) {
    double n = 0;
    for (int x = 0; x < c->D; x++) n += d < 0 || x == d ? c->tok[x] : 0;
    return n;
}

static int open_csv(AtomicFile *af, const char *dir, const char *name) {
    char *path = ml_path_join(dir, name);
    int rc = afile_open(af, path);
    ml_free(path);
    return rc;
}

static int write_ppl_csv(const PruneCurveAcc *c, const char *dir, const char *const *names) {
    AtomicFile af;
    if (open_csv(&af, dir, "prune_ppl.csv")) return -1;
    afile_printf(&af, "criterion,kept,experts,domain,tokens,ppl\n");
    for (int d = -1; d < c->D; d++) {
        double nd = domain_tokens(c, d);
        if (nd <= 0) continue;
        const char *dn = d < 0 ? "all" : names[d];
        afile_printf(&af, "full,%d,%d,%s,%.0f,%.6f\n", c->stats.E, c->stats.E, dn, nd,
                     prune_curve_ppl(c, 0, -1, d));
        for (int cr = 0; cr < PRUNE_N_CRITERIA; cr++)
            for (int i = 0; i < c->n_counts; i++)
                afile_printf(&af, "%s,%d,%d,%s,%.0f,%.6f\n", prune_criterion_name(cr), c->counts[i],
                             c->stats.E, dn, nd, prune_curve_ppl(c, cr, i, d));
    }
    return afile_commit(&af);
}

static int write_saliency_csv(const PruneCurveAcc *c, const char *dir) {
    const PruneStats *s = &c->stats;
    AtomicFile af;
    if (open_csv(&af, dir, "prune_saliency.csv")) return -1;
    afile_printf(&af, "layer,expert,routed_slots,freq_share,reap\n");
    for (int l = 0; l < s->L; l++) {
        double tot = 0;
        for (int e = 0; e < s->E; e++) tot += s->count[(long)l * s->E + e];
        for (int e = 0; e < s->E; e++)
            afile_printf(&af, "%d,%d,%.0f,%.6f,%.6g\n", s->layers[l], e,
                         s->count[(long)l * s->E + e],
                         tot > 0 ? s->count[(long)l * s->E + e] / tot : 0,
                         prune_saliency(s, PRUNE_REAP, l, e));
    }
    return afile_commit(&af);
}

int prune_curve_write(const PruneCurveAcc *c, const char *dir, const char *const *names) {
    if (c->cap <= 0) return 0;
    if (c->logit_free)
        return ml_error("analyze: prune: a hash or domain router picks experts without logits, so "
                        "pruning (masking logits) does not apply to this model");
    if (!c->held_win)
        return ml_error("analyze: prune: no window was held out for evaluation (the text gives "
                        "%ld window(s); the odd ones are scored, the even ones calibrate)",
                        c->windows_seen);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "experts", c->stats.E);
    cJSON_AddNumberToObject(j, "top_k", c->k);
    cJSON_AddNumberToObject(j, "calibration_tokens", c->stats.tokens);
    cJSON_AddNumberToObject(j, "eval_tokens", domain_tokens(c, -1));
    cJSON_AddNumberToObject(j, "forwards_per_held_window", 1 + PRUNE_N_CRITERIA * c->n_counts);
    cJSON_AddNumberToObject(j, "seconds", c->seconds);
    cJSON_AddNumberToObject(j, "full", prune_curve_ppl(c, 0, -1, -1));
    cJSON *kc = cJSON_AddArrayToObject(j, "kept");
    for (int i = 0; i < c->n_counts; i++)
        cJSON_AddItemToArray(kc, cJSON_CreateNumber(c->counts[i]));
    cJSON *cr = cJSON_AddObjectToObject(j, "ppl");
    for (int k = 0; k < PRUNE_N_CRITERIA; k++) {
        cJSON *a = cJSON_AddArrayToObject(cr, prune_criterion_name(k));
        for (int i = 0; i < c->n_counts; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(prune_curve_ppl(c, k, i, -1)));
    }
    int rc = an_write_json(dir, "prune.json", j);
    cJSON_Delete(j);
    if (!rc) rc = write_ppl_csv(c, dir, names);
    if (!rc) rc = write_saliency_csv(c, dir);
    return rc;
}

void prune_curve_free(PruneCurveAcc *c) {
    ml_free(c->use);
    prune_stats_free(&c->stats);
    ml_free(c->in), ml_free(c->tg), ml_free(c->dom), ml_free(c->len);
    ml_free(c->nll_full), ml_free(c->tok), ml_free(c->nll);
    ml_free(c->seen_dom), ml_free(c->held_dom);
    memset(c, 0, sizeof *c);
}
