/* Pairs file reading and the sensitivity output files (docs/analysis.md §5). */
#include "analysis/lm/analysis.h"
#include "analysis/lm/sensitivity.h"
#include "stats/stats.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <math.h>
#include <string.h>

static void pairs_alloc(SensPairs *p, int cap) {
    memset(p, 0, sizeof *p);
    p->a = ml_alloc(sizeof(int32_t *) * (cap + 1)), p->b = ml_alloc(sizeof(int32_t *) * (cap + 1));
    p->na = ml_alloc(sizeof(int) * (cap + 1)), p->nb = ml_alloc(sizeof(int) * (cap + 1));
    p->line = ml_alloc(sizeof(int) * (cap + 1));
}

void sens_pairs_from_ids(SensPairs *p, int n, const int32_t *const *a, const int *na,
                         const int32_t *const *b, const int *nb) {
    pairs_alloc(p, n);
    for (int i = 0; i < n; i++) {
        p->a[i] = ml_alloc(sizeof(int32_t) * (na[i] + 1)), p->na[i] = na[i];
        p->b[i] = ml_alloc(sizeof(int32_t) * (nb[i] + 1)), p->nb[i] = nb[i];
        memcpy(p->a[i], a[i], sizeof(int32_t) * na[i]);
        memcpy(p->b[i], b[i], sizeof(int32_t) * nb[i]);
    }
    p->n = n;
}

void sens_pairs_free(SensPairs *p) {
    for (int i = 0; i < p->n; i++) ml_free(p->a[i]), ml_free(p->b[i]);
    ml_free(p->a), ml_free(p->b), ml_free(p->na), ml_free(p->nb), ml_free(p->line);
    memset(p, 0, sizeof *p);
}

/* Encodes one text of a pair into ids (count n); an error names the file, line and which text. */
static int encode_text(const LmTok *tok, const char *s, size_t len, int max_tokens,
                       const char *path, int line, const char *which, int32_t **ids, int *n) {
    if (len == 0) return ml_error("%s:%d: text %s is empty", path, line, which);
    long cnt;
    if (lm_tok_encode(tok, s, len, ids, &cnt)) return -1;
    if (cnt > max_tokens) {
        ml_free(*ids), *ids = NULL;
        return ml_error("%s:%d: text %s has %ld tokens, more than the model's window of %d", path,
                        line, which, cnt, max_tokens);
    }
    *n = (int)cnt;
    return 0;
}

int sens_pairs_load(SensPairs *p, const char *path, const LmTok *tok, int max_tokens) {
    char *buf;
    size_t len;
    if (ml_read_file(path, &buf, &len)) return -1;
    int lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    pairs_alloc(p, lines);
    int line = 0, rc = 0;
    for (char *s = buf; !rc && s < buf + len; s++) {
        char *e = memchr(s, '\n', buf + len - s);
        if (!e) e = buf + len;
        line++;
        size_t n = e - s;
        if (n && s[n - 1] == '\r') n--;
        int blank = 1;
        for (size_t i = 0; i < n && blank; i++) blank = s[i] == ' ' || s[i] == '\t';
        if (!blank && s[0] != '#') {
            char *tab = memchr(s, '\t', n);
            if (!tab || memchr(tab + 1, '\t', s + n - tab - 1))
                rc = ml_error("%s:%d: expected text_a<TAB>text_b (exactly one tab), got %s", path,
                              line, tab ? "more than one tab" : "no tab");
            int i = p->n;
            if (!rc)
                rc = encode_text(tok, s, tab - s, max_tokens, path, line, "a", &p->a[i], &p->na[i]);
            if (!rc)
                rc = encode_text(tok, tab + 1, s + n - tab - 1, max_tokens, path, line, "b",
                                 &p->b[i], &p->nb[i]);
            if (!rc)
                p->line[i] = line, p->n++;
            else
                ml_free(p->a[i]), p->a[i] = NULL;
        }
        s = e;
    }
    ml_free(buf);
    if (!rc && p->n == 0) rc = ml_error("%s: no pairs (expected lines text_a<TAB>text_b)", path);
    if (rc) sens_pairs_free(p);
    return rc;
}

static const char *group_name(const SensResult *r, int id) {
    for (int c = 1; c < 3; c++)
        for (int j = 0; j < r->n_group[c]; j++)
            if (r->group[c][j] == id) return c == 1 ? "top" : "bottom";
    return "none";
}

static cJSON *expert_json(const SensResult *r, int id) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "layer", r->layers[id / r->EZ]);
    cJSON_AddNumberToObject(o, "expert", id % r->EZ);
    cJSON_AddNumberToObject(o, "S", r->S[id]);
    cJSON_AddNumberToObject(o, "t", r->t[id]);
    cJSON_AddNumberToObject(o, "p", r->p[id]);
    cJSON_AddNumberToObject(o, "p_bh", r->q[id]);
    return o;
}

