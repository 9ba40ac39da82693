/* Section for routing sensitivity on minimal pairs (`moelens analyze RUN --pairs FILE`,
 * analysis/sensitivity.json, docs/analysis.md §5): per-layer Jensen–Shannon divergence between the
 * two texts' routing, the most sensitive experts with their tests, and what masking the top-G
 * (against the bottom-G control) does to the pair preference and perplexity. */
#include "core/mem.h"
#include "report/report_internal.h"
#include "report/report_npy.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_LAYERS 64

static void js_bars(Page *p, const cJSON *j) {
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "js");
    int L = cJSON_GetArraySize(js);
    if (L <= 0 || L > MAX_LAYERS) return;
    double v[MAX_LAYERS], sd[MAX_LAYERS];
    char lab[MAX_LAYERS][16];
    const char *groups[MAX_LAYERS];
    for (int l = 0; l < L; l++) {
        const cJSON *o = cJSON_GetArrayItem(js, l);
        snprintf(lab[l], sizeof lab[l], "layer %.0f", jnum(o, "layer"));
        groups[l] = lab[l], v[l] = jnum(o, "mean"), sd[l] = jnum(o, "sd");
    }
    char cap[300];
    snprintf(cap, sizeof cap,
             "Jensen–Shannon divergence between the mean routing distributions of the two texts "
             "of a pair, mean ± sd over %.0f pairs (nats; at most ln 2 = 0.693).",
             jnum(j, "pairs"));
    SvgBarOpts o = {
        .f = {.title = "Routing divergence per layer",
              .xlabel = "MoE layer",
              .ylabel = "JS (nats)",
              .source = "analysis/sensitivity.json (js), analysis/sensitivity_pairs.npy",
              .caption = cap},
        .err = sd};
    svg_bar_chart(&p->body, groups, L, (const char *[]){"mean JS"}, 1, v, &o);
}

static void top_table(Page *p, const cJSON *j) {
    const cJSON *top = cJSON_GetObjectItemCaseSensitive(j, "top_experts"), *e;
    if (!cJSON_GetArraySize(top)) return;
    char h[160];
    snprintf(h, sizeof h,
             "Most pair-sensitive experts (by |S|; %.0f experts with p_BH < 0.05) "
             "<code>analysis/sensitivity.json</code>",
             jnum(j, "significant_bh_0.05"));
    sb_printf(&p->body, "<h3>%s</h3>\n", h);
    const char *hdr[6] = {"layer", "expert", "S = mean P(a) − P(b)", "t", "p", "p_BH"};
    table_open(&p->body, hdr, 6);
    cJSON_ArrayForEach(e, top) {
        char c[6][32];
        snprintf(c[0], 32, "%.0f", jnum(e, "layer"));
        snprintf(c[1], 32, "%.0f", jnum(e, "expert"));
        snprintf(c[2], 32, "%+.4g", jnum(e, "S"));
        snprintf(c[3], 32, "%.3g", jnum(e, "t"));
        snprintf(c[4], 32, "%.3g", jnum(e, "p"));
        snprintf(c[5], 32, "%.3g", jnum(e, "p_bh"));
        table_row(&p->body, (const char *[]){c[0], c[1], c[2], c[3], c[4], c[5]}, 6);
    }
    table_close(&p->body);
}

