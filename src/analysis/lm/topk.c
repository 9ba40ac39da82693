/* Top-1 vs ensemble (docs/analysis.md §3): per layer, the cosine between the top-1 expert's
 * contribution and the full top-k mixture in three variants, and perplexity when every MoE layer
 * keeps only k' experts per token (raw weights and renormalised weights). */
#include "analysis/lm/topk.h"
#include "analysis/lm/docstats.h"
#include "stats/stats.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "dist/dist.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

void topk_init(TopkAcc *t, const LmModel *m, int D, long kp_tokens, long total_tokens,
               long batch_tokens) {
    memset(t, 0, sizeof *t);
    t->L = an_moe_layers(m, t->layers);
    t->D = D, t->kp_cap = kp_tokens;
    if (kp_tokens > 0 && kp_tokens < total_tokens) /* every (total/kp_tokens)-th batch */
        t->kp_stride = (long)((double)total_tokens * batch_tokens / kp_tokens);
    t->k = t->L ? lm_route_k(m, t->layers[0]) : 0;
    t->cos_sum = ml_alloc(sizeof(double) * ((long)t->L * D * 3 + 1));
    t->cos_n = ml_alloc(sizeof(double) * ((long)t->L * D + 1));
    t->nll_full = ml_alloc(sizeof(double) * D);
    t->tok = ml_alloc(sizeof(double) * D);
    t->nll_k = ml_alloc(sizeof(double) * ((long)t->k * 2 * D + 1));
}

void topk_layer_cosine(TopkAcc *t, const AnBatch *b, const LmFfnRows *rows) {
    int l = an_moe_index(t->layers, t->L, rows->layer);
    if (l < 0) return;
    int C = b->m->cfg.d_model;
    const MoeActs *a = rows->moe;
    int k = a->k, N = rows->n;
    double *cs = ml_alloc(sizeof(double) * 3 * N);
#pragma omp parallel
    {
        float *mix = ml_alloc_floats(C), *ra = ml_alloc_floats(C), *rb = ml_alloc_floats(C),
              *ra3 = ml_alloc_floats(C), *rb3 = ml_alloc_floats(C);
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *w = a->topk_w + (long)n * k, *r = rows->resid + (long)n * C;
            const float *f = rows->ffn + (long)n * C; /* layer output = r + f */
            int best = 0;
            for (int j = 1; j < k; j++)
                if (w[j] > w[best]) best = j;
            memset(mix, 0, sizeof(float) * C);
            for (int j = 0; j < k; j++) {
                const float *o = a->expert_out + ((long)n * k + j) * C;
                for (int c = 0; c < C; c++) mix[c] += w[j] * o[c];
            }
            const float *o1 = a->expert_out + ((long)n * k + best) * C;
            for (int c = 0; c < C; c++) ra[c] = r[c] + w[best] * o1[c], rb[c] = r[c] + mix[c];
            const float *sh = a->shared_out ? a->shared_out + (long)n * C : NULL;
            for (int c = 0; c < C; c++) ra3[c] = sh ? ra[c] + sh[c] : ra[c], rb3[c] = r[c] + f[c];
            /* (i) expert outputs only, (ii) residual included, (iii) whole layer output */
            stat_cosine3((const float *const[3]){o1, ra, ra3},
                         (const float *const[3]){mix, rb, rb3}, C, cs + 3 * n);
        }
        ml_free(mix), ml_free(ra), ml_free(rb), ml_free(ra3), ml_free(rb3);
    }
    for (int n = 0; n < N; n++) { /* serial sum, in row order: deterministic */
        int d = b->domains[rows->row0 + n];
        for (int v = 0; v < 3; v++) t->cos_sum[((long)l * t->D + d) * 3 + v] += cs[3 * n + v];
        t->cos_n[(long)l * t->D + d] += 1;
    }
    ml_free(cs);
}

/* The k' forwards score the batches that hold a multiple of kp_stride (global positions: the same
 * batches whichever rank runs them), so about kp_cap tokens spread evenly over the stream and every
 * source and domain in it (the first kp_cap tokens would all come from the first source). With the
 * stride at least a batch long, a batch holds at most one multiple. */
static int kprime_batch(const TopkAcc *t, const AnBatch *b) {
    if (t->kp_cap <= 0) return 0;
    if (!t->kp_stride) return 1;
    long first = b->offset + t->kp_stride - 1;
    return (b->offset + b->N + t->kp_stride - 1) / t->kp_stride > first / t->kp_stride;
}

