/* The MoE Lens view of an LM analysis (own run or GGUF model; docs/report.md): expert usage % of
 * tokens per layer against the 100·k/E threshold, max usage, n50 and #experts above threshold per
 * layer, and a table in the shape of papers.md §1 (per layer: max usage %, n50, #above threshold;
 * per domain: perplexity with k' = 1..k) to set beside the paper's numbers. */
#include "core/mem.h"
#include "report/report_internal.h"
#include "report/report_npy.h"
#include "report/svg.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* usage[l, e] = 100 · picks / tokens over all domains (sums to 100·k per layer). */
static double *usage_matrix(Page *p, int *L, int *E) {
    char *path = page_path(p, "analysis/routing_counts.npy");
    int64_t sh[8];
    int nd;
    double *c = npy_load_doubles(path, sh, &nd);
    ml_free(path);
    if (!c || nd != 4) {
        ml_free(c);
        return NULL;
    }
    int D = (int)sh[1], K = (int)sh[3];
    *L = (int)sh[0], *E = (int)sh[2];
    double *u = ml_alloc(sizeof(double) * *L * *E);
    for (int l = 0; l < *L; l++) {
        double picks = 0;
        for (int e = 0; e < *E; e++) {
            double s = 0;
            for (int d = 0; d < D; d++)
                for (int j = 0; j < K; j++) s += c[(((long)l * D + d) * *E + e) * K + j];
            u[l * *E + e] = s, picks += s;
        }
        double tokens = picks / K; /* every token fills k slots */
        for (int e = 0; e < *E; e++)
            u[l * *E + e] = tokens > 0 ? 100 * u[l * *E + e] / tokens : NAN;
    }
    ml_free(c);
    return u;
}

static void usage_figures(Page *p, const cJSON *rj) {
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(rj, "layers");
    int L = cJSON_GetArraySize(layers), Lu = 0, E = 0;
    double thr = jnum(rj, "threshold_pct_tokens");
    double *u = usage_matrix(p, &Lu, &E);
    char rl[64][48];
    const char *rows[64];
    double *x = ml_alloc(sizeof(double) * (L + 1)), *mx = ml_alloc(sizeof(double) * (L + 1));
    double *n50 = ml_alloc(sizeof(double) * (L + 1)), *above = ml_alloc(sizeof(double) * (L + 1));
    for (int l = 0; l < L && l < 64; l++) {
        const cJSON *lo = cJSON_GetArrayItem(layers, l), *all = cJSON_GetObjectItem(lo, "all");
        x[l] = jnum(lo, "layer");
        mx[l] = 100 * jnum(all, "max_share_tokens"), n50[l] = jnum(all, "n50");
        above[l] = jnum(all, "above_threshold");
        snprintf(rl[l], sizeof rl[l], "layer %d (%d above)", (int)x[l], (int)above[l]);
        rows[l] = rl[l];
    }
    sb_puts(&p->body, "<div class=\"figs\">\n");
    char cap[400];
    if (u && Lu == L) {
        /* usage above the threshold stands out: colour range from the threshold up */
        snprintf(
            cap, sizeof cap,
            "Usage %% of tokens (100·picks/tokens, all domains) of every expert per MoE layer; "
            "each row sums to 100·k. MoE Lens' threshold 100·k/E = %.3g %%: the row label "
            "counts the experts at or above it; cells below it are dark.",
            thr);
        SvgHeatOpts o = {.f = {.title = "Expert usage % per layer",
                               .xlabel = "expert",
                               .ylabel = "MoE layer",
                               .source = "analysis/routing_counts.npy, analysis/routing.json",
                               .caption = cap},
                         .vmin = thr,
                         .vmax = NAN,
                         .cell = E <= 16 ? 22 : 0};
        o.f.width = E <= 16 ? 0 : 640;
        svg_heatmap(&p->body, u, L, E, rows, NULL, &o);
    }
    SvgSeries s1[1] = {{"max usage % (all domains)", x, mx, L}};
    snprintf(
        cap, sizeof cap,
        "The most used expert's share of the layer's tokens (%%); dashed: the 100·k/E = %.3g %% "
        "threshold.",
        thr);
    SvgLineOpts o1 = {.f = {.title = "Max expert usage per layer",
                            .xlabel = "MoE block index",
                            .ylabel = "% of tokens",
                            .source = "analysis/routing.json (layers[].all.max_share_tokens)",
                            .caption = cap},
                      .has_hline = 1,
                      .hline = thr,
                      .hline_label = "100·k/E"};
    svg_line_chart(&p->body, s1, 1, &o1);
    SvgSeries s2[2] = {{"n50", x, n50, L}, {"experts ≥ 100·k/E", x, above, L}};
    SvgLineOpts o2 = {.f = {.title = "n50 and experts above the threshold per layer",
                            .xlabel = "MoE block index",
                            .ylabel = "experts",
                            .source = "analysis/routing.json (layers[].all.n50, above_threshold)",
                            .caption = "n50: fewest experts that take half of the picks (uniform: "
                                       "E/2, dashed); experts whose usage reaches 100·k/E."},
                      .has_hline = 1,
                      .hline = jnum(rj, "experts") / 2,
                      .hline_label = "E/2"};
    svg_line_chart(&p->body, s2, 2, &o2);
    sb_puts(&p->body, "</div>\n");
    ml_free(u), ml_free(x), ml_free(mx), ml_free(n50), ml_free(above);
}