static void masking(Page *p, const cJSON *j) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "masking");
    if (!m) return;
    static const char *const keys[3] = {"unmasked", "top", "bottom"};
    static const char *const names[3] = {"unmasked", "top-G masked", "bottom-G masked (control)"};
    sb_puts(&p->body, "<h3>Masking the most sensitive experts "
                      "<code>analysis/sensitivity.json (masking)</code></h3>\n");
    const char *hdr[9] = {"condition",
                          "experts masked",
                          "preference for a (%)",
                          "Δ pp",
                          "mean margin log P(a) − log P(b)",
                          "Δ margin (p)",
                          "perplexity",
                          "Δ ppl",
                          "masked picks"};
    table_open(&p->body, hdr, 9);
    double pref[3], ppl[3];
    for (int k = 0; k < 3; k++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(m, keys[k]);
        pref[k] = jnum(o, "preference_pct"), ppl[k] = jnum(o, "ppl");
        if (!o) continue;
        char c[9][48];
        snprintf(c[0], 48, "%s", names[k]);
        snprintf(c[1], 48, "%.0f", jnum(o, "masked_experts"));
        snprintf(c[2], 48, "%.1f", pref[k]);
        snprintf(c[4], 48, "%.4g", jnum(o, "mean_margin"));
        snprintf(c[6], 48, "%.4g", ppl[k]);
        if (k) {
            snprintf(c[3], 48, "%+.1f", jnum(o, "delta_preference_pp"));
            snprintf(c[5], 48, "%+.4g (%.3g)", jnum(o, "delta_margin"), jnum(o, "delta_margin_p"));
            snprintf(c[7], 48, "%+.4g", jnum(o, "delta_ppl"));
            snprintf(c[8], 48, "%.0f", jnum(o, "masked_picks"));
        } else
            strcpy(c[3], "–"), strcpy(c[5], "–"), strcpy(c[7], "–"), strcpy(c[8], "–");
        table_row(&p->body, (const char *[]){c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]},
                  9);
    }
    table_close(&p->body);
    sb_puts(&p->body, "<div class=\"figs\">\n");
    SvgBarOpts o = {.f = {.title = "Pair preference under masking",
                          .ylabel = "% pairs with log P(a) > log P(b)",
                          .source = "analysis/sensitivity.json (masking)",
                          .caption = "Share of pairs whose first text the model prefers, unmasked "
                                     "and with the top-G or bottom-G experts masked (router bias "
                                     "−∞); dashed: 50 % (no preference)."},
                    .has_hline = 1,
                    .hline = 50,
                    .hline_label = "50 %"};
    const char *groups[3] = {"unmasked", "top-G", "bottom-G"};
    svg_bar_chart(&p->body, groups, 3, (const char *[]){"preference"}, 1, pref, &o);
    SvgBarOpts q = {.f = {.title = "Perplexity under masking",
                          .ylabel = "validation perplexity",
                          .source = "analysis/sensitivity.json (masking.*.ppl)",
                          .caption = "Utility cost of the masks: validation perplexity over "
                                     "ppl_tokens tokens (missing without a text set)."}};
    svg_bar_chart(&p->body, groups, 3, (const char *[]){"perplexity"}, 1, ppl, &q);
    sb_puts(&p->body, "</div>\n");
}

void section_sensitivity(Page *p) {
    cJSON *j = page_json(p, "analysis/sensitivity.json");
    if (!j) return;
    char intro[400];
    const char *file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "pairs_file"));
    snprintf(intro, sizeof intro,
             "How routing differs between the two texts of %.0f minimal pairs (%s), which experts "
             "carry the difference, and what masking them changes (docs/analysis.md §5).",
             jnum(j, "pairs"), file ? file : "?");
    page_section(p, "sensitivity", "Routing sensitivity", intro);
    sb_puts(&p->body, "<div class=\"figs\">\n");
    js_bars(p, j);
    sb_puts(&p->body, "</div>\n");
    top_table(p, j);
    masking(p, j);
    page_csv_table(p, "analysis/sensitivity_experts.csv", 20,
                   "Every expert ranked by |S| (group: masked as top, bottom or none)");
    page_consume(p, "analysis/sensitivity_pairs.npy");
    page_consume(p, "analysis/sensitivity_probs.npy");
    page_csv_table(p, "analysis/sensitivity_pairs.csv", 20,
                   "Per pair: log P of each text, unmasked and masked");
    page_note(p, "Per-pair routing distributions (not drawn): analysis/sensitivity_probs.npy "
                 "[pairs, 2, L, E]; per-pair JS: analysis/sensitivity_pairs.npy.");
    cJSON_Delete(j);
}
