#include "analysis/compare.h"
#include "analysis/stats.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The last val_ppl recorded in RUN/metrics.jsonl. */
static int last_val_ppl(const char *run, double *ppl) {
    char *p = ml_path_join(run, "metrics.jsonl"), *buf;
    size_t len;
    int rc = ml_read_file(p, &buf, &len);
    ml_free(p);
    if (rc) return -1;
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

static int arm_of(const char *run, char *arm, size_t cap) {
    char *p = ml_path_join(run, "config.json"), *buf;
    size_t len;
    int rc = ml_read_file(p, &buf, &len);
    if (rc) return ml_free(p), -1;
    cJSON *j = cJSON_Parse(buf);
    ml_free(buf);
    cJSON *r = cJSON_GetObjectItem(j, "router"), *l = cJSON_GetObjectItem(j, "routing"),
          *k = cJSON_GetObjectItem(j, "top_k");
    if (!cJSON_IsString(r) || !cJSON_IsString(l) || !cJSON_IsNumber(k)) {
        cJSON_Delete(j);
        rc = ml_error("%s: expected router, routing and top_k fields", p);
        return ml_free(p), rc;
    }
    snprintf(arm, cap, "%s/%s/k%d", r->valuestring, l->valuestring, k->valueint);
    cJSON_Delete(j);
    ml_free(p);
    return 0;
}

int compare_runs(const char *const *runs, int n, double margin, cJSON **out) {
    char(*arm)[96] = ml_alloc(sizeof *arm * n), (*names)[96] = ml_alloc(sizeof *names * n);
    double *ppl = ml_alloc(sizeof(double) * n), *vals = ml_alloc(sizeof(double) * n * n);
    int *cnt = ml_alloc(sizeof(int) * n), na = 0, rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        if (arm_of(runs[i], arm[i], sizeof arm[i]) || last_val_ppl(runs[i], &ppl[i])) rc = -1;
        int a = 0;
        while (a < na && strcmp(names[a], arm[i])) a++;
        if (a == na) strcpy(names[na++], arm[i]);
        vals[(long)a * n + cnt[a]++] = ppl[i];
    }
    if (!rc) {
        cJSON *j = cJSON_CreateObject(), *arms = cJSON_AddArrayToObject(j, "arms"),
              *pairs = cJSON_AddArrayToObject(j, "pairs");
        cJSON_AddNumberToObject(j, "margin", margin);
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
            for (int b = a + 1; b < na; b++) {
                double diff, p = stat_tost(vals + (long)a * n, cnt[a], vals + (long)b * n, cnt[b],
                                           margin, &diff);
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "a", names[a]);
                cJSON_AddStringToObject(o, "b", names[b]);
                cJSON_AddNumberToObject(o, "diff", diff);
                if (isnan(p))
                    cJSON_AddNullToObject(o, "p_tost"); /* fewer than 2 seeds in an arm */
                else
                    cJSON_AddNumberToObject(o, "p_tost", p);
                cJSON_AddBoolToObject(o, "equivalent", !isnan(p) && p < 0.05);
                cJSON_AddItemToArray(pairs, o);
            }
        *out = j;
    }
    ml_free(arm), ml_free(names), ml_free(ppl), ml_free(vals), ml_free(cnt);
    return rc;
}