/* papers.md §1 shape: per layer max usage %, n50, #above; per domain k' = 1..k perplexity. */
static void paper_tables(Page *p, const cJSON *rj, const cJSON *tj) {
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(rj, "layers");
    int L = cJSON_GetArraySize(layers);
    char c[4][32];
    const char *cells[4] = {c[0], c[1], c[2], c[3]};
    sb_printf(&p->body,
              "<p><b>Table A (papers.md §1A shape).</b> Per MoE layer, all domains: max "
              "usage %% of tokens, n50 and experts at or above 100·k/E = %.3g %%.</p>\n",
              jnum(rj, "threshold_pct_tokens"));
    const char *h1[4] = {"layer", "max usage %", "n50", "experts ≥ 100·k/E"};
    table_open(&p->body, h1, 4);
    for (int l = 0; l < L; l++) {
        const cJSON *lo = cJSON_GetArrayItem(layers, l), *all = cJSON_GetObjectItem(lo, "all");
        snprintf(c[0], 32, "%d", (int)jnum(lo, "layer"));
        snprintf(c[1], 32, "%.1f", 100 * jnum(all, "max_share_tokens"));
        snprintf(c[2], 32, "%d", (int)jnum(all, "n50"));
        snprintf(c[3], 32, "%d", (int)jnum(all, "above_threshold"));
        table_row(&p->body, cells, 4);
    }
    table_close(&p->body);
    /* topk.json perplexity per domain: {"full", "raw": [k], "renorm": [k]} under "domains" */
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(tj, "perplexity");
    int K = cJSON_GetArraySize(cJSON_GetObjectItem(pp, "raw"));
    if (!K || K > 16) return;
    sb_puts(&p->body, "<p><b>Table B (papers.md §1D shape).</b> Perplexity per domain with k' "
                      "experts kept in every MoE layer (raw weights, as the paper; renormalised "
                      "in brackets), and k'=1 / k'=k.</p>\n");
    const char *h2[20];
    char hk[18][16];
    h2[0] = "domain";
    for (int i = 0; i < K; i++) snprintf(hk[i], 16, "k'=%d", i + 1), h2[i + 1] = hk[i];
    h2[K + 1] = "k1/kk";
    table_open(&p->body, h2, K + 2);
    const cJSON *doms = cJSON_GetObjectItem(pp, "domains"), *d;
    char v[18][40];
    const char *row[20];
    for (int i = 0; i < K + 2; i++) row[i] = v[i];
    const cJSON *list[65];
    int nd = 0;
    cJSON_ArrayForEach(d, doms) if (nd < 64) list[nd++] = d;
    list[nd++] = pp; /* all domains */
    for (int i = 0; i < nd; i++) {
        const cJSON *o = list[i];
        snprintf(v[0], 40, "%s", o == pp ? "all" : o->string);
        const cJSON *raw = cJSON_GetObjectItem(o, "raw"), *ren = cJSON_GetObjectItem(o, "renorm");
        for (int k = 0; k < K; k++) {
            const cJSON *a = cJSON_GetArrayItem(raw, k), *b = cJSON_GetArrayItem(ren, k);
            snprintf(v[k + 1], 40, "%.4g (%.4g)", cJSON_IsNumber(a) ? a->valuedouble : NAN,
                     cJSON_IsNumber(b) ? b->valuedouble : NAN);
        }
        const cJSON *a1 = cJSON_GetArrayItem(raw, 0), *ak = cJSON_GetArrayItem(raw, K - 1);
        snprintf(v[K + 1], 40, "%.3f",
                 cJSON_IsNumber(a1) && cJSON_IsNumber(ak) ? a1->valuedouble / ak->valuedouble
                                                          : NAN);
        table_row(&p->body, row, K + 2);
    }
    table_close(&p->body);
}

void section_moelens(Page *p) {
    cJSON *rj = page_json(p, "analysis/routing.json");
    if (!rj) return;
    cJSON *tj = page_json(p, "analysis/topk.json"), *aj = page_json(p, "analysis/analyze.json");
    page_section(
        p, "moelens", "MoE Lens view",
        "The figures and tables of MoE Lens (papers.md §1) for this model: how few experts "
        "carry each layer, and what keeping only k' experts costs. Shared experts are "
        "never counted (they are not routed).");
    const cJSON *conv = cJSON_GetObjectItem(aj, "routing_convention");
    const cJSON *desc = cJSON_GetObjectItem(conv, "description");
    if (cJSON_IsString(desc)) {
        char line[400];
        const cJSON *arch = cJSON_GetObjectItem(conv, "architecture");
        snprintf(line, sizeof line, "Routing convention%s%s: %s.",
                 cJSON_IsString(arch) ? " of " : "", cJSON_IsString(arch) ? arch->valuestring : "",
                 desc->valuestring);
        page_note(p, line);
    }
    const cJSON *iv = cJSON_GetObjectItem(aj, "intervention");
    if (iv) {
        char *s = cJSON_PrintUnformatted(iv), line[600];
        snprintf(line, sizeof line, "Analysed under a routing intervention: %s", s);
        free(s);
        page_note(p, line);
    }
    usage_figures(p, rj);
    paper_tables(p, rj, tj);
    cJSON_Delete(rj), cJSON_Delete(tj), cJSON_Delete(aj);
}
