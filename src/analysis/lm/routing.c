/* Routing statistics per layer × expert × domain, expert co-activation and the full routing trace
 * (formulas: docs/analysis.md §1). Every top-k slot counts as one pick. */
#include "analysis/lm/routing.h"
#include "stats/stats.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include "dist/dist.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *trace_names[4] = {"trace_ids.npy", "trace_weights.npy", "trace_tokens.npy",
                                     "trace_domains.npy"};

int routing_init(RoutingAcc *r, const LmModel *m, int D, long trace_cap, const char *dir) {
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
    if (trace_cap <= 0 || !dir) return 0; /* no dir: a rank that writes nothing (sharded) */
    int64_t st[3] = {trace_cap, L, k};
    const char *dtype[4] = {"<i4", "<f4", "<i4", "<i4"};
    for (int i = 0; i < 4; i++) {
        char *path = ml_path_join(dir, trace_names[i]);
        int rc = npy_stream_open(&r->trace[i], path, dtype[i], st, i < 2 ? 3 : 1);
        ml_free(path);
        if (rc) {
            routing_free(r);
            return -1;
        }
    }
    r->streaming = 1;
    return 0;
}

void routing_layer(RoutingAcc *r, const AnBatch *b, const LmFfnRows *rows) {
    int l = an_moe_index(r->layers, r->L, rows->layer), E = r->EZ, k = r->k, L = r->L;
    if (l < 0) return;
    const MoeActs *a = rows->moe;
    double *cnt = r->counts + (long)l * r->D * E * k, *co = r->cooc + (long)l * E * E;
    for (int i = 0; i < rows->n; i++) {
        const int32_t *id = a->topk_idx + (long)i * a->k;
        double *c = cnt + (long)b->domains[rows->row0 + i] * E * k;
        for (int j = 0; j < k && j < a->k; j++) {
            c[(long)id[j] * k + j] += 1;
            for (int q = 0; q < k && q < a->k; q++) co[(long)id[j] * E + id[q]] += 1;
        }
    }
    if (b->N > r->batch_rows && b->offset < r->trace_cap) { /* the batch's trace rows */
        ml_free(r->batch_ids), ml_free(r->batch_w), ml_free(r->batch_tok), ml_free(r->batch_dom);
        r->batch_rows = b->N;
        r->batch_ids = ml_alloc(sizeof(int32_t) * b->N * L * k);
        r->batch_w = ml_alloc(sizeof(float) * b->N * L * k);
        r->batch_tok = ml_alloc(sizeof(int32_t) * b->N);
        r->batch_dom = ml_alloc(sizeof(int32_t) * b->N);
    }
    /* the trace holds the stream's first trace_cap tokens: global positions, whichever rank */
    for (long i = 0; i < rows->n && b->offset + rows->row0 + i < r->trace_cap; i++) {
        long t = rows->row0 + i;
        memcpy(r->batch_ids + (t * L + l) * k, a->topk_idx + i * a->k, sizeof(int32_t) * k);
        memcpy(r->batch_w + (t * L + l) * k, a->topk_w + i * a->k, sizeof(float) * k);
    }
}

void routing_accumulate(RoutingAcc *r, const AnBatch *b) {
    for (int n = 0; n < b->N; n++) r->dom_tokens[b->domains[n]] += 1;
    long keep = r->trace_cap - b->offset < b->N ? r->trace_cap - b->offset : b->N;
    r->pending = keep > 0 ? keep : 0; /* trace rows that routing_round hands on */
    if (keep <= 0) return;
    memcpy(r->batch_tok, b->tokens, sizeof(int32_t) * keep);
    memcpy(r->batch_dom, b->domains, sizeof(int32_t) * keep);
}

void routing_round(RoutingAcc *r) {
    if (r->trace_cap <= 0) return; /* on every rank alike */
    const void *rows[4] = {r->batch_ids, r->batch_w, r->batch_tok, r->batch_dom};
    size_t row_bytes[4] = {sizeof(int32_t) * r->L * r->k, sizeof(float) * r->L * r->k,
                           sizeof(int32_t), sizeof(int32_t)};
    for (int i = 0; i < 4; i++) { /* rank 0 appends the round's rows in rank = window order */
        long bytes;
        char *all = dist_gather_bytes(rows[i], r->pending * (long)row_bytes[i], &bytes, 0);
        long n = all ? bytes / (long)row_bytes[i] : 0;
        if (r->streaming && !r->failed && n) r->failed |= npy_stream_append(&r->trace[i], all, n);
        if (i == 0) r->trace_n += n;
        ml_free(all);
    }
    r->pending = 0;
}

void routing_reduce(RoutingAcc *r) {
    dist_sum_f64(r->counts, (long)r->L * r->D * r->EZ * r->k);
    dist_sum_f64(r->cooc, (long)r->L * r->EZ * r->EZ);
    dist_sum_f64(r->dom_tokens, r->D);
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

int routing_write(RoutingAcc *r, const char *dir, const char *const *names) {
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
    if (!rc) rc = write_csv(r, dir, names);
    if (!rc) rc = an_write_npy(dir, "routing_counts.npy", "<f8", sc, 4, r->counts);
    if (!rc) rc = an_write_npy(dir, "routing_cooc.npy", "<f8", so, 3, r->cooc);
    if (!rc && r->failed) rc = -1; /* the append's error is the message */
    for (int i = 0; i < 4 && r->streaming && !rc; i++) rc = npy_stream_commit(&r->trace[i]);
    return rc;
}

void routing_free(RoutingAcc *r) {
    ml_free(r->counts), ml_free(r->cooc), ml_free(r->dom_tokens);
    ml_free(r->batch_ids), ml_free(r->batch_w), ml_free(r->batch_tok), ml_free(r->batch_dom);
    for (int i = 0; i < 4; i++) npy_stream_abort(&r->trace[i]); /* not committed: dropped */
    memset(r, 0, sizeof *r);
}