void topk_accumulate_full(TopkAcc *t, const AnBatch *b) {
    if (!kprime_batch(t, b)) return;
    for (int n = 0; n < b->N; n++)
        if (b->targets[n] >= 0)
            t->nll_full[b->domains[n]] += b->m->losses[n], t->tok[b->domains[n]] += 1;
    if (t->docs) docs_add_nll(t->docs, b, 0);
}

/* 1 when routing every MoE layer to kp experts with renorm rn is how the model routes anyway
 * (its own k and weights, intervention included): that forward is the batch's main one. */
static int is_main_route(const TopkAcc *t, const LmModel *m, int kp, int rn) {
    for (int l = 0; l < t->L; l++) {
        int i = t->layers[l], r = m->route ? m->route[i].renorm : -1;
        if (kp != lm_route_k(m, i) || rn != (r >= 0 ? r : m->layer_ffn[i].renorm)) return 0;
    }
    return 1;
}

static void add_kprime_nll(TopkAcc *t, const AnBatch *b, int kp, int rn) {
    double *dst = t->nll_k + ((long)(kp - 1) * 2 + rn) * t->D;
    for (int n = 0; n < b->N; n++)
        if (b->targets[n] >= 0) dst[b->domains[n]] += b->m->losses[n];
    if (t->docs) docs_add_nll(t->docs, b, 1 + (kp - 1) * 2 + rn);
}

/* Scores the batch again with k' = 1..k experts, raw and renormalised: 2k variants, of which the
 * one equal to the model's own routing reuses the main forward's losses (still in m->losses, so
 * it goes first) instead of running a forward of its own. */
void topk_accumulate_kprime(TopkAcc *t, const AnBatch *b) {
    if (!kprime_batch(t, b)) return;
    LmModel *m = b->m;
    const int nl = m->cfg.n_layer;
    int main_kp = 0, main_rn = 0;
    for (int kp = 1; kp <= t->k && !main_kp; kp++)
        for (int rn = 0; rn < 2 && !main_kp; rn++)
            if (is_main_route(t, m, kp, rn)) main_kp = kp, main_rn = rn;
    if (main_kp) add_kprime_nll(t, b, main_kp, main_rn);
    MoeOverride *route = ml_alloc(sizeof *route * nl); /* the model's own, with k' and renorm */
    for (int l = 0; l < nl; l++) route[l] = m->route ? m->route[l] : MOE_OVERRIDE_NONE;
    for (int kp = 1; kp <= t->k; kp++)
        for (int rn = 0; rn < 2; rn++) {
            if (kp == main_kp && rn == main_rn) continue;
            for (int l = 0; l < t->L; l++)
                route[t->layers[l]].k = kp, route[t->layers[l]].renorm = rn;
            lm_forward_routed(m, route, b->tokens, b->targets, b->domains, b->B, b->T, 0);
            add_kprime_nll(t, b, kp, rn);
        }
    ml_free(route);
    t->kp_done += b->N;
}

void topk_reduce(TopkAcc *t) {
    dist_sum_f64(t->cos_sum, (long)t->L * t->D * 3);
    dist_sum_f64(t->cos_n, (long)t->L * t->D);
    dist_sum_f64(t->nll_full, t->D);
    dist_sum_f64(t->tok, t->D);
    dist_sum_f64(t->nll_k, (long)t->k * 2 * t->D);
    double done = (double)t->kp_done;
    dist_sum_f64(&done, 1);
    t->kp_done = (long)done;
}

double topk_ppl(const TopkAcc *t, int kp, int renorm, int d) {
    const double *src = kp ? t->nll_k + ((long)(kp - 1) * 2 + renorm) * t->D : t->nll_full;
    double nll = 0, n = 0;
    for (int i = 0; i < t->D; i++)
        if (d < 0 || i == d) nll += src[i], n += t->tok[i];
    return n > 0 ? exp(nll / n) : NAN;
}

static const char *variant_names[3] = {"output_only", "residual", "layer_output"};

