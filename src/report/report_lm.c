/* Sections for the outputs of `moelens analyze` on a language model (RUN/analysis/, formats in
 * docs/analysis.md): routing heatmaps and concentration per layer, the per-expert lens, top-1 vs
 * ensemble cosine and perplexity with k' experts, specialisation (NMI, lift). */
#include "core/fileio.h"
#include "core/mem.h"
#include "report/report_internal.h"
#include "report/report_npy.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 64

/* Distinct values of CSV column `col` in order of first appearance (domain names in the order the
 * analysis numbered them). Returns how many. */
static int csv_column_names(Page *p, const char *rel, int col, char names[][48], int max) {
    char *path = page_path(p, rel), *buf;
    size_t len;
    int r = ml_read_file(path, &buf, &len), n = 0;
    ml_free(path);
    if (r) return 0;
    char *line = strchr(buf, '\n'); /* skip the header */
    while (line && *++line) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        char *f = line;
        for (int c = 0; c < col && f; c++) f = strchr(f, ','), f = f ? f + 1 : NULL;
        if (f) {
            size_t k = strcspn(f, ",");
            char name[48];
            snprintf(name, sizeof name, "%.*s", (int)(k < 47 ? k : 47), f);
            int seen = 0;
            for (int i = 0; i < n; i++) seen |= !strcmp(names[i], name);
            if (!seen && n < max) strcpy(names[n++], name);
        }
        line = end;
    }
    ml_free(buf);
    return n;
}

/* routing_counts.npy [L, D, E, k] → per domain a layer × expert heatmap of the share of the
 * domain's picks (%), plus the all-domain map. */
static void routing_heatmaps(Page *p, const cJSON *rj) {
    char *path = page_path(p, "analysis/routing_counts.npy");
    int64_t sh[8];
    int nd;
    double *c = npy_load_doubles(path, sh, &nd);
    ml_free(path);
    if (!c || nd != 4) {
        ml_free(c);
        return;
    }
    page_consume(p, "analysis/routing_counts.npy");
    int L = (int)sh[0], D = (int)sh[1], E = (int)sh[2], K = (int)sh[3];
    char dn[MAX_NAMES][48];
    int n_names = csv_column_names(p, "analysis/routing_stats.csv", 1, dn, MAX_NAMES);
    char rl[64][24], cl[256][12];
    const char *rows[64], *cols[256];
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(rj, "layers");
    for (int l = 0; l < L && l < 64; l++) {
        double id = jnum(cJSON_GetArrayItem(layers, l), "layer");
        snprintf(rl[l], sizeof rl[l], "layer %d", isfinite(id) ? (int)id : l);
        rows[l] = rl[l];
    }
    for (int e = 0; e < E && e < 256; e++) snprintf(cl[e], sizeof cl[e], "e%d", e), cols[e] = cl[e];
    double *m = ml_alloc(sizeof(double) * L * E), *all = ml_alloc(sizeof(double) * L * E);
    figs_open(p);
    for (int d = -1; d < D; d++) {
        for (int l = 0; l < L; l++) {
            double tot = 0;
            for (int e = 0; e < E; e++) {
                double s = 0;
                for (int dd = 0; dd < D; dd++)
                    if (d < 0 || dd == d)
                        for (int j = 0; j < K; j++) s += c[(((long)l * D + dd) * E + e) * K + j];
                m[l * E + e] = s, tot += s;
            }
            for (int e = 0; e < E; e++) m[l * E + e] = tot > 0 ? 100 * m[l * E + e] / tot : NAN;
        }
        if (d < 0) memcpy(all, m, sizeof(double) * L * E);
        char title[96];
        if (d < 0)
            snprintf(title, sizeof title, "Routing, all domains");
        else
            snprintf(title, sizeof title, "Routing, %s", d < n_names ? dn[d] : "domain");
        SvgHeatOpts o = {.f = {.title = title,
                               .xlabel = "expert",
                               .ylabel = "MoE layer",
                               .source = "analysis/routing_counts.npy",
                               .caption =
                                   "Share of the top-k picks (%) each expert received, per layer; "
                                   "uniform routing gives 100/E everywhere."},
                         .vmin = 0,
                         .vmax = NAN,
                         .cell = E <= 16 ? 22 : 0};
        o.f.width = E <= 16 ? 0 : 560;
        if (D > 1 || d < 0) svg_heatmap(&p->body, m, L, E, rows, cols, &o);
    }
    figs_close(p);
    ml_free(m), ml_free(all), ml_free(c);
}

