#include "analysis/lm/compare.h"
#include "stats/stats.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RUN/NAME read whole (NUL-terminated; ml_free it), or NULL + ml_error naming the file. */
static char *read_run_file(const char *run, const char *name) {
    char *p = ml_path_join(run, name), *buf = NULL;
    int rc = ml_read_file(p, &buf, NULL);
    ml_free(p);
    return rc ? NULL : buf;
}

/* The last val_ppl recorded in RUN/metrics.jsonl. */
static int last_val_ppl(const char *run, double *ppl) {
    char *buf = read_run_file(run, "metrics.jsonl");
    if (!buf) return -1;
    *ppl = NAN;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line), *v = j ? cJSON_GetObjectItem(j, "val_ppl") : NULL;
        if (cJSON_IsNumber(v)) *ppl = v->valuedouble;
        cJSON_Delete(j);
    }
    ml_free(buf);
    return isnan(*ppl)
               ? ml_error("%s/metrics.jsonl: no val_ppl record (did training evaluate?)", run)
               : 0;
}

/* A sweep's run folder ARM-seedS belongs to arm ARM (the grid's name, which tells apart arms the
 * config fields below cannot, e.g. dense baselines of two widths); 1 when the name has that form.
 */
static int arm_from_folder(const char *run, char *arm, size_t cap) {
    size_t n = strlen(run);
    while (n > 1 && run[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && run[b - 1] != '/') b--;
    size_t d = n;
    while (d > b && run[d - 1] >= '0' && run[d - 1] <= '9') d--;
    if (d == n || d < b + 6 || strncmp(run + d - 5, "-seed", 5)) return 0;
    snprintf(arm, cap, "%.*s", (int)(d - 5 - b), run + b);
    return 1;
}

/* The run's training seed (config.json "seed", a number or a numeric string); paired tests match
 * runs of two arms by it. */
static int seed_of(const char *run, long *seed) {
    char *buf = read_run_file(run, "config.json");
    if (!buf) return -1;
    cJSON *j = cJSON_Parse(buf);
    ml_free(buf);
    const cJSON *s = cJSON_GetObjectItem(j, "seed");
    *seed = cJSON_IsNumber(s)   ? (long)s->valuedouble
            : cJSON_IsString(s) ? strtol(s->valuestring, NULL, 10)
                                : -1;
    cJSON_Delete(j);
    return 0;
}

/* Otherwise the arm is router/routing/k{top_k} of RUN/config.json. */
static int arm_of(const char *run, char *arm, size_t cap) {
    if (arm_from_folder(run, arm, cap)) return 0;
    char *buf = read_run_file(run, "config.json");
    if (!buf) return -1;
    cJSON *j = cJSON_Parse(buf);
    ml_free(buf);
    cJSON *r = cJSON_GetObjectItem(j, "router"), *l = cJSON_GetObjectItem(j, "routing"),
          *k = cJSON_GetObjectItem(j, "top_k");
    int ok = cJSON_IsString(r) && cJSON_IsString(l) && cJSON_IsNumber(k);
    if (ok) snprintf(arm, cap, "%s/%s/k%d", r->valuestring, l->valuestring, k->valueint);
    cJSON_Delete(j);
    return ok ? 0 : ml_error("%s/config.json: expected router, routing and top_k fields", run);
}

/* One pair of arms over seeds: difference, Welch interval and tests, TOST at the pair's margin. */
/* Differences a(s) − b(s) over the seeds both arms ran (o->paired); returns how many. */
static int seed_diffs(const double *a, const long *sa, int ca, const double *b, const long *sb,
                      int cb, double *d) {
    int m = 0;
    for (int i = 0; i < ca; i++)
        for (int k = 0; k < cb; k++)
            if (sa[i] == sb[k]) d[m++] = a[i] - b[k];
    return m;
}

/* One pair of arms over seeds: difference, interval and tests (Welch, or paired t by seed),
 * TOST at the pair's margin. */
static cJSON *pair_json(const char *na, const double *a, const long *sa, int ca, const char *nb,
                        const double *b, const long *sb, int cb, const CompareOptions *o) {
    double ma = stat_mean(a, ca), mb = stat_mean(b, cb), diff = ma - mb;
    double delta = o->margin_rel > 0 ? o->margin_rel * 0.5 * (ma + mb) : o->margin;
    double se = NAN, df = NAN;
    int m = 0;
    if (o->paired) {
        double *d = ml_alloc(sizeof(double) * (ca * cb + 1));
        m = seed_diffs(a, sa, ca, b, sb, cb, d);
        diff = stat_mean(d, m), se = stat_sd(d, m) / sqrt(m), df = m - 1;
        ml_free(d);
    } else if (ca >= 2 && cb >= 2)
        stat_welch(a, ca, b, cb, &se, &df);
    int ok = (o->paired ? m >= 2 : ca >= 2 && cb >= 2) && se > 0;
    double p = NAN;
    if (ok)
        p = fmax(1 - stat_t_cdf((diff + delta) / se, df), stat_t_cdf((diff - delta) / se, df));
    else if ((o->paired ? m >= 2 : ca >= 2 && cb >= 2) && se == 0)
        p = fabs(diff) < delta ? 0 : 1;
    double q95 = ok ? stat_t_quantile(0.975, df) : NAN, q90 = ok ? stat_t_quantile(0.95, df) : NAN;
    double p_less = ok ? stat_t_cdf(diff / se, df) : NAN; /* H0: mean a ≥ mean b */
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "a", na);
    cJSON_AddStringToObject(j, "b", nb);
    cJSON_AddNumberToObject(j, "diff", diff);
    cJSON_AddNumberToObject(j, "diff_rel", mb > 0 ? diff / mb : NAN);
    cJSON_AddNumberToObject(j, "margin", delta);
    cJSON *ci = cJSON_AddArrayToObject(j, "ci95");
    cJSON *ci90 = cJSON_AddArrayToObject(j, "ci90");
    double lo90 = diff - q90 * se, hi90 = diff + q90 * se;
    if (ok) {
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(diff - q95 * se));
        cJSON_AddItemToArray(ci, cJSON_CreateNumber(diff + q95 * se));
        cJSON_AddItemToArray(ci90, cJSON_CreateNumber(lo90));
        cJSON_AddItemToArray(ci90, cJSON_CreateNumber(hi90));
        cJSON_AddNumberToObject(j, "p_welch", 2 * (p_less < 0.5 ? p_less : 1 - p_less));
        cJSON_AddNumberToObject(j, "p_a_lower", p_less);
        cJSON_AddNumberToObject(j, "p_a_higher", 1 - p_less);
    }
    if (isnan(p))
        cJSON_AddNullToObject(j, "p_tost"); /* fewer than 2 seeds in an arm */
    else
        cJSON_AddNumberToObject(j, "p_tost", p);
    cJSON_AddBoolToObject(j, "equivalent", !isnan(p) && p < 0.05);
    /* shown NOT equivalent: the 90% interval lies wholly outside ±δ (each one-sided test at 5%) */
    cJSON_AddBoolToObject(j, "not_equivalent", ok && (lo90 > delta || hi90 < -delta));
    if (o->paired) cJSON_AddNumberToObject(j, "paired_seeds", m);
    cJSON_AddStringToObject(j, "p_over",
                            o->paired ? "seeds run by both arms; paired t"
                                      : "runs (seeds) of each arm; Welch t");
    return j;
}