int topk_write(const TopkAcc *t, const char *dir, const char *const *names) {
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "cosine");
    for (int l = 0; l < t->L; l++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", t->layers[l]);
        for (int v = 0; v < 3; v++) {
            double s = 0, n = 0;
            cJSON *dv = cJSON_CreateObject();
            for (int d = 0; d < t->D; d++) {
                double nd = t->cos_n[(long)l * t->D + d],
                       sd = t->cos_sum[((long)l * t->D + d) * 3 + v];
                s += sd, n += nd;
                if (nd > 0) cJSON_AddNumberToObject(dv, names[d], sd / nd);
            }
            cJSON *vo = cJSON_AddObjectToObject(o, variant_names[v]);
            cJSON_AddNumberToObject(vo, "mean", n > 0 ? s / n : 0);
            cJSON_AddItemToObject(vo, "domains", dv);
        }
        cJSON_AddItemToArray(arr, o);
    }
    cJSON *pp = cJSON_AddObjectToObject(j, "perplexity");
    double ntok = 0;
    for (int d = 0; d < t->D; d++) ntok += t->tok[d];
    cJSON_AddNumberToObject(pp, "tokens", ntok);
    cJSON_AddNumberToObject(pp, "full", topk_ppl(t, 0, 0, -1));
    cJSON *raw = cJSON_AddArrayToObject(pp, "raw"), *ren = cJSON_AddArrayToObject(pp, "renorm");
    for (int kp = 1; kp <= t->k; kp++) {
        cJSON_AddItemToArray(raw, cJSON_CreateNumber(topk_ppl(t, kp, 0, -1)));
        cJSON_AddItemToArray(ren, cJSON_CreateNumber(topk_ppl(t, kp, 1, -1)));
    }
    cJSON *pd = cJSON_AddObjectToObject(pp, "domains");
    for (int d = 0; d < t->D; d++) {
        if (t->tok[d] <= 0) continue;
        cJSON *o = cJSON_AddObjectToObject(pd, names[d]);
        cJSON_AddNumberToObject(o, "tokens", t->tok[d]);
        cJSON_AddNumberToObject(o, "full", topk_ppl(t, 0, 0, d));
        cJSON *r = cJSON_AddArrayToObject(o, "raw"), *q = cJSON_AddArrayToObject(o, "renorm");
        for (int kp = 1; kp <= t->k; kp++) {
            cJSON_AddItemToArray(r, cJSON_CreateNumber(topk_ppl(t, kp, 0, d)));
            cJSON_AddItemToArray(q, cJSON_CreateNumber(topk_ppl(t, kp, 1, d)));
        }
    }
    int rc = an_write_json(dir, "topk.json", j);
    cJSON_Delete(j);
    char *path = ml_path_join(dir, "topk_cosine.csv");
    AtomicFile af;
    if (!rc && !(rc = afile_open(&af, path))) {
        afile_printf(&af, "layer,domain,tokens,cos_output_only,cos_residual,cos_layer_output\n");
        for (int l = 0; l < t->L; l++)
            for (int d = 0; d < t->D; d++) {
                double nd = t->cos_n[(long)l * t->D + d];
                if (nd <= 0) continue;
                const double *s = t->cos_sum + ((long)l * t->D + d) * 3;
                afile_printf(&af, "%d,%s,%.0f,%.6f,%.6f,%.6f\n", t->layers[l], names[d], nd,
                             s[0] / nd, s[1] / nd, s[2] / nd);
            }
        rc = afile_commit(&af);
    }
    ml_free(path);
    path = ml_path_join(dir, "topk_ppl.csv");
    if (!rc && !(rc = afile_open(&af, path))) {
        afile_printf(&af, "k,weights,domain,tokens,ppl\n");
        for (int d = -1; d < t->D; d++) {
            double nd = 0;
            for (int i = 0; i < t->D; i++)
                if (d < 0 || i == d) nd += t->tok[i];
            if (nd <= 0) continue;
            const char *dn = d < 0 ? "all" : names[d];
            afile_printf(&af, "%d,full,%s,%.0f,%.6f\n", t->k, dn, nd, topk_ppl(t, 0, 0, d));
            for (int kp = 1; kp <= t->k; kp++)
                for (int rn = 0; rn < 2; rn++)
                    afile_printf(&af, "%d,%s,%s,%.0f,%.6f\n", kp, rn ? "renorm" : "raw", dn, nd,
                                 topk_ppl(t, kp, rn, d));
        }
        rc = afile_commit(&af);
    }
    ml_free(path);
    return rc;
}

void topk_free(TopkAcc *t) {
    ml_free(t->cos_sum), ml_free(t->cos_n), ml_free(t->nll_full), ml_free(t->tok),
        ml_free(t->nll_k);
    memset(t, 0, sizeof *t);
}