/* routing.json: n50 and normalised entropy per layer, per domain and overall. */
static void routing_concentration(Page *p, const cJSON *rj) {
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(rj, "layers"),
                *l0 = cJSON_GetArrayItem(layers, 0);
    int L = cJSON_GetArraySize(layers);
    if (!L) return;
    const cJSON *doms = cJSON_GetObjectItemCaseSensitive(l0, "domains"), *d;
    const char *names[MAX_NAMES + 1];
    int D = 0;
    cJSON_ArrayForEach(d, doms) if (D < MAX_NAMES) names[D++] = d->string;
    names[D] = "all";
    double *x = ml_alloc(sizeof(double) * L), *n50 = ml_alloc(sizeof(double) * L * (D + 1)),
           *ent = ml_alloc(sizeof(double) * L * (D + 1));
    for (int l = 0; l < L; l++) {
        const cJSON *lo = cJSON_GetArrayItem(layers, l);
        x[l] = jnum(lo, "layer");
        for (int i = 0; i <= D; i++) {
            const cJSON *s = i < D ? cJSON_GetObjectItemCaseSensitive(
                                         cJSON_GetObjectItemCaseSensitive(lo, "domains"), names[i])
                                   : cJSON_GetObjectItemCaseSensitive(lo, "all");
            n50[i * L + l] = jnum(s, "n50"), ent[i * L + l] = jnum(s, "entropy_norm");
        }
    }
    SvgSeries a[MAX_NAMES + 1], b[MAX_NAMES + 1];
    for (int i = 0; i <= D; i++)
        a[i] = (SvgSeries){names[i], x, n50 + i * L, L},
        b[i] = (SvgSeries){names[i], x, ent + i * L, L};
    figs_open(p);
    SvgLineOpts o1 = {
        .f = {.title = "n50 per layer",
              .xlabel = "MoE block index",
              .ylabel = "experts",
              .source = "analysis/routing.json (layers[].domains.*.n50)",
              .caption = "Fewest experts that together take half of a domain's picks; small = "
                         "concentrated routing."},
        .has_hline = 1,
        .hline = jnum(rj, "experts") / 2,
        .hline_label = "uniform"};
    svg_line_chart(&p->body, a, D + 1, &o1);
    SvgLineOpts o2 = {
        .f = {.title = "Routing entropy per layer",
              .xlabel = "MoE block index",
              .ylabel = "entropy / log E",
              .source = "analysis/routing.json (entropy_norm)",
              .caption = "Entropy of the expert-pick distribution divided by log E: 1 = uniform, "
                         "0 = one expert."},
        .has_hline = 1,
        .hline = 1,
        .hline_label = "uniform"};
    svg_line_chart(&p->body, b, D + 1, &o2);
    figs_close(p);
    ml_free(x), ml_free(n50), ml_free(ent);
}

static void section_routing(Page *p) {
    cJSON *rj = page_json(p, "analysis/routing.json");
    if (!rj && !page_exists(p, "analysis/routing_counts.npy")) return;
    page_section(p, "routing", "Routing by domain",
                 "Which experts each domain's tokens pick (docs/analysis.md, routing statistics).");
    routing_heatmaps(p, rj);
    if (rj) routing_concentration(p, rj);
    page_csv_table(p, "analysis/routing_stats.csv", 24, "Picks per layer, domain and expert");
    const char *trace[] = {"analysis/trace_ids.npy", "analysis/trace_weights.npy",
                           "analysis/trace_tokens.npy", "analysis/trace_domains.npy"};
    int any = 0;
    for (int i = 0; i < 4; i++) any |= page_consume(p, trace[i]);
    if (any)
        page_note(p, "Per-token routing traces (not drawn): "
                     "analysis/trace_{ids,weights,tokens,domains}.npy.");
    if (page_consume(p, "analysis/routing_cooc.npy")) {
        char *path = page_path(p, "analysis/routing_cooc.npy");
        int64_t sh[8];
        int nd;
        double *c = npy_load_doubles(path, sh, &nd);
        ml_free(path);
        if (c && nd == 3) {
            figs_open(p);
            int L = (int)sh[0], E = (int)sh[1];
            for (int l = 0; l < L && l < 8; l++) {
                char t[64];
                snprintf(t, sizeof t, "Co-selection, MoE layer %d", l);
                SvgHeatOpts o = {
                    .f = {.title = t,
                          .xlabel = "expert",
                          .ylabel = "expert",
                          .source = "analysis/routing_cooc.npy",
                          .caption = "Tokens whose top-k holds both experts (diagonal: picks)."},
                    .vmin = 0,
                    .vmax = NAN,
                    .cell = E <= 16 ? 16 : 0};
                o.f.width = E <= 16 ? 0 : 360;
                svg_heatmap(&p->body, c + (long)l * E * E, E, E, NULL, NULL, &o);
            }
            figs_close(p);
        }
        ml_free(c);
    }
    cJSON_Delete(rj);
}