static const cJSON *find_pair(const cJSON *pairs, const char *a, const char *b, int *swapped) {
    const cJSON *q;
    cJSON_ArrayForEach(q, pairs) {
        const char *x = cJSON_GetObjectItem(q, "a")->valuestring,
                   *y = cJSON_GetObjectItem(q, "b")->valuestring;
        if (!strcmp(x, a) && !strcmp(y, b)) return *swapped = 0, q;
        if (!strcmp(x, b) && !strcmp(y, a)) return *swapped = 1, q;
    }
    return NULL;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Verdict of a claim from its pair: "equivalent" (TOST) or "better" (a has the lower perplexity;
 * one-sided Welch). Reproduced / not reproduced need p < 0.05; anything else is inconclusive. */
static const char *verdict(const char *test, const cJSON *q, int swapped) {
    if (!strcmp(test, "equivalent")) {
        if (cJSON_IsTrue(cJSON_GetObjectItem(q, "equivalent"))) return "reproduced";
        if (cJSON_IsTrue(cJSON_GetObjectItem(q, "not_equivalent"))) return "not reproduced";
        return "inconclusive";
    }
    double lower = num(q, swapped ? "p_a_higher" : "p_a_lower"),
           higher = num(q, swapped ? "p_a_lower" : "p_a_higher");
    if (lower < 0.05) return "reproduced";
    if (higher < 0.05) return "not reproduced";
    return "inconclusive";
}

/* claims: [{claim, seed, paper, test: equivalent|better, a, b}] → findings rows. */
static int eval_claims(const cJSON *claims, const cJSON *pairs, cJSON *out) {
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, claims) {
        const cJSON *t = cJSON_GetObjectItem(c, "test"), *a = cJSON_GetObjectItem(c, "a"),
                    *b = cJSON_GetObjectItem(c, "b");
        if (!cJSON_IsString(t) || !cJSON_IsString(a) || !cJSON_IsString(b) ||
            (strcmp(t->valuestring, "equivalent") && strcmp(t->valuestring, "better")))
            return ml_error("claims[%d]: expected test (equivalent|better), a and b", i);
        int sw = 0;
        const cJSON *q = find_pair(pairs, a->valuestring, b->valuestring, &sw);
        cJSON *f = cJSON_Duplicate(c, 1);
        if (!q) {
            cJSON_AddStringToObject(f, "verdict", "inconclusive");
            cJSON_AddStringToObject(f, "note", "an arm of the claim has no finished run");
        } else {
            double s = sw ? -1 : 1;
            cJSON_AddNumberToObject(f, "mean_a", NAN), cJSON_AddNumberToObject(f, "mean_b", NAN);
            cJSON_AddNumberToObject(f, "diff", s * num(q, "diff"));
            const cJSON *ci = cJSON_GetObjectItem(q, "ci95");
            if (cJSON_GetArraySize(ci) == 2) {
                double lo = s * cJSON_GetArrayItem(ci, sw)->valuedouble,
                       hi = s * cJSON_GetArrayItem(ci, !sw)->valuedouble;
                cJSON *o = cJSON_AddArrayToObject(f, "ci95");
                cJSON_AddItemToArray(o, cJSON_CreateNumber(lo));
                cJSON_AddItemToArray(o, cJSON_CreateNumber(hi));
            }
            cJSON_AddNumberToObject(f, "margin", num(q, "margin"));
            int eq = !strcmp(t->valuestring, "equivalent");
            double p = eq ? num(q, "p_tost") : num(q, sw ? "p_a_higher" : "p_a_lower");
            if (isnan(p))
                cJSON_AddNullToObject(f, "p");
            else
                cJSON_AddNumberToObject(f, "p", p);
            cJSON_AddStringToObject(f, "p_is", eq ? "TOST at the margin" : "one-sided t, a < b");
            cJSON_AddStringToObject(f, "p_over", cJSON_GetObjectItem(q, "p_over")->valuestring);
            cJSON_AddStringToObject(f, "verdict", verdict(t->valuestring, q, sw));
        }
        cJSON_AddItemToArray(out, f);
        i++;
    }
    return 0;
}