/* One masking condition: preference, margin, their changes from unmasked, perplexity. */
static cJSON *condition_json(const SensResult *r, int c) {
    cJSON *o = cJSON_CreateObject();
    double m0, mc, pref0 = sens_preference(r, 0, &m0), pref = sens_preference(r, c, &mc);
    cJSON_AddNumberToObject(o, "masked_experts", r->n_group[c]);
    cJSON_AddNumberToObject(o, "preference_pct", pref);
    cJSON_AddNumberToObject(o, "mean_margin", mc);
    cJSON_AddNumberToObject(o, "ppl", r->ppl[c]);
    if (c == 0) return o;
    double *d = ml_alloc(sizeof(double) * (r->n + 1)), t;
    const double *lp0 = r->logp, *lpc = r->logp + (long)c * 2 * r->n;
    for (int i = 0; i < r->n; i++) d[i] = (lpc[i] - lpc[r->n + i]) - (lp0[i] - lp0[r->n + i]);
    double p = stat_ttest_1samp(d, r->n, &t);
    ml_free(d);
    cJSON_AddNumberToObject(o, "delta_preference_pp", pref - pref0);
    cJSON_AddNumberToObject(o, "delta_margin", mc - m0);
    cJSON_AddNumberToObject(o, "delta_margin_t", t);
    cJSON_AddNumberToObject(o, "delta_margin_p", p);
    cJSON_AddNumberToObject(o, "delta_ppl", r->ppl[c] - r->ppl[0]);
    cJSON_AddNumberToObject(o, "masked_picks", r->masked_picks[c]);
    cJSON *g = cJSON_AddArrayToObject(o, "experts");
    for (int j = 0; j < r->n_group[c]; j++) cJSON_AddItemToArray(g, expert_json(r, r->group[c][j]));
    return o;
}

static int write_json(const SensResult *r, const char *dir, const char *pairs_path) {
    int LE = r->L * r->EZ, sig = 0;
    for (int i = 0; i < LE; i++) sig += r->q[i] < 0.05;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "pairs_file", pairs_path ? pairs_path : "");
    cJSON_AddNumberToObject(j, "pairs", r->n);
    cJSON_AddNumberToObject(j, "experts_per_layer", r->EZ);
    cJSON_AddNumberToObject(j, "top_k", r->k);
    cJSON *js = cJSON_AddArrayToObject(j, "js");
    double *v = ml_alloc(sizeof(double) * (r->n + 1));
    for (int l = 0; l < r->L; l++) {
        for (int i = 0; i < r->n; i++) v[i] = r->js[(long)i * r->L + l];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", r->layers[l]);
        cJSON_AddNumberToObject(o, "mean", stat_mean(v, r->n));
        cJSON_AddNumberToObject(o, "sd", stat_sd(v, r->n));
        cJSON_AddItemToArray(js, o);
    }
    ml_free(v);
    cJSON_AddNumberToObject(j, "significant_bh_0.05", sig);
    cJSON *top = cJSON_AddArrayToObject(j, "top_experts");
    for (int i = 0; i < LE && i < 20; i++) cJSON_AddItemToArray(top, expert_json(r, r->rank[i]));
    cJSON *cond = cJSON_AddObjectToObject(j, "masking");
    cJSON_AddNumberToObject(cond, "ppl_tokens", (double)r->ppl_tokens);
    static const char *names[3] = {"unmasked", "top", "bottom"};
    for (int c = 0; c < 3; c++)
        if (c == 0 || r->n_group[c] > 0)
            cJSON_AddItemToObject(cond, names[c], condition_json(r, c));
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    int rc = an_write_json(dir, "sensitivity.json", j);
    cJSON_Delete(j);
    return rc;
}

static int write_csvs(const SensResult *r, const SensPairs *pairs, const char *dir) {
    int LE = r->L * r->EZ, rc;
    char *path = ml_path_join(dir, "sensitivity_experts.csv");
    AtomicFile af;
    if (!(rc = afile_open(&af, path))) {
        afile_printf(&af, "layer,expert,S,abs_S,t,p,p_bh,group\n");
        for (int i = 0; i < LE; i++) {
            int id = r->rank[i];
            afile_printf(&af, "%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%s\n", r->layers[id / r->EZ],
                         id % r->EZ, r->S[id], fabs(r->S[id]), r->t[id], r->p[id], r->q[id],
                         group_name(r, id));
        }
        rc = afile_commit(&af);
    }
    ml_free(path);
    path = ml_path_join(dir, "sensitivity_pairs.csv");
    if (!rc && !(rc = afile_open(&af, path))) {
        afile_printf(&af, "pair,line,tokens_a,tokens_b,logp_a,logp_b,logp_a_masktop,logp_b_masktop,"
                          "logp_a_maskbottom,logp_b_maskbottom,js_mean\n");
        for (int i = 0; i < r->n; i++) {
            double js = 0;
            for (int l = 0; l < r->L; l++) js += r->js[(long)i * r->L + l] / r->L;
            afile_printf(&af, "%d,%d,%d,%d", i, pairs->line[i], pairs->na[i], pairs->nb[i]);
            for (int c = 0; c < 3; c++)
                afile_printf(&af, ",%.6f,%.6f", r->logp[(long)c * 2 * r->n + i],
                             r->logp[(long)c * 2 * r->n + r->n + i]);
            afile_printf(&af, ",%.9g\n", js);
        }
        rc = afile_commit(&af);
    }
    ml_free(path);
    return rc;
}

int sensitivity_write(const SensResult *r, const SensPairs *pairs, const char *dir,
                      const char *pairs_path) {
    if (ml_mkdir_p(dir)) return -1;
    int rc = write_json(r, dir, pairs_path);
    if (!rc) rc = write_csvs(r, pairs, dir);
    int64_t js_shape[2] = {r->n, r->L}, pr_shape[4] = {r->n, 2, r->L, r->EZ};
    if (!rc) rc = an_write_npy(dir, "sensitivity_pairs.npy", "<f8", js_shape, 2, r->js);
    if (!rc) {
        long LE = (long)r->L * r->EZ;
        double *pr = ml_alloc(sizeof(double) * (2 * r->n * LE + 1));
        for (int i = 0; i < r->n; i++) {
            memcpy(pr + (2L * i) * LE, r->pa + i * LE, sizeof(double) * LE);
            memcpy(pr + (2L * i + 1) * LE, r->pb + i * LE, sizeof(double) * LE);
        }
        rc = an_write_npy(dir, "sensitivity_probs.npy", "<f8", pr_shape, 4, pr);
        ml_free(pr);
    }
    return rc;
}
