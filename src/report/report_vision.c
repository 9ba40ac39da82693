/* Sections for a vision run (docs/vision.md) and the outputs of `moelens analyze RUN --images`
 * (RUN/analysis/, formats in docs/vision_analysis.md): training curves from the vision metrics,
 * category × expert gating, animacy, separability with Wilson intervals, most exciting inputs,
 * semantic tuning, representational dissimilarity. */
#include "core/fileio.h"
#include "core/mem.h"
#include "report/report_internal.h"
#include "report/report_npy.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_E 64
#define MAX_CLASSES 64

static const cJSON *jget(const cJSON *o, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Array of numbers → doubles (NaN for non-numbers), at most max. Returns the count. */
static int jdoubles(const cJSON *a, double *out, int max) {
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) if (n < max) out[n++] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    return n;
}

/* Loads dir/rel as a float matrix of the expected rank (NULL otherwise); consumes it. */
static double *load_npy(Page *p, const char *rel, int64_t *sh, int want_ndim) {
    char *path = page_path(p, rel);
    int nd = 0;
    double *v = ml_file_exists(path) ? npy_load_doubles(path, sh, &nd) : NULL;
    ml_free(path);
    if (v && nd != want_ndim) ml_free(v), v = NULL;
    if (v) page_consume(p, rel);
    return v;
}

static void expert_labels(int E, char lab[][12], const char **out) {
    for (int e = 0; e < E && e < MAX_E; e++) snprintf(lab[e], 12, "e%d", e), out[e] = lab[e];
}

int page_is_vision(Page *p) {
    cJSON *cfg = page_json(p, "config.json");
    const cJSON *m = jget(cfg, "model");
    int yes = cJSON_IsString(m) && !strcmp(m->valuestring, "vision");
    cJSON_Delete(cfg);
    return yes;
}

/* ---------------- training curves (metrics.jsonl of `train vision`) ---------------- */

typedef struct {
    int n, n_ev, K, E;
    double *step, *loss, *ntxent, *top1, *aux_lb, *aux_z, *lr;
    double *ev_step, *probe, *usage; /* usage[ev * MAX_CLASSES * MAX_E + c * MAX_E + e] */
} VisionMetrics;

static void vm_free(VisionMetrics *m) {
    double *a[] = {m->step,  m->loss, m->ntxent,  m->top1,  m->aux_lb,
                   m->aux_z, m->lr,   m->ev_step, m->probe, m->usage};
    for (int i = 0; i < 10; i++) ml_free(a[i]);
}

static int vm_load(Page *p, VisionMetrics *m) {
    memset(m, 0, sizeof *m);
    char *path = page_path(p, "metrics.jsonl"), *buf;
    size_t len;
    int r = ml_read_file(path, &buf, &len);
    ml_free(path);
    if (r) return -1;
    int cap = 1;
    for (size_t i = 0; i < len; i++) cap += buf[i] == '\n';
    double **arr[] = {&m->step, &m->loss, &m->ntxent, &m->top1, &m->aux_lb, &m->aux_z, &m->lr};
    static const char *const keys[] = {"step", "loss", "ntxent", "top1", "aux_lb", "aux_z", "lr"};
    for (int i = 0; i < 7; i++) *arr[i] = ml_alloc(sizeof(double) * cap);
    m->ev_step = ml_alloc(sizeof(double) * cap), m->probe = ml_alloc(sizeof(double) * cap);
    m->usage = ml_alloc(sizeof(double) * cap * MAX_CLASSES * MAX_E);
    for (char *line = buf; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        cJSON *o = cJSON_Parse(line);
        if (o && jget(o, "probe_acc")) {
            int k = m->n_ev++;
            m->ev_step[k] = jnum(o, "step"), m->probe[k] = jnum(o, "probe_acc");
            const cJSON *u = jget(o, "gate_usage"), *row;
            int c = 0;
            for (int i = 0; i < MAX_CLASSES * MAX_E; i++)
                m->usage[(long)k * MAX_CLASSES * MAX_E + i] = NAN;
            cJSON_ArrayForEach(row, u) if (c < MAX_CLASSES) {
                int e = jdoubles(row, m->usage + (long)k * MAX_CLASSES * MAX_E + c * MAX_E, MAX_E);
                if (e > m->E) m->E = e;
                c++;
            }
            if (c > m->K) m->K = c;
        } else if (o && jget(o, "loss")) {
            for (int i = 0; i < 7; i++) (*arr[i])[m->n] = jnum(o, keys[i]);
            m->n++;
        }
        cJSON_Delete(o);
        line = end ? end + 1 : NULL;
    }
    ml_free(buf);
    return 0;
}

/* Level-0 class names from gating.json when its first level has exactly K classes. */
static int level0_names(Page *p, int K, char names[][48]) {
    cJSON *g = page_json(p, "analysis/gating.json");
    const cJSON *cl = jget(cJSON_GetArrayItem(jget(g, "levels"), 0), "classes");
    int ok = cJSON_GetArraySize(cl) == K;
    for (int c = 0; c < K && c < MAX_CLASSES; c++) {
        const cJSON *s = cJSON_GetArrayItem(cl, c);
        snprintf(names[c], 48, "%s", ok && cJSON_IsString(s) ? s->valuestring : "");
        if (!ok || !names[c][0]) snprintf(names[c], 48, "class %d", c);
    }
    cJSON_Delete(g);
    return ok;
}

