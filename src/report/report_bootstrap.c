/* The run report's table of document-bootstrap intervals (analysis/bootstrap.json,
 * docs/analysis.md "Intervals over documents"): per MoE layer NMI with domain and token class, n50
 * and the experts above 100·k/E over all domains, and the perplexity cost of k' = 1. */
#include "report/report_internal.h"
#include <math.h>
#include <stdio.h>

static void cell(char *buf, size_t n, const cJSON *o, const char *fmt) {
    char f[64];
    snprintf(f, sizeof f, "%s [%s, %s]", fmt, fmt, fmt);
    snprintf(buf, n, f, jnum(o, "value"), jnum(o, "lo"), jnum(o, "hi"));
}

void section_intervals(Page *p) {
    cJSON *j = page_json(p, "analysis/bootstrap.json");
    if (!j) return;
    char intro[300];
    snprintf(intro, sizeof intro,
             "Value [95 %% interval] from %.0f resamples of whole %ss (within each domain), "
             "not tokens (docs/analysis.md, Intervals over documents).",
             jnum(j, "resamples"),
             cJSON_IsString(cJSON_GetObjectItem(j, "unit"))
                 ? cJSON_GetObjectItem(j, "unit")->valuestring
                 : "unit");
    page_section(p, "intervals", "Intervals over documents", intro);
    const char *h[5] = {"layer", "NMI(expert; domain)", "NMI(expert; token class)", "n50 (all)",
                        "experts above 100·k/E (all)"};
    table_open(&p->body, h, 5);
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItem(j, "layers")) {
        char c[5][96];
        snprintf(c[0], sizeof c[0], "%.0f", jnum(l, "layer"));
        cell(c[1], sizeof c[1], cJSON_GetObjectItem(l, "nmi_domain"), "%.3f");
        cell(c[2], sizeof c[2], cJSON_GetObjectItem(l, "nmi_class"), "%.3f");
        cell(c[3], sizeof c[3], cJSON_GetObjectItem(cJSON_GetObjectItem(l, "n50"), "all"), "%.0f");
        cell(c[4], sizeof c[4],
             cJSON_GetObjectItem(cJSON_GetObjectItem(l, "above_threshold"), "all"), "%.0f");
        table_row(&p->body, (const char *[]){c[0], c[1], c[2], c[3], c[4]}, 5);
    }
    table_close(&p->body);
    const cJSON *pp = cJSON_GetObjectItem(j, "ppl_increase_pct");
    if (pp) {
        const char *hk[3] = {"k'", "PPL increase over the full model, raw weights (%)",
                             "renormalised weights (%)"};
        table_open(&p->body, hk, 3);
        int k = cJSON_GetArraySize(cJSON_GetObjectItem(pp, "raw"));
        for (int i = 0; i < k; i++) {
            char c[3][96];
            snprintf(c[0], sizeof c[0], "%d", i + 1);
            cell(c[1], sizeof c[1],
                 cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pp, "raw"), i), "all"),
                 "%+.2f");
            cell(c[2], sizeof c[2],
                 cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pp, "renorm"), i),
                                     "all"),
                 "%+.2f");
            table_row(&p->body, (const char *[]){c[0], c[1], c[2]}, 3);
        }
        table_close(&p->body);
    }
    cJSON_Delete(j);
}
