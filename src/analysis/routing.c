/* Routing statistics per layer × expert × domain, expert co-activation and the full routing trace
 * (formulas: docs/analysis.md §1). Every top-k slot counts as one pick. */
#include "analysis/analysis.h"
#include "analysis/stats.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

void routing_init(RoutingAcc *r, const LmModel *m, int D, long trace_cap) {
    memset(r, 0, sizeof *r);
    r->L = an_moe_layers(m, r->layers);
    r->D = D;
    if (r->L) {
        const MoeConfig *f = &m->layer_ffn[r->layers[0]];
        r->EZ = f->n_experts + f->n_zero, r->k = lm_route_k(m, r->layers[0]);
    }
    long L = r->L, E = r->EZ, k = r->k;
    r->counts = ml_alloc(sizeof(double) * (L * D * E * k + 1));
    r->cooc = ml_alloc(sizeof(double) * (L * E * E + 1));
    r->dom_tokens = ml_alloc(sizeof(double) * D);
    r->trace_cap = trace_cap;
    if (trace_cap > 0) {
        r->trace_ids = ml_alloc(sizeof(int32_t) * trace_cap * L * k + 4);
        r->trace_w = ml_alloc(sizeof(float) * trace_cap * L * k + 4);
        r->trace_tok = ml_alloc(sizeof(int32_t) * trace_cap);
        r->trace_dom = ml_alloc(sizeof(int32_t) * trace_cap);
    }
}

void routing_accumulate(RoutingAcc *r, const AnBatch *b) {
    int E = r->EZ, k = r->k, L = r->L;
    for (int n = 0; n < b->N; n++) r->dom_tokens[b->domains[n]] += 1;
    for (int l = 0; l < L; l++) {
        const MoeActs *a = &b->m->acts[r->layers[l]].moe;
        double *cnt = r->counts + (long)l * r->D * E * k, *co = r->cooc + (long)l * E * E;
        for (int n = 0; n < b->N; n++) {
            const int32_t *id = a->topk_idx + (long)n * a->k;
            double *c = cnt + (long)b->domains[n] * E * k;
            for (int j = 0; j < k && j < a->k; j++) {
                c[(long)id[j] * k + j] += 1;
                for (int i = 0; i < k && i < a->k; i++) co[(long)id[j] * E + id[i]] += 1;
            }
        }
    }
    for (int n = 0; n < b->N && r->trace_n < r->trace_cap; n++, r->trace_n++) {
        long t = r->trace_n;
        r->trace_tok[t] = b->tokens[n], r->trace_dom[t] = b->domains[n];
        for (int l = 0; l < L; l++) {
            const MoeActs *a = &b->m->acts[r->layers[l]].moe;
            memcpy(r->trace_ids + (t * L + l) * k, a->topk_idx + (long)n * a->k,
                   sizeof(int32_t) * k);
            memcpy(r->trace_w + (t * L + l) * k, a->topk_w + (long)n * a->k, sizeof(float) * k);
        }
    }
}

/* picks[e] of layer l, domain d (-1: all), summed over slots. */
static void layer_picks(const RoutingAcc *r, int l, int d, double *picks, double *tokens) {
    int E = r->EZ, k = r->k;
    memset(picks, 0, sizeof(double) * E);
    *tokens = 0;
    for (int dd = 0; dd < r->D; dd++) {
        if (d >= 0 && dd != d) continue;
        *tokens += r->dom_tokens[dd];
        const double *c = r->counts + ((long)l * r->D + dd) * E * k;
        for (int e = 0; e < E; e++)
            for (int j = 0; j < k; j++) picks[e] += c[e * k + j];
    }
}

RoutingStats routing_stats(const RoutingAcc *r, int l, int d) {
    RoutingStats s = {0};
    int E = r->EZ;
    double *p = ml_alloc(sizeof(double) * E), all_tokens, mx = 0;
    layer_picks(r, l, -1, p, &all_tokens);
    for (int e = 0; e < E; e++) s.dead += p[e] == 0; /* dead: never picked on any domain */
    layer_picks(r, l, d, p, &s.tokens);
    int used = 0;
    for (int e = 0; e < E; e++) {
        used += p[e] > 0;
        if (p[e] > mx) mx = p[e];
        if (s.tokens > 0 && p[e] / s.tokens >= (double)r->k / E) s.above_threshold++;
    }
    s.entropy = stat_entropy(p, E);
    s.entropy_norm = E > 1 ? s.entropy / log(E) : 0;
    s.n50 = stat_n50(p, E);
    s.jain = stat_jain(p, E);
    s.max_share_tokens = s.tokens > 0 ? mx / s.tokens : 0;
    s.utilisation = (double)used / E;
    ml_free(p);
    return s;
}