static void section_lens(Page *p) {
    if (!page_exists(p, "analysis/lens_experts.csv") && !page_exists(p, "analysis/lens_kl.npy"))
        return;
    page_section(
        p, "lens", "Per-expert logit lens",
        "Each expert's output decoded through the final norm and unembedding (docs/analysis.md).");
    char *path = page_path(p, "analysis/lens_kl.npy");
    int64_t sh[8];
    int nd;
    double *kl = npy_load_doubles(path, sh, &nd);
    ml_free(path);
    if (kl && nd == 2) {
        page_consume(p, "analysis/lens_kl.npy");
        SvgHeatOpts o = {
            .f = {.title = "Lens KL to the final prediction",
                  .xlabel = "expert",
                  .ylabel = "MoE layer",
                  .source = "analysis/lens_kl.npy",
                  .caption = "Mean KL(final ‖ expert lens) over decoded tokens; grey: expert never "
                             "decoded."},
            .vmin = NAN,
            .vmax = NAN,
            .cell = sh[1] <= 16 ? 22 : 0};
        o.f.width = sh[1] <= 16 ? 0 : 560;
        svg_heatmap(&p->body, kl, (int)sh[0], (int)sh[1], NULL, NULL, &o);
    }
    ml_free(kl);
    page_consume(p, "analysis/lens.json");
    page_csv_table(p, "analysis/lens_experts.csv", 64,
                   "The lens table: each expert's most frequent decoded tokens");
    page_consume(p, "analysis/lens_tokens.csv");
    page_note(p, "Per-token lens rows: analysis/lens_tokens.csv (not drawn).");
}

static void section_topk(Page *p) {
    cJSON *j = page_json(p, "analysis/topk.json");
    if (!j) return;
    page_section(
        p, "topk", "Top-1 expert versus the ensemble",
        "How much of the layer's output the highest-weighted expert carries, and what perplexity "
        "keeping only k' experts gives (docs/analysis.md).");
    figs_open(p);
    const cJSON *cos = cJSON_GetObjectItemCaseSensitive(j, "cosine");
    int L = cJSON_GetArraySize(cos);
    if (L) {
        static const char *const var[3] = {"output_only", "residual", "layer_output"};
        double *x = ml_alloc(sizeof(double) * L), *y = ml_alloc(sizeof(double) * L * 3);
        for (int l = 0; l < L; l++) {
            const cJSON *o = cJSON_GetArrayItem(cos, l);
            x[l] = jnum(o, "layer");
            for (int v = 0; v < 3; v++)
                y[v * L + l] = jnum(cJSON_GetObjectItemCaseSensitive(o, var[v]), "mean");
        }
        SvgSeries s[3] = {{var[0], x, y, L}, {var[1], x, y + L, L}, {var[2], x, y + 2 * L, L}};
        SvgLineOpts o = {
            .f = {.title = "Cosine of top-1 to ensemble per layer",
                  .xlabel = "MoE block index",
                  .ylabel = "mean cosine",
                  .source = "analysis/topk.json (cosine), analysis/topk_cosine.csv",
                  .caption =
                      "Mean cosine between the top-1 expert's contribution and the full top-k "
                      "mixture: MoE output only, with the residual, and the whole layer output."}};
        svg_line_chart(&p->body, s, 3, &o);
        ml_free(x), ml_free(y);
    }
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(j, "perplexity");
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(pp, "raw"),
                *ren = cJSON_GetObjectItemCaseSensitive(pp, "renorm");
    int K = cJSON_GetArraySize(raw);
    if (K) {
        double x[64], a[64], b[64];
        for (int i = 0; i < K && i < 64; i++) {
            x[i] = i + 1;
            const cJSON *r = cJSON_GetArrayItem(raw, i), *n = cJSON_GetArrayItem(ren, i);
            a[i] = cJSON_IsNumber(r) ? r->valuedouble : NAN,
            b[i] = cJSON_IsNumber(n) ? n->valuedouble : NAN;
        }
        SvgSeries s[2] = {{"raw weights", x, a, K < 64 ? K : 64},
                          {"renormalised", x, b, K < 64 ? K : 64}};
        SvgLineOpts o = {
            .f =
                {.title = "Perplexity with k' experts",
                 .xlabel = "k' (experts kept)",
                 .ylabel = "perplexity",
                 .source = "analysis/topk.json (perplexity), analysis/topk_ppl.csv",
                 .caption =
                     "Validation perplexity when every MoE layer keeps only its k' "
                     "highest-weighted "
                     "experts (weights as trained, or renormalised to sum 1); dashed: full model."},
            .log_y = 1,
            .has_hline = 1,
            .hline = jnum(pp, "full"),
            .hline_label = "full model"};
        svg_line_chart(&p->body, s, 2, &o);
    }
    figs_close(p);
    page_csv_table(p, "analysis/topk_ppl.csv", 40, "Perplexity per domain and k'");
    page_csv_table(p, "analysis/topk_cosine.csv", 40, "Cosine per layer and domain");
    cJSON_Delete(j);
}