/* Arm means into the claims rows (mean_a, mean_b placeholders above). */
static void fill_means(cJSON *findings, const cJSON *arms) {
    cJSON *f;
    cJSON_ArrayForEach(f, findings) {
        const char *k[2] = {"a", "b"}, *m[2] = {"mean_a", "mean_b"};
        for (int i = 0; i < 2; i++) {
            const cJSON *a;
            cJSON_ArrayForEach(a, arms) if (!strcmp(cJSON_GetObjectItem(a, "arm")->valuestring,
                                                    cJSON_GetObjectItem(f, k[i])->valuestring))
                cJSON_ReplaceItemInObject(f, m[i], cJSON_CreateNumber(num(a, "mean")));
        }
    }
}

int compare_runs(const char *const *runs, int n, const CompareOptions *o, cJSON **out) {
    char(*arm)[96] = ml_alloc(sizeof *arm * n), (*names)[96] = ml_alloc(sizeof *names * n);
    double *ppl = ml_alloc(sizeof(double) * n), *vals = ml_alloc(sizeof(double) * n * n);
    long *seeds = ml_alloc(sizeof(long) * n * n);
    int *cnt = ml_alloc(sizeof(int) * n), na = 0, rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        long seed = 0;
        if (arm_of(runs[i], arm[i], sizeof arm[i]) || last_val_ppl(runs[i], &ppl[i]) ||
            seed_of(runs[i], &seed))
            rc = -1;
        int a = 0;
        while (a < na && strcmp(names[a], arm[i])) a++;
        if (a == na) strcpy(names[na++], arm[i]);
        seeds[(long)a * n + cnt[a]] = seed;
        vals[(long)a * n + cnt[a]++] = ppl[i];
    }
    if (!rc) {
        cJSON *j = cJSON_CreateObject(), *arms = cJSON_AddArrayToObject(j, "arms"),
              *pairs = cJSON_AddArrayToObject(j, "pairs");
        if (o->margin_rel > 0)
            cJSON_AddNumberToObject(j, "margin_rel", o->margin_rel);
        else
            cJSON_AddNumberToObject(j, "margin", o->margin);
        for (int a = 0; a < na; a++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "arm", names[a]);
            cJSON_AddNumberToObject(o, "n", cnt[a]);
            cJSON_AddNumberToObject(o, "mean", stat_mean(vals + (long)a * n, cnt[a]));
            cJSON_AddNumberToObject(o, "sd", stat_sd(vals + (long)a * n, cnt[a]));
            cJSON_AddItemToObject(o, "ppl", cJSON_CreateDoubleArray(vals + (long)a * n, cnt[a]));
            cJSON_AddItemToArray(arms, o);
        }
        for (int a = 0; a < na; a++)
            for (int b = a + 1; b < na; b++)
                cJSON_AddItemToArray(
                    pairs, pair_json(names[a], vals + (long)a * n, seeds + (long)a * n, cnt[a],
                                     names[b], vals + (long)b * n, seeds + (long)b * n, cnt[b], o));
        if (o->claims) {
            cJSON *f = cJSON_AddArrayToObject(j, "findings");
            rc = eval_claims(o->claims, pairs, f);
            if (!rc) fill_means(f, arms);
        }
        if (rc) {
            cJSON_Delete(j);
            j = NULL;
        }
        *out = j;
    }
    ml_free(arm), ml_free(names), ml_free(ppl), ml_free(vals), ml_free(cnt), ml_free(seeds);
    return rc;
}