/* The gate summary (analysis/gate_summary.h) as one table row against the targets, and a banner
 * when the gate looks collapsed. g: the "gate" object of eval.json or "gate_summary" of
 * vision.json; where: which images. */
static void gate_summary_table(Page *p, const cJSON *g, int collapsed, const char *reason,
                               const char *where) {
    if (!g) return;
    if (collapsed) {
        char msg[384];
        snprintf(msg, sizeof msg,
                 "Gate collapse: %s. Every image gets (nearly) the same experts, so the expert "
                 "analyses below cannot show specialisation (docs/vision.md, \"Gate collapse\").",
                 reason ? reason : "usage or entropy past the limits");
        page_banner(p, msg);
    }
    char u[48], h[48], mi[64], pv[32];
    snprintf(u, sizeof u, "%.2f – %.2f", jnum(g, "usage_min"), jnum(g, "usage_max"));
    snprintf(h, sizeof h, "%.3f (%.2f ln E)", jnum(g, "entropy"), jnum(g, "entropy_frac"));
    snprintf(mi, sizeof mi, "%.3f (null %.4f, %.0f×)", jnum(g, "mi_bits"), jnum(g, "mi_null_bits"),
             jnum(g, "mi_null_bits") > 0 ? jnum(g, "mi_bits") / jnum(g, "mi_null_bits") : 0);
    snprintf(pv, sizeof pv, "%.4f", jnum(g, "mi_p"));
    const char *hdr[5] = {"images", "usage per expert (min – max)", "mean gate entropy",
                          "MI(top-1; label), bits", "p (shuffled labels)"};
    table_open(&p->body, hdr, 5);
    table_row(&p->body, (const char *[]){where, u, h, mi, pv}, 5);
    table_row(
        &p->body,
        (const char *[]){"target", "0.05 – 0.80", "≤ 0.70 ln E", "≥ 0.10 and ≥ 10× null", "< 0.01"},
        5);
    table_close(&p->body);
}

/* Routing by drawing style (sets with styles): MI(top-1; style) beside the label's, and the
 * styles one expert takes (nearly) whole. */
static void style_routing_note(Page *p, const cJSON *g) {
    const cJSON *by = jget(g, "style_top1_max");
    if (!by) return;
    char msg[512];
    int at =
        snprintf(msg, sizeof msg,
                 "Routing by style: MI(top-1; style) %.3f bits (null %.4f, p %.4f). Largest "
                 "share of one style's images on one expert:",
                 jnum(g, "mi_style_bits"), jnum(g, "mi_style_null_bits"), jnum(g, "mi_style_p"));
    const cJSON *e;
    cJSON_ArrayForEach(e, by) {
        if (at >= (int)sizeof msg) break;
        at += snprintf(msg + at, sizeof msg - at, " %s %.2f", e->string, e->valuedouble);
    }
    page_note(p, msg);
}

static void gate_summary_from_eval(Page *p) {
    cJSON *ev = page_json(p, "eval.json");
    const cJSON *g = jget(ev, "gate");
    if (g)
        gate_summary_table(p, g, cJSON_IsTrue(jget(ev, "gate_collapse")),
                           cJSON_GetStringValue(jget(ev, "gate_collapse_reason")),
                           "held-out (eval.json)");
    cJSON_Delete(ev);
}