static void section_specialise(Page *p) {
    cJSON *j = page_json(p, "analysis/specialise.json");
    if (!j) return;
    page_section(p, "specialise", "Specialisation",
                 "Normalised mutual information between a token's top-1 expert and its domain or "
                 "token class, "
                 "against a shuffled-label baseline (docs/analysis.md).");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(j, "layers");
    int L = cJSON_GetArraySize(layers);
    if (L > 0 && L <= 64) {
        static const char *const keys[4] = {"nmi_domain", "nmi_domain_shuffled", "nmi_class",
                                            "nmi_class_shuffled"};
        static const char *const names[4] = {"domain", "domain (shuffled)", "token class",
                                             "class (shuffled)"};
        double v[4 * 64];
        char lab[64][16];
        const char *groups[64];
        for (int l = 0; l < L; l++) {
            const cJSON *o = cJSON_GetArrayItem(layers, l);
            snprintf(lab[l], sizeof lab[l], "layer %.0f", jnum(o, "layer"));
            groups[l] = lab[l];
            for (int s = 0; s < 4; s++) v[s * L + l] = jnum(o, keys[s]);
        }
        SvgBarOpts o = {
            .f = {.title = "NMI of top-1 expert with domain and token class",
                  .ylabel = "NMI",
                  .source = "analysis/specialise.json",
                  .caption =
                      "0 = the expert choice says nothing about the label, 1 = it determines it; "
                      "shuffled bars are the chance level."}};
        figs_open(p);
        svg_bar_chart(&p->body, groups, L, names, 4, v, &o);
        figs_close(p);
    }
    char *path = page_path(p, "analysis/lift_domain.npy");
    int64_t sh[8];
    int nd;
    double *lift = npy_load_doubles(path, sh, &nd);
    ml_free(path);
    if (lift && nd == 3) {
        page_consume(p, "analysis/lift_domain.npy");
        char dn[MAX_NAMES][48];
        int n = csv_column_names(p, "analysis/lift_domain.csv", 2, dn, MAX_NAMES);
        const char *cols[MAX_NAMES];
        for (int i = 0; i < n; i++) cols[i] = dn[i];
        figs_open(p);
        for (int l = 0; l < sh[0] && l < 8; l++) {
            char t[64];
            snprintf(t, sizeof t, "Lift expert × domain, MoE layer %d", l);
            SvgHeatOpts o = {
                .f = {.title = t,
                      .xlabel = "domain",
                      .ylabel = "expert",
                      .source = "analysis/lift_domain.npy",
                      .caption =
                          "P(expert, domain) / (P(expert) P(domain)) of top-1 picks: above 1 = the "
                          "expert prefers the domain."},
                .vmin = 0,
                .vmax = NAN,
                .cell = 18};
            svg_heatmap(&p->body, lift + l * sh[1] * sh[2], (int)sh[1], (int)sh[2], NULL,
                        n == sh[2] ? cols : NULL, &o);
        }
        figs_close(p);
        page_consume(p, "analysis/lift_domain.csv");
    }
    ml_free(lift);
    cJSON_Delete(j);
}

void section_moelens(Page *p); /* report_moelens.c */

void section_lm_analysis(Page *p) {
    section_moelens(p);
    section_routing(p);
    section_lens(p);
    section_topk(p);
    section_prune(p);
    section_specialise(p);
    section_intervals(p);
    section_sensitivity(p);
}