static cJSON *stats_json(RoutingStats s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "tokens", s.tokens);
    cJSON_AddNumberToObject(o, "entropy", s.entropy);
    cJSON_AddNumberToObject(o, "entropy_norm", s.entropy_norm);
    cJSON_AddNumberToObject(o, "n50", s.n50);
    cJSON_AddNumberToObject(o, "max_share_tokens", s.max_share_tokens);
    cJSON_AddNumberToObject(o, "jain", s.jain);
    cJSON_AddNumberToObject(o, "utilisation", s.utilisation);
    cJSON_AddNumberToObject(o, "dead", s.dead);
    cJSON_AddNumberToObject(o, "above_threshold", s.above_threshold);
    return o;
}

static int write_csv(const RoutingAcc *r, const char *dir, const char *const *names) {
    char *path = ml_path_join(dir, "routing_stats.csv");
    AtomicFile af;
    if (afile_open(&af, path)) return ml_free(path), -1;
    int E = r->EZ, k = r->k;
    afile_printf(&af, "layer,domain,expert,picks");
    for (int j = 0; j < k; j++) afile_printf(&af, ",slot%d", j);
    afile_printf(&af, ",pct_tokens,pct_picks\n");
    for (int l = 0; l < r->L; l++)
        for (int d = 0; d < r->D; d++) {
            const double *c = r->counts + ((long)l * r->D + d) * E * k;
            double tot = 0;
            for (int i = 0; i < E * k; i++) tot += c[i];
            for (int e = 0; e < E; e++) {
                double pe = 0;
                for (int j = 0; j < k; j++) pe += c[e * k + j];
                afile_printf(&af, "%d,%s,%d,%.0f", r->layers[l], names[d], e, pe);
                for (int j = 0; j < k; j++) afile_printf(&af, ",%.0f", c[e * k + j]);
                double nt = r->dom_tokens[d];
                afile_printf(&af, ",%.6f,%.6f\n", nt > 0 ? 100 * pe / nt : 0,
                             tot > 0 ? 100 * pe / tot : 0);
            }
        }
    ml_free(path);
    return afile_commit(&af);
}

int routing_write(const RoutingAcc *r, const char *dir, const char *const *names) {
    cJSON *j = cJSON_CreateObject(), *layers = cJSON_AddArrayToObject(j, "layers");
    cJSON_AddNumberToObject(j, "experts", r->EZ);
    cJSON_AddNumberToObject(j, "top_k", r->k);
    cJSON_AddNumberToObject(j, "threshold_pct_tokens", 100.0 * r->k / (r->EZ ? r->EZ : 1));
    for (int l = 0; l < r->L; l++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", r->layers[l]);
        cJSON_AddItemToObject(o, "all", stats_json(routing_stats(r, l, -1)));
        cJSON *dd = cJSON_AddObjectToObject(o, "domains");
        for (int d = 0; d < r->D; d++)
            if (r->dom_tokens[d] > 0)
                cJSON_AddItemToObject(dd, names[d], stats_json(routing_stats(r, l, d)));
        cJSON_AddItemToArray(layers, o);
    }
    int rc = an_write_json(dir, "routing.json", j);
    cJSON_Delete(j);
    int64_t sc[4] = {r->L, r->D, r->EZ, r->k}, so[3] = {r->L, r->EZ, r->EZ};
    int64_t st[3] = {r->trace_n, r->L, r->k}, s1[1] = {r->trace_n};
    if (!rc) rc = write_csv(r, dir, names);
    if (!rc) rc = an_write_npy(dir, "routing_counts.npy", "<f8", sc, 4, r->counts);
    if (!rc) rc = an_write_npy(dir, "routing_cooc.npy", "<f8", so, 3, r->cooc);
    if (!rc && r->trace_cap > 0) {
        rc = an_write_npy(dir, "trace_ids.npy", "<i4", st, 3, r->trace_ids);
        if (!rc) rc = an_write_npy(dir, "trace_weights.npy", "<f4", st, 3, r->trace_w);
        if (!rc) rc = an_write_npy(dir, "trace_tokens.npy", "<i4", s1, 1, r->trace_tok);
        if (!rc) rc = an_write_npy(dir, "trace_domains.npy", "<i4", s1, 1, r->trace_dom);
    }
    return rc;
}

void routing_free(RoutingAcc *r) {
    ml_free(r->counts), ml_free(r->cooc), ml_free(r->dom_tokens);
    ml_free(r->trace_ids), ml_free(r->trace_w), ml_free(r->trace_tok), ml_free(r->trace_dom);
    memset(r, 0, sizeof *r);
}