void section_vision_training(Page *p) {
    VisionMetrics m;
    if (!page_exists(p, "metrics.jsonl") || vm_load(p, &m)) return;
    page_consume(p, "metrics.jsonl");
    page_section(p, "training", "Training curves (vision)",
                 "Contrastive (SimCLR-style) training of the vision MoE: logged per step; linear "
                 "probe and gate usage at each evaluation (docs/vision.md).");
    gate_summary_from_eval(p);
    cJSON *cfg = page_json(p, "config.json");
    double batch = jnum(cfg, "batch");
    cJSON_Delete(cfg);
    figs_open(p);
    SvgSeries loss[2] = {{"loss (total)", m.step, m.loss, m.n}, {"NT-Xent", m.step, m.ntxent, m.n}};
    SvgLineOpts lo = {
        .f = {.title = "Contrastive loss",
              .xlabel = "step",
              .ylabel = "nats",
              .source = "metrics.jsonl (loss, ntxent)",
              .caption = "NT-Xent over the 2·batch augmented views, and the total with the gate's "
                         "load-balance and z losses; dashed: ln(2·batch − 1), the loss of "
                         "uninformative embeddings."}};
    if (batch > 0) lo.has_hline = 1, lo.hline = log(2 * batch - 1), lo.hline_label = "chance";
    svg_line_chart(&p->body, loss, 2, &lo);
    SvgSeries t1 = {"pair found", m.step, m.top1, m.n};
    SvgLineOpts to = {
        .f = {.title = "View matching accuracy",
              .xlabel = "step",
              .ylabel = "fraction of views",
              .source = "metrics.jsonl (top1)",
              .caption = "Fraction of views whose nearest other view is their own pair; dashed: "
                         "chance 1/(2·batch − 1)."}};
    if (batch > 0) to.has_hline = 1, to.hline = 1 / (2 * batch - 1), to.hline_label = "chance";
    svg_line_chart(&p->body, &t1, 1, &to);
    if (m.n_ev) {
        SvgSeries pr = {"probe accuracy", m.ev_step, m.probe, m.n_ev};
        SvgLineOpts po = {
            .f = {.title = "Linear probe accuracy",
                  .xlabel = "step",
                  .ylabel = "held-out accuracy",
                  .source = "metrics.jsonl (probe_acc), eval.json",
                  .caption = "Logistic-regression probe on the frozen readout, fitted on training "
                             "images and scored on held-out ones (level-0 classes)."}};
        svg_line_chart(&p->body, &pr, 1, &po);
    }
    SvgSeries aux[2] = {{"load balance", m.step, m.aux_lb, m.n}, {"z loss", m.step, m.aux_z, m.n}};
    SvgLineOpts ao = {.f = {.title = "Gate auxiliary losses",
                            .xlabel = "step",
                            .ylabel = "loss (before its coefficient)",
                            .source = "metrics.jsonl (aux_lb, aux_z)",
                            .caption = "Load-balance loss (1 = balanced) and router z loss."}};
    svg_line_chart(&p->body, aux, 2, &ao);
    SvgSeries lr = {"lr", m.step, m.lr, m.n};
    SvgLineOpts ro = {.f = {.title = "Learning rate",
                            .xlabel = "step",
                            .ylabel = "lr",
                            .source = "metrics.jsonl (lr)",
                            .caption = "Warm-up, then decay."}};
    svg_line_chart(&p->body, &lr, 1, &ro);
    if (m.n_ev && m.K && m.E) {
        int K = m.K, E = m.E;
        char names[MAX_CLASSES][48], el[MAX_E][12];
        const char *rows[MAX_CLASSES], *cols[MAX_E];
        level0_names(p, K, names);
        for (int c = 0; c < K; c++) rows[c] = names[c];
        expert_labels(E, el, cols);
        /* over steps: each expert's usage averaged over classes */
        double *avg = ml_alloc(sizeof(double) * E * m.n_ev);
        SvgSeries s[MAX_E];
        for (int e = 0; e < E; e++) {
            for (int k = 0; k < m.n_ev; k++) {
                double sum = 0;
                int n = 0;
                for (int c = 0; c < K; c++) {
                    double u = m.usage[(long)k * MAX_CLASSES * MAX_E + c * MAX_E + e];
                    if (isfinite(u)) sum += u, n++;
                }
                avg[e * m.n_ev + k] = n ? sum / n : NAN;
            }
            s[e] = (SvgSeries){cols[e], m.ev_step, avg + e * m.n_ev, m.n_ev};
        }
        SvgLineOpts uo = {
            .f = {.title = "Gate usage over training",
                  .xlabel = "step",
                  .ylabel = "share of images picking e",
                  .source = "metrics.jsonl (gate_usage)",
                  .caption = "Fraction of held-out probe images whose top-k holds the expert, "
                             "averaged over classes; a class's row sums to top_k."}};
        svg_line_chart(&p->body, s, E, &uo);
        double *last = ml_alloc(sizeof(double) * K * E);
        for (int c = 0; c < K; c++)
            for (int e = 0; e < E; e++)
                last[c * E + e] = m.usage[(long)(m.n_ev - 1) * MAX_CLASSES * MAX_E + c * MAX_E + e];
        char title[64];
        snprintf(title, sizeof title, "Gate usage per class, step %.0f", m.ev_step[m.n_ev - 1]);
        SvgHeatOpts ho = {.f = {.title = title,
                                .xlabel = "expert",
                                .ylabel = "class (level 0)",
                                .source = "metrics.jsonl (last gate_usage), eval.json",
                                .caption =
                                    "Fraction of a class's held-out images whose top-k holds "
                                    "the expert, at the last evaluation."},
                          .vmin = 0,
                          .vmax = NAN,
                          .cell = E <= 16 ? 24 : 0};
        svg_heatmap(&p->body, last, K, E, rows, cols, &ho);
        ml_free(avg), ml_free(last);
    }
    figs_close(p);
    page_consume(p, "eval.json");
    vm_free(&m);
}

/* ---------------- 1. gating ---------------- */

