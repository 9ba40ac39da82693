/* Run sections: configuration and final numbers, training curves, expert load over training. */
#include "core/mem.h"
#include "report/metrics.h"
#include "report/report_internal.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static int load_metrics(Page *p, Metrics *m) {
    char *path = page_path(p, "metrics.jsonl");
    int r = metrics_load(path, m);
    ml_free(path);
    if (r) return -1;
    page_consume(p, "metrics.jsonl");
    return 0;
}

static void fig_open(Page *p) {
    sb_puts(&p->body, "<div class=\"figs\">\n");
}
static void fig_close(Page *p) {
    sb_puts(&p->body, "</div>\n");
}

/* config.json as a compact key/value table, four pairs per row. */
static void config_table(Page *p, const cJSON *cfg) {
    const char *hdr[8] = {"key", "value", "key", "value", "key", "value", "key", "value"};
    sb_puts(&p->body, "<h3>Configuration <code>config.json</code></h3>\n");
    table_open(&p->body, hdr, 8);
    const char *cells[8];
    char vals[4][64];
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cfg) {
        if (cJSON_IsNumber(e))
            snprintf(vals[k / 2], 64, "%.6g", e->valuedouble);
        else if (cJSON_IsString(e))
            snprintf(vals[k / 2], 64, "%s", e->valuestring);
        else if (cJSON_IsBool(e))
            snprintf(vals[k / 2], 64, "%s", cJSON_IsTrue(e) ? "true" : "false");
        else
            continue;
        cells[k] = e->string, cells[k + 1] = vals[k / 2];
        k += 2;
        if (k == 8) table_row(&p->body, cells, 8), k = 0;
    }
    if (k) {
        for (int i = k; i < 8; i++) cells[i] = "";
        table_row(&p->body, cells, 8);
    }
    table_close(&p->body);
}

void section_run_summary(Page *p) {
    cJSON *cfg = page_json(p, "config.json");
    Metrics m;
    int have_m = page_exists(p, "metrics.jsonl") && !load_metrics(p, &m);
    if (!cfg && !have_m) return;
    page_section(p, "summary", "Run summary", NULL);
    if (have_m && m.n_val) {
        const char *hdr[3] = {"split", "val loss (nats/token)", "val perplexity"};
        table_open(&p->body, hdr, 3);
        char a[32], b[32], step[64];
        snprintf(step, sizeof step, "all domains (step %.0f)", metrics_last(m.val_step, m.n_val));
        snprintf(a, sizeof a, "%.4f", metrics_last(m.val_loss, m.n_val));
        snprintf(b, sizeof b, "%.2f", metrics_last(m.val_ppl, m.n_val));
        table_row(&p->body, (const char *[]){step, a, b}, 3);
        for (int d = 0; d < m.n_domains; d++) {
            double ppl = metrics_last(m.domain_ppl[d], m.n_val);
            snprintf(a, sizeof a, "%.4f", log(ppl));
            snprintf(b, sizeof b, "%.2f", ppl);
            table_row(&p->body, (const char *[]){m.domain[d], a, b}, 3);
        }
        table_close(&p->body);
        page_note(p, "Last evaluation line of metrics.jsonl (validation split, per domain).");
    }
    if (cfg) config_table(p, cfg);
    cJSON_Delete(cfg);
    page_consume(p, "run.json");
    if (have_m) metrics_free(&m);
}

