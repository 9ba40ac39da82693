/* Pruning experts beside routing to fewer (analysis/prune.json from `analyze --only ...,prune`,
 * analysis/topk.json): both cut the experts' cost, pruning the experts stored, k' the experts run
 * per token; one chart puts both curves on the share of the experts each keeps. */
#include "core/mem.h"
#include "report/report_internal.h"
#include <math.h>
#include <stdio.h>

enum { MAXP = 16 };

/* Series "prune, CRIT": (n/E, ppl / full) for the full model and each kept count. */
static int prune_points(const cJSON *j, const char *crit, double *x, double *y) {
    const cJSON *kept = cJSON_GetObjectItemCaseSensitive(j, "kept"),
                *ppl = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "ppl"),
                                                        crit);
    double E = jnum(j, "experts"), full = jnum(j, "full");
    int n = 0;
    x[n] = 1, y[n++] = 1;
    for (int i = 0; i < cJSON_GetArraySize(kept) && n < MAXP; i++, n++) {
        const cJSON *v = cJSON_GetArrayItem(ppl, i);
        x[n] = cJSON_GetArrayItem(kept, i)->valuedouble / E;
        y[n] = cJSON_IsNumber(v) ? v->valuedouble / full : NAN;
    }
    return n;
}

/* Series "k', raw/renorm": (k'/k, ppl / full) from topk.json. */
static int kprime_points(const cJSON *t, const char *w, double *x, double *y) {
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(t, "perplexity"),
                *a = cJSON_GetObjectItemCaseSensitive(pp, w);
    int K = cJSON_GetArraySize(a), n = 0;
    double full = jnum(pp, "full");
    for (int i = 0; i < K && n < MAXP; i++, n++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        x[n] = (double)(i + 1) / K, y[n] = cJSON_IsNumber(v) ? v->valuedouble / full : NAN;
    }
    return n;
}

void section_prune(Page *p) {
    cJSON *j = page_json(p, "analysis/prune.json");
    if (!j) return;
    cJSON *t = page_exists(p, "analysis/topk.json") ? page_json(p, "analysis/topk.json") : NULL;
    char intro[512];
    snprintf(intro, sizeof intro,
             "Perplexity when every MoE layer keeps only its n most salient of %.0f experts (by "
             "routing frequency, or REAP: mean router weight x output norm), ranked on %.0f "
             "calibration tokens and scored on %.0f held-out tokens; the file `moelens prune` "
             "writes computes exactly this.",
             jnum(j, "experts"), jnum(j, "calibration_tokens"), jnum(j, "eval_tokens"));
    page_section(p, "prune", "Pruning experts versus routing to fewer", intro);
    double x[4][MAXP], y[4][MAXP];
    SvgSeries s[4] = {{"prune, freq", x[0], y[0], prune_points(j, "freq", x[0], y[0])},
                      {"prune, reap", x[1], y[1], prune_points(j, "reap", x[1], y[1])}};
    int ns = 2;
    if (t) {
        s[2] = (SvgSeries){"k', raw weights", x[2], y[2], kprime_points(t, "raw", x[2], y[2])};
        s[3] = (SvgSeries){"k', renormalised", x[3], y[3], kprime_points(t, "renorm", x[3], y[3])};
        ns = 4;
    }
    SvgLineOpts o = {
        .f = {.title = "Perplexity against the share of experts kept",
              .xlabel = "share kept: n / E experts stored (prune), k' / k run per token (k')",
              .ylabel = "perplexity / full model's",
              .source = "analysis/prune.json, analysis/prune_ppl.csv, analysis/topk.json",
              .caption =
                  "Pruning cuts the experts stored (memory), k' the experts each token runs "
                  "(compute). Each curve is divided by the full model's perplexity on its own "
                  "tokens (prune: the held-out windows; k': the first --kprime-tokens)."},
        .has_hline = 1,
        .hline = 1,
        .hline_label = "full model"};
    figs_open(p);
    svg_line_chart(&p->body, s, ns, &o);
    figs_close(p);
    page_csv_table(p, "analysis/prune_ppl.csv", 60,
                   "Perplexity per criterion, experts kept and domain");
    page_csv_table(p, "analysis/prune_saliency.csv", 64, "Saliency of each expert per layer");
    cJSON_Delete(j);
    cJSON_Delete(t);
}