static void gating_level(Page *p, const cJSON *lv, int l, int E) {
    const char *level = cJSON_GetStringValue(jget(lv, "level"));
    const cJSON *cl = jget(lv, "classes");
    int K = cJSON_GetArraySize(cl);
    if (K <= 0 || K > MAX_CLASSES) return;
    char names[MAX_CLASSES][64], el[MAX_E][12];
    const char *rows[MAX_CLASSES], *cols[MAX_E];
    double imgs[MAX_CLASSES];
    jdoubles(jget(lv, "images"), imgs, MAX_CLASSES);
    for (int c = 0; c < K; c++) {
        const char *s = cJSON_GetStringValue(cJSON_GetArrayItem(cl, c));
        snprintf(names[c], sizeof names[c], "%.48s (%.0f)", s ? s : "?", imgs[c]);
        rows[c] = names[c];
    }
    expert_labels(E, el, cols);
    static const char *const what[2] = {"mean", "top1"};
    static const char *const cap[2] = {
        "Mean gate probability of each expert over the class's images, R[k,e] (rows sum to 1; "
        "uniform = 1/E). Row label: class (images).",
        "Share of the class's images whose first chosen expert is e (rows sum to 1)."};
    for (int w = 0; w < 2; w++) {
        char rel[64], title[128];
        snprintf(rel, sizeof rel, "analysis/gating_L%d_%s.npy", l, what[w]);
        int64_t sh[8];
        double *m = load_npy(p, rel, sh, 2);
        if (!m) continue;
        if (sh[0] == K && sh[1] <= MAX_E) {
            snprintf(title, sizeof title, "%s × expert, level %s",
                     w ? "Top-1 share: category" : "Mean gate weight: category",
                     level ? level : "?");
            SvgHeatOpts o = {.f = {.title = title,
                                   .xlabel = "expert",
                                   .ylabel = "category",
                                   .source = rel,
                                   .caption = cap[w]},
                             .vmin = 0,
                             .vmax = NAN,
                             .cell = sh[1] <= 16 ? 24 : 0};
            svg_heatmap(&p->body, m, K, (int)sh[1], rows, cols, &o);
        }
        ml_free(m);
    }
    double v[2 * MAX_CLASSES];
    int a = jdoubles(jget(lv, "entropy_route"), v, MAX_CLASSES),
        b = jdoubles(jget(lv, "entropy_image"), v + K, MAX_CLASSES);
    if (a == K && b == K) {
        const char *groups[MAX_CLASSES];
        for (int c = 0; c < K; c++) groups[c] = cJSON_GetStringValue(cJSON_GetArrayItem(cl, c));
        char title[128];
        snprintf(title, sizeof title, "Gate entropy per category, level %s", level ? level : "?");
        SvgBarOpts o = {
            .f = {.title = title,
                  .ylabel = "nats",
                  .source = "analysis/gating.json (entropy_route, entropy_image)",
                  .caption = "H_route: entropy of the class's mean gate distribution (how spread "
                             "the class's routing is); H_image: mean entropy of single images' "
                             "gates (how confident each decision is). Dashed: ln E (uniform)."},
            .has_hline = 1,
            .hline = log(E),
            .hline_label = "ln E"};
        svg_bar_chart(&p->body, groups, K, (const char *[]){"H_route", "H_image"}, 2, v, &o);
    }
}

static void gating_animacy(Page *p, const cJSON *an, int E) {
    if (!an) return;
    const char *skipped = cJSON_GetStringValue(jget(an, "skipped"));
    if (skipped) {
        char note[300];
        snprintf(note, sizeof note, "Animacy index skipped: %s", skipped);
        page_note(p, note);
        return;
    }
    double idx[MAX_E], pv[MAX_E];
    int n = jdoubles(jget(an, "index"), idx, MAX_E);
    if (n != E || jdoubles(jget(an, "p"), pv, MAX_E) != E) return;
    char el[MAX_E][12];
    const char *cols[MAX_E];
    expert_labels(E, el, cols);
    StrBuf cap;
    sb_init(&cap);
    sb_printf(&cap,
              "A_e = (ḡ_anim − ḡ_inan)/(ḡ_anim + ḡ_inan) on concept-mean gate weights (%.0f "
              "concepts): 1 = only animate concepts use e. Permutation p (%.0f shuffles of the "
              "animacy flags, two-sided):",
              jnum(an, "concepts"), jnum(an, "permutations"));
    for (int e = 0; e < E; e++) sb_printf(&cap, "%s e%d p = %.3g", e ? "," : "", e, pv[e]);
    sb_puts(&cap, ". Caveat: person emoji share face templates (animacy ≈ has a face).");
    SvgBarOpts o = {.f = {.title = "Animacy index per expert",
                          .xlabel = "expert",
                          .ylabel = "A_e",
                          .source = "analysis/gating.json (animacy), analysis/animacy_index.npy",
                          .caption = cap.buf}};
    svg_bar_chart(&p->body, cols, E, (const char *[]){"animacy index"}, 1, idx, &o);
    sb_free(&cap);
    page_consume(p, "analysis/animacy_index.npy");
}

static void section_vgating(Page *p, int E) {
    cJSON *g = page_json(p, "analysis/gating.json");
    if (!g) return;
    page_section(p, "vgating", "Gating by category",
                 "Which experts each image category is routed to (docs/vision_analysis.md §1).");
    figs_open(p);
    const cJSON *levels = jget(g, "levels");
    for (int l = 0; l < cJSON_GetArraySize(levels); l++)
        gating_level(p, cJSON_GetArrayItem(levels, l), l, E);
    gating_animacy(p, jget(g, "animacy"), E);
    figs_close(p);
    page_consume(p, "analysis/gating.csv");
    page_note(p, "Per level, class and expert in one table: analysis/gating.csv. Per-image gate "
                 "probabilities and top-1 choices (not drawn): analysis/gate_probs.npy, "
                 "analysis/top1.npy, analysis/images_index.npy.");
    page_consume(p, "analysis/gate_probs.npy");
    page_consume(p, "analysis/top1.npy");
    page_consume(p, "analysis/images_index.npy");
    cJSON_Delete(g);
}

/* ---------------- 2. separability ---------------- */