void section_training(Page *p) {
    Metrics m;
    if (!page_exists(p, "metrics.jsonl") || load_metrics(p, &m)) return;
    page_section(p, "training", "Training curves",
                 "Logged every log_every steps; evaluations every eval_every steps.");
    fig_open(p);
    SvgSeries loss[2] = {{"train loss", m.step, m.loss, m.n},
                         {"val loss", m.val_step, m.val_loss, m.n_val}};
    SvgLineOpts lo = {
        .f = {.title = "Loss",
              .xlabel = "step",
              .ylabel = "nats / token",
              .source = "metrics.jsonl",
              .caption = "Training cross-entropy (mean of the logged step's micro-batches) and "
                         "validation loss over all domains."}};
    svg_line_chart(&p->body, loss, m.n_val ? 2 : 1, &lo);
    if (m.n_domains) {
        SvgSeries s[METRICS_MAX_DOMAINS + 1];
        for (int d = 0; d < m.n_domains; d++)
            s[d] = (SvgSeries){m.domain[d], m.val_step, m.domain_ppl[d], m.n_val};
        s[m.n_domains] = (SvgSeries){"all", m.val_step, m.val_ppl, m.n_val};
        SvgLineOpts po = {
            .f = {.title = "Validation perplexity per domain",
                  .xlabel = "step",
                  .ylabel = "perplexity",
                  .source = "metrics.jsonl (val_domains)",
                  .caption =
                      "exp(mean nats per token) on each domain's validation documents; log scale."},
            .log_y = 1};
        svg_line_chart(&p->body, s, m.n_domains + 1, &po);
    }
    SvgSeries lr = {"lr", m.step, m.lr, m.n};
    SvgLineOpts ro = {
        .f = {.title = "Learning rate",
              .xlabel = "step",
              .ylabel = "lr",
              .source = "metrics.jsonl",
              .caption = "Linear warm-up, then cosine decay to min_lr_frac of the peak."}};
    svg_line_chart(&p->body, &lr, 1, &ro);
    SvgSeries gn = {"grad norm", m.step, m.grad_norm, m.n};
    SvgLineOpts go = {
        .f = {.title = "Gradient norm",
              .xlabel = "step",
              .ylabel = "‖g‖₂ before clipping",
              .source = "metrics.jsonl",
              .caption = "Global gradient norm; the dashed line is the clip threshold."}};
    cJSON *cfg = page_json(p, "config.json");
    const cJSON *clip = cJSON_GetObjectItemCaseSensitive(cfg, "grad_clip");
    if (cJSON_IsNumber(clip) && clip->valuedouble > 0)
        go.has_hline = 1, go.hline = clip->valuedouble, go.hline_label = "clip";
    cJSON_Delete(cfg);
    svg_line_chart(&p->body, &gn, 1, &go);
    fig_close(p);
    metrics_free(&m);
}

void section_expert_load(Page *p) {
    Metrics m;
    if (!page_exists(p, "metrics.jsonl") || load_metrics(p, &m)) return;
    if (!m.n_layers) {
        metrics_free(&m);
        return;
    }
    page_section(p, "load", "Expert load over training",
                 "Per MoE layer, from the training batch of each logged step.");
    char names[METRICS_MAX_LAYERS][24];
    SvgSeries u[METRICS_MAX_LAYERS], s[METRICS_MAX_LAYERS];
    for (int l = 0; l < m.n_layers; l++) {
        snprintf(names[l], sizeof names[l], "layer %d", m.layer_id[l]);
        u[l] = (SvgSeries){names[l], m.step, m.util[l], m.n};
        s[l] = (SvgSeries){names[l], m.step, m.max_share[l], m.n};
    }
    fig_open(p);
    SvgLineOpts uo = {
        .f = {.title = "Expert utilisation",
              .xlabel = "step",
              .ylabel = "fraction of experts used",
              .source = "metrics.jsonl (experts[].utilisation)",
              .caption =
                  "Fraction of a layer's experts that received at least one token of the batch; "
                  "below 1 means dead experts."},
        .has_hline = 1,
        .hline = 1,
        .hline_label = "all used"};
    svg_line_chart(&p->body, u, m.n_layers, &uo);
    SvgLineOpts so = {
        .f = {.title = "Largest expert share",
              .xlabel = "step",
              .ylabel = "max share of tokens",
              .source = "metrics.jsonl (experts[].max_share)",
              .caption =
                  "Largest fraction of the batch's tokens that one expert took; the dashed line "
                  "is the balanced share top_k / n_experts."}};
    cJSON *cfg = page_json(p, "config.json");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(cfg, "top_k"),
                *e = cJSON_GetObjectItemCaseSensitive(cfg, "n_experts");
    if (cJSON_IsNumber(k) && cJSON_IsNumber(e) && e->valuedouble > 0)
        so.has_hline = 1, so.hline = k->valuedouble / e->valuedouble, so.hline_label = "balanced";
    cJSON_Delete(cfg);
    svg_line_chart(&p->body, s, m.n_layers, &so);
    fig_close(p);
    metrics_free(&m);
}
