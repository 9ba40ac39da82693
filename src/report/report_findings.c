/* The findings view of a study (a sweep whose grid lists claims): per claim, the paper's number,
 * the measured difference with its 95 % interval over seeds, the test's p-value and the verdict
 * (compare.json "findings", docs/analysis.md §6). */
#include "report/report_internal.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* "mean_a − mean_b = diff [lo, hi]" in perplexity. */
static void measured(const cJSON *f, char *buf, size_t n) {
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(f, "ci95");
    double lo = NAN, hi = NAN;
    if (cJSON_GetArraySize(ci) == 2)
        lo = cJSON_GetArrayItem(ci, 0)->valuedouble, hi = cJSON_GetArrayItem(ci, 1)->valuedouble;
    double mb = jnum(f, "mean_b"), d = jnum(f, "diff");
    snprintf(buf, n, "%.2f vs %.2f: %+.2f [%.2f, %.2f] (%+.1f %%)", jnum(f, "mean_a"), mb, d, lo,
             hi, 100 * d / mb);
}

void section_findings(Page *p) {
    cJSON *j = page_json(p, "compare.json");
    const cJSON *fs = j ? cJSON_GetObjectItemCaseSensitive(j, "findings") : NULL;
    if (!cJSON_GetArraySize(fs)) {
        cJSON_Delete(j);
        return;
    }
    char margin[80], intro[512];
    double rel = jnum(j, "margin_rel");
    if (isnan(rel))
        snprintf(margin, sizeof margin, "%.3g PPL", jnum(j, "margin"));
    else
        snprintf(margin, sizeof margin, "%.3g %% of the pair's mean perplexity", 100 * rel);
    snprintf(intro, sizeof intro,
             "Claims of the study's grid, judged on the last validation perplexity of each run. "
             "Interval: 95 %% t interval of the difference over seeds (paired by seed when the "
             "grid sets paired, else Welch). equivalent: TOST at a margin of %s; better: "
             "one-sided t. p-values are over seeds (p_over in compare.json); reproduced / not "
             "reproduced need p < 0.05.",
             margin);
    page_section(p, "findings", "Findings", intro);
    const char *h[7] = {"claim (seed)",
                        "paper",
                        "arm a vs arm b (val ppl)",
                        "measured: a, b, a − b [95 % CI]",
                        "test",
                        "p",
                        "verdict"};
    table_open(&p->body, h, 7);
    const cJSON *f;
    cJSON_ArrayForEach(f, fs) {
        char claim[512], arms[200], meas[160], pv[32];
        snprintf(claim, sizeof claim, "%s (%s)", str(f, "claim"), str(f, "seed"));
        snprintf(arms, sizeof arms, "%s vs %s", str(f, "a"), str(f, "b"));
        measured(f, meas, sizeof meas);
        double pval = jnum(f, "p");
        if (isnan(pval))
            snprintf(pv, sizeof pv, "n/a");
        else
            snprintf(pv, sizeof pv, "%.3g", pval);
        table_row(&p->body,
                  (const char *[]){claim, str(f, "paper"), arms, meas, str(f, "test"), pv,
                                   str(f, "verdict")},
                  7);
    }
    table_close(&p->body);
    cJSON_Delete(j);
}