static void section_vseparability(Page *p) {
    cJSON *j = page_json(p, "analysis/separability.json");
    const cJSON *res = jget(j, "results");
    int n = cJSON_GetArraySize(res);
    if (!n) {
        cJSON_Delete(j);
        return;
    }
    page_section(p, "vseparability", "Per-expert separability",
                 "Cross-validated linear-probe accuracy of each expert's readout (and the model's) "
                 "for each label level and animate vs inanimate (docs/vision_analysis.md §2).");
    figs_open(p);
    const char *targets[16];
    int nt = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, res) {
        const char *t = cJSON_GetStringValue(jget(r, "target"));
        int seen = 0;
        for (int i = 0; i < nt; i++) seen |= t && !strcmp(targets[i], t);
        if (t && !seen && nt < 16) targets[nt++] = t;
    }
    for (int t = 0; t < nt; t++) {
        const char *groups[MAX_E + 1];
        double acc[MAX_E + 1], lo[MAX_E + 1], hi[MAX_E + 1], chance = NAN, uniform = NAN,
                                                             images = NAN, folds = NAN;
        int g = 0;
        cJSON_ArrayForEach(r, res) {
            const char *tt = cJSON_GetStringValue(jget(r, "target"));
            if (!tt || strcmp(tt, targets[t]) || g > MAX_E) continue;
            groups[g] = cJSON_GetStringValue(jget(r, "features"));
            if (!groups[g]) groups[g] = "?";
            acc[g] = jnum(r, "accuracy"), lo[g] = jnum(r, "ci95_lo"), hi[g] = jnum(r, "ci95_hi");
            chance = jnum(r, "chance_majority"), uniform = jnum(r, "chance_uniform");
            images = jnum(r, "images"), folds = jnum(r, "folds");
            g++;
        }
        char title[96], cap[400];
        snprintf(title, sizeof title, "Separability of %s", targets[t]);
        snprintf(cap, sizeof cap,
                 "Out-of-fold accuracy (%.0f images, %.0f grouped folds) with its 95%% Wilson "
                 "interval (treats images as independent: optimistic). Dashed: majority-class "
                 "chance %.3g; uniform chance 1/classes = %.3g.",
                 images, folds, chance, uniform);
        SvgBarOpts o = {.f = {.title = title,
                              .ylabel = "accuracy",
                              .source = "analysis/separability.json",
                              .caption = cap},
                        .ci_lo = lo,
                        .ci_hi = hi,
                        .has_hline = isfinite(chance),
                        .hline = chance,
                        .hline_label = "chance"};
        svg_bar_chart(&p->body, groups, g, (const char *[]){"accuracy"}, 1, acc, &o);
    }
    figs_close(p);
    page_consume(p, "analysis/separability.csv");
    cJSON_Delete(j);
}

/* ---------------- 3. most exciting inputs ---------------- */

static uint32_t be32(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Embeds dir/rel (a PNG written by the analysis) as an <image> at (x, y) of width w; returns the
 * drawn height, 0 if the file is missing or not a PNG. */
static int embed_png(Page *p, StrBuf *sb, const char *rel, int x, int y, int w) {
    char *path = page_path(p, rel), *buf = NULL;
    size_t len;
    int r = ml_file_exists(path) ? ml_read_file(path, &buf, &len) : -1;
    ml_free(path);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (r || len < 24 || memcmp(buf, sig, 8)) {
        ml_free(buf);
        return 0;
    }
    uint32_t pw = be32((unsigned char *)buf + 16), ph = be32((unsigned char *)buf + 20);
    int h = pw ? (int)((double)w * ph / pw + 0.5) : 0;
    sb_printf(sb,
              "<image x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
              "style=\"image-rendering:pixelated\" href=\"data:image/png;base64,",
              x, y, w, h);
    sb_base64(sb, (unsigned char *)buf, len);
    sb_puts(sb, "\"><title>");
    sb_escape(sb, rel);
    sb_puts(sb, "</title></image>\n");
    ml_free(buf);
    page_consume(p, rel);
    return h;
}

/* The first three concepts (or classes) of a ranked list, for the caption. */
static void top_concepts(StrBuf *sb, const cJSON *list) {
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        if (n == 3) break;
        const char *c = cJSON_GetStringValue(jget(it, "concept"));
        if (!c) c = cJSON_GetStringValue(jget(it, "class"));
        sb_printf(sb, "%s%s", n++ ? ", " : "", c ? c : "?");
    }
}

/* The synthesised image of one kind ("gate_synth" / "readout_synth") at x, 52 px wide. */
static int embed_synth(Page *p, StrBuf *sb, const cJSON *e, const char *kind, int x) {
    const char *name = cJSON_GetStringValue(jget(jget(e, kind), "image"));
    if (!name) return 0;
    char rel[300];
    snprintf(rel, sizeof rel, "analysis/%s", name);
    return embed_png(p, sb, rel, x, 18, 52);
}

/* "gate logit 0.27 (dataset best 0.16)" for the caption. */
static void synth_values(StrBuf *sb, const cJSON *e, const char *kind, const char *what) {
    const cJSON *s = jget(e, kind);
    if (!s) return;
    sb_printf(sb, "%s %.3g from noise %.3g (dataset best %.3g)", what, jnum(s, "value_synthesised"),
              jnum(s, "value_noise_start"), jnum(s, "value_dataset_top1"));
}

static void section_vmei(Page *p) {
    cJSON *j = page_json(p, "analysis/mei.json");
    const cJSON *ex = jget(j, "experts");
    if (!cJSON_GetArraySize(ex)) {
        cJSON_Delete(j);
        return;
    }
    const char *skipped = cJSON_GetStringValue(jget(j, "synth_skipped"));
    char intro[900];
    snprintf(intro, sizeof intro,
             "Per expert, the analysed images with the highest gate probability (left) and the "
             "largest readout norm when the expert is force-run (right), best first, 8 per row; "
             "beside each, the synthesised input: gradient ascent from seeded noise on the "
             "expert's gate logit (or readout norm) with a total-variation and L2 prior, %d "
             "steps (docs/vision_analysis.md §3).%s%s",
             (int)jnum(j, "synth_steps"), skipped ? " Not synthesised here: " : "",
             skipped ? skipped : "");
    page_section(p, "vmei", "Most exciting inputs", intro);
    figs_open(p);
    const cJSON *e;
    cJSON_ArrayForEach(e, ex) {
        const char *gg = cJSON_GetStringValue(jget(e, "gate_grid")),
                   *rg = cJSON_GetStringValue(jget(e, "readout_grid"));
        char grel[300], rrel[300], title[64];
        snprintf(grel, sizeof grel, "analysis/%s", gg ? gg : "");
        snprintf(rrel, sizeof rrel, "analysis/%s", rg ? rg : "");
        StrBuf img;
        sb_init(&img);
        int h1 = gg ? embed_png(p, &img, grel, 4, 18, 240) : 0,
            h2 = rg ? embed_png(p, &img, rrel, 312, 18, 240) : 0;
        if (!h1 && !h2) {
            sb_free(&img);
            continue;
        }
        int s1 = embed_synth(p, &img, e, "gate_synth", 250),
            s2 = embed_synth(p, &img, e, "readout_synth", 558);
        int hi = h1 > h2 ? h1 : h2;
        hi = s1 > hi ? s1 : s2 > hi ? s2 : hi;
        int W = 616, H = 24 + hi;
        snprintf(title, sizeof title, "Expert %d", (int)jnum(e, "expert"));
        StrBuf *sb = &p->body;
        sb_puts(sb, "<figure>\n");
        sb_printf(sb,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "role=\"img\" aria-label=\"",
                  W, H);
        sb_escape(sb, title);
        sb_puts(sb, "\">\n<text x=\"4\" y=\"13\" font-size=\"12\">by gate probability</text>"
                    "<text x=\"312\" y=\"13\" font-size=\"12\">by readout norm</text>\n");
        if (s1 || s2)
            sb_puts(sb, "<text x=\"250\" y=\"13\" font-size=\"12\">synth.</text>"
                        "<text x=\"558\" y=\"13\" font-size=\"12\">synth.</text>\n");
        sb_puts(sb, img.buf);
        sb_puts(sb, "</svg>\n<figcaption><b>");
        sb_escape(sb, title);
        sb_puts(sb, ".</b> Top by gate: ");
        StrBuf c;
        sb_init(&c);
        top_concepts(&c, jget(e, "by_gate"));
        sb_puts(&c, "; top by readout: ");
        top_concepts(&c, jget(e, "by_readout_norm"));
        if (s1 || s2) {
            sb_puts(&c, ". Synthesised: ");
            synth_values(&c, e, "gate_synth", "gate logit");
            sb_puts(&c, "; ");
            synth_values(&c, e, "readout_synth", "readout norm");
        }
        sb_escape(sb, c.buf);
        sb_puts(sb, ". Numbers: <code>");
        sb_printf(sb, "analysis/mei.json</code>, <code>%s</code>, <code>%s</code></figcaption>\n",
                  grel, rrel);
        sb_puts(sb, "</figure>\n");
        sb_free(&c), sb_free(&img);
    }
    figs_close(p);
    page_consume(p, "analysis/mei_index.npy");
    page_consume(p, "analysis/mei_synth.npy");
    cJSON_Delete(j);
}

/* ---------------- 4. semantic tuning ---------------- */

static int by_abs_desc(const void *a, const void *b) {
    const double *x = a, *y = b;
    return (x[0] < y[0]) - (x[0] > y[0]);
}

static void tuning_heatmap(Page *p, const char *rel, const char *what, const cJSON *dims) {
    int64_t sh[8];
    double *rho = load_npy(p, rel, sh, 2);
    if (!rho) return;
    int E = (int)sh[0], A = (int)sh[1];
    /* the dimensions with the largest |ρ| over experts, at most 24, in their own order */
    double(*rank)[2] = ml_alloc(sizeof *rank * (A > 0 ? A : 1));
    for (int a = 0; a < A; a++) {
        double m = -1;
        for (int e = 0; e < E; e++)
            if (isfinite(rho[e * A + a])) m = fmax(m, fabs(rho[e * A + a]));
        rank[a][0] = m, rank[a][1] = a;
    }
    qsort(rank, A, sizeof *rank, by_abs_desc);
    int C = A < 24 ? A : 24;
    int *pick = ml_alloc(sizeof(int) * (C > 0 ? C : 1));
    for (int i = 0; i < C; i++) pick[i] = (int)rank[i][1];
    for (int i = 1; i < C; i++) /* back to dimension order */
        for (int k = i; k > 0 && pick[k - 1] > pick[k]; k--) {
            int t = pick[k];
            pick[k] = pick[k - 1], pick[k - 1] = t;
        }
    double *m = ml_alloc(sizeof(double) * E * (C > 0 ? C : 1));
    char(*cl)[28] = ml_alloc(sizeof *cl * (C > 0 ? C : 1)), el[MAX_E][12];
    const char **cols = ml_alloc(sizeof(char *) * (C > 0 ? C : 1)), *rows[MAX_E];
    expert_labels(E < MAX_E ? E : MAX_E, el, rows);
    for (int i = 0; i < C; i++) {
        const char *nm = cJSON_GetStringValue(cJSON_GetArrayItem(dims, pick[i]));
        snprintf(cl[i], sizeof cl[i], "%.24s", nm ? nm : "");
        char *colon = strchr(cl[i], ':'); /* "nmf3: tag:…" → "nmf3" (names in the table) */
        if (colon && !strncmp(cl[i], "nmf", 3)) *colon = 0;
        if (!cl[i][0]) snprintf(cl[i], sizeof cl[i], "dim%d", pick[i]);
        cols[i] = cl[i];
        for (int e = 0; e < E; e++) m[e * C + i] = rho[e * A + pick[i]];
    }
    char title[96], cap[300];
    snprintf(title, sizeof title, "Semantic tuning (%s response)", what);
    snprintf(cap, sizeof cap,
             "Spearman ρ over concepts between the expert's concept-mean %s and each semantic "
             "dimension; %d of %d dimensions shown (largest |ρ|). Grey: constant dimension.",
             strcmp(what, "gate") ? "readout norm" : "gate probability", C, A);
    SvgHeatOpts o = {.f = {.title = title,
                           .xlabel = "dimension",
                           .ylabel = "expert",
                           .source = rel,
                           .caption = cap},
                     .vmin = -1,
                     .vmax = 1,
                     .diverging = 1,
                     .cell = C <= 16 ? 28 : 0};
    if (E <= MAX_E) svg_heatmap(&p->body, m, E, C, rows, cols, &o);
    ml_free(rank), ml_free(pick), ml_free(m), ml_free(cl), ml_free(cols), ml_free(rho);
}

static void tuning_table(Page *p, const cJSON *experts) {
    const char *hdr[4] = {"expert", "top dimensions, readout (ρ)", "top dimensions, gate (ρ)",
                          "ridge CV R² readout / gate"};
    table_open(&p->body, hdr, 4);
    const cJSON *e;
    cJSON_ArrayForEach(e, experts) {
        char ex[16], r2[64];
        StrBuf c[2];
        static const char *const keys[2] = {"top_readout", "top_gate"};
        for (int k = 0; k < 2; k++) {
            sb_init(&c[k]);
            sb_puts(&c[k], "");
            const cJSON *d;
            int n = 0;
            cJSON_ArrayForEach(d, jget(e, keys[k])) {
                const char *nm = cJSON_GetStringValue(jget(d, "dim"));
                sb_printf(&c[k], "%s%s (%+.2f)", n++ ? "; " : "", nm ? nm : "?", jnum(d, "rho"));
            }
        }
        snprintf(ex, sizeof ex, "e%.0f", jnum(e, "expert"));
        snprintf(r2, sizeof r2, "%.3g / %.3g", jnum(e, "ridge_cv_r2_readout"),
                 jnum(e, "ridge_cv_r2_gate"));
        table_row(&p->body, (const char *[]){ex, c[0].buf, c[1].buf, r2}, 4);
        sb_free(&c[0]), sb_free(&c[1]);
    }
    table_close(&p->body);
}

static void section_vtuning(Page *p) {
    cJSON *j = page_json(p, "analysis/tuning.json");
    if (!j) return;
    page_section(p, "vtuning", "Semantic tuning",
                 "How each expert's response over concepts follows semantic dimensions "
                 "(docs/vision_analysis.md §4).");
    const char *skipped = cJSON_GetStringValue(jget(j, "skipped"));
    if (skipped) {
        char note[300];
        snprintf(note, sizeof note, "Skipped by the analysis: %s", skipped);
        page_note(p, note);
    } else {
        const cJSON *dims = jget(j, "dims");
        figs_open(p);
        tuning_heatmap(p, "analysis/tuning_readout_rho.npy", "readout", dims);
        tuning_heatmap(p, "analysis/tuning_gate_rho.npy", "gate", dims);
        figs_close(p);
        tuning_table(p, jget(j, "experts"));
        page_note(p, "Top five dimensions per expert by |ρ|; R² < 0: the ridge model predicts "
                     "held-out concepts worse than their mean. Numbers: analysis/tuning.json, "
                     "analysis/tuning.csv (every ρ); concept responses (not drawn): "
                     "analysis/tuning_{readout,gate}_concept.npy.");
    }
    page_consume(p, "analysis/tuning.csv");
    page_consume(p, "analysis/tuning_readout_concept.npy");
    page_consume(p, "analysis/tuning_gate_concept.npy");
    cJSON_Delete(j);
}

/* ---------------- 5. RSA ---------------- */

static void section_vrsa(Page *p, int E) {
    cJSON *j = page_json(p, "analysis/rsa.json");
    if (!j && !page_exists(p, "analysis/rsa_rdm.npy")) return;
    page_section(p, "vrsa", "Representational similarity",
                 "Representational dissimilarity matrices (RDM_e[i,j] = 1 − Pearson of the "
                 "expert's readouts of stimuli i and j) and how experts relate "
                 "(docs/vision_analysis.md §5).");
    figs_open(p);
    char el[MAX_E][12];
    const char *cols[MAX_E];
    expert_labels(E, el, cols);
    double rho[MAX_E];
    if (j && jdoubles(jget(j, "expert_vs_model_rho"), rho, MAX_E) == E) {
        char cap[200];
        snprintf(cap, sizeof cap,
                 "Spearman ρ between each expert's RDM and the model readout's RDM over %.0f "
                 "stimuli (%s).",
                 jnum(j, "stimuli"), cJSON_GetStringValue(jget(j, "stimulus_rule")) ?: "");
        SvgBarOpts o = {.f = {.title = "Expert RDM vs model RDM",
                              .xlabel = "expert",
                              .ylabel = "Spearman ρ",
                              .source = "analysis/rsa.json (expert_vs_model_rho)",
                              .caption = cap}};
        svg_bar_chart(&p->body, cols, E, (const char *[]){"ρ"}, 1, rho, &o);
    }
    static const char *const within[2] = {"analysis/rsa_within.npy", "analysis/rsa_within_cka.npy"};
    static const char *const wt[2] = {"Expert × expert RDM similarity", "Expert × expert CKA"};
    static const char *const wc[2] = {"Spearman ρ of the experts' RDM upper triangles.",
                                      "Linear CKA of the experts' stimulus readouts."};
    for (int w = 0; w < 2; w++) {
        int64_t sh[8];
        double *m = load_npy(p, within[w], sh, 2);
        if (m && sh[0] == E && sh[1] == E) {
            SvgHeatOpts o = {.f = {.title = wt[w],
                                   .xlabel = "expert",
                                   .ylabel = "expert",
                                   .source = within[w],
                                   .caption = wc[w]},
                             .vmin = w ? 0 : -1,
                             .vmax = 1,
                             .diverging = !w,
                             .cell = E <= 16 ? 24 : 0};
            svg_heatmap(&p->body, m, E, E, cols, cols, &o);
        }
        ml_free(m);
    }
    int64_t sh[8];
    double *rdm = load_npy(p, "analysis/rsa_rdm.npy", sh, 3);
    if (rdm && sh[1] == sh[2]) {
        int S = (int)sh[1];
        for (int e = 0; e < sh[0] && e < 4; e++) {
            char title[64];
            snprintf(title, sizeof title, "RDM of expert %d", e);
            SvgHeatOpts o = {
                .f = {.title = title,
                      .xlabel = "stimulus",
                      .ylabel = "stimulus",
                      .source = "analysis/rsa_rdm.npy",
                      .caption = "1 − Pearson correlation of the expert's readouts of two stimuli "
                                 "(0 = same pattern, 2 = opposite); stimuli in "
                                 "analysis/rsa_stimuli.npy order."},
                .vmin = 0,
                .vmax = NAN,
                .cell = S <= 24 ? 12 : 0};
            o.f.width = S <= 24 ? 0 : 360;
            svg_heatmap(&p->body, rdm + (long)e * S * S, S, S, NULL, NULL, &o);
        }
        if (sh[0] > 4)
            page_note(p, "RDMs of the first 4 experts shown; all in analysis/rsa_rdm.npy.");
    }
    ml_free(rdm);
    double *mr = load_npy(p, "analysis/rsa_model_rdm.npy", sh, 2);
    if (mr && sh[0] == sh[1]) {
        SvgHeatOpts o = {.f = {.title = "RDM of the model readout",
                               .xlabel = "stimulus",
                               .ylabel = "stimulus",
                               .source = "analysis/rsa_model_rdm.npy",
                               .caption = "The same dissimilarity on the model's readout."},
                         .vmin = 0,
                         .vmax = NAN,
                         .cell = sh[0] <= 24 ? 12 : 0};
        o.f.width = sh[0] <= 24 ? 0 : 360;
        svg_heatmap(&p->body, mr, (int)sh[0], (int)sh[0], NULL, NULL, &o);
    }
    ml_free(mr);
    figs_close(p);
    page_consume(p, "analysis/rsa_features.npy");
    page_consume(p, "analysis/rsa_stimuli.npy");
    page_note(p,
              "Stimulus readouts for cross-run comparison (not drawn): analysis/rsa_features.npy, "
              "analysis/rsa_stimuli.npy.");
    cJSON_Delete(j);
}

void section_vision_analysis(Page *p) {
    cJSON *v = page_json(p, "analysis/vision.json");
    int E = (int)jnum(v, "experts");
    if (!v || E <= 0 || E > MAX_E) {
        cJSON_Delete(v);
        return;
    }
    page_consume(p, "analysis/vision.json");
    page_section(p, "vision", "Vision analysis",
                 "Outputs of moelens analyze RUN --images SET (docs/vision_analysis.md).");
    char a[32], b[32], c[32], d[32];
    snprintf(a, sizeof a, "%.0f of %.0f", jnum(v, "images_analysed"), jnum(v, "images_total"));
    snprintf(b, sizeof b, "%d (top-%.0f)", E, jnum(v, "top_k"));
    snprintf(c, sizeof c, "%.3g", jnum(v, "animacy_index_max_abs"));
    snprintf(d, sizeof d, "%.3g", jnum(v, "rsa_within_mean_offdiag_rho"));
    const char *hdr[5] = {"image set", "images analysed", "experts", "max |animacy index|",
                          "mean RDM ρ between experts"};
    const char *set = cJSON_GetStringValue(jget(v, "images"));
    table_open(&p->body, hdr, 5);
    table_row(&p->body, (const char *[]){set ? set : "?", a, b, c, d}, 5);
    table_close(&p->body);
    page_note(p, "Headline numbers: analysis/vision.json.");
    const cJSON *gs = jget(v, "gate_summary");
    if (gs) {
        char where[96];
        snprintf(where, sizeof where, "%.0f, %s (MI with %s)", jnum(gs, "n"),
                 cJSON_GetStringValue(jget(gs, "images")) ?: "?",
                 cJSON_GetStringValue(jget(gs, "mi_level")) ?: "level 0");
        gate_summary_table(p, gs, cJSON_IsTrue(jget(gs, "collapsed")),
                           cJSON_GetStringValue(jget(gs, "collapse_reason")), where);
        style_routing_note(p, gs);
    }
    section_vgating(p, E);
    section_vseparability(p);
    section_vmei(p);
    section_vtuning(p);
    section_vrsa(p, E);
    cJSON_Delete(v);
}
