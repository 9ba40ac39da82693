/* Sweep section for `moelens compare` on vision runs (compare_vision.json, at the sweep folder or
 * in its compare/ sub-folder; docs/vision_analysis.md §5): per pair of runs, the Hungarian-matched
 * expert similarity against the identity pairing and the permutation null, the matched
 * permutation, and the similarity matrices. */
#include "core/mem.h"
#include "report/report_internal.h"
#include "report/report_npy.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_E 64

static const char *run_name(const cJSON *runs, int i) {
    const char *s = cJSON_GetStringValue(cJSON_GetArrayItem(runs, i));
    if (!s) return "?";
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/') n--;
    const char *b = s + n;
    while (b > s && b[-1] != '/') b--;
    return b; /* may keep a trailing '/', harmless in a label */
}

static const char *const MEASURES[3] = {"rsa", "cka", "tuning"};
static const char *const MEASURE_NAMES[3] = {"RDM ρ", "CKA", "tuning profile r"};

static void pair_figures(Page *p, const char *dir, const cJSON *pair, const cJSON *runs, int E) {
    int a = (int)jnum(pair, "a"), b = (int)jnum(pair, "b");
    char ra[64], rb[64];
    snprintf(ra, sizeof ra, "%s", run_name(runs, a));
    snprintf(rb, sizeof rb, "%s", run_name(runs, b));
    double v[3 * 3], err[3 * 3];
    StrBuf cap;
    sb_init(&cap);
    sb_printf(&cap,
              "Mean similarity of matched experts (Hungarian assignment maximising the total), of "
              "the identity pairing e↔e, and of the null (stimuli of run %s relabelled at random, "
              "re-matched; ± sd). Permutation p:",
              rb);
    for (int m = 0; m < 3; m++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(pair, MEASURES[m]);
        v[0 * 3 + m] = jnum(o, "matched_mean"), v[1 * 3 + m] = jnum(o, "identity_mean"),
                  v[2 * 3 + m] = jnum(o, "null_mean");
        err[0 * 3 + m] = err[1 * 3 + m] = NAN, err[2 * 3 + m] = jnum(o, "null_sd");
        sb_printf(&cap, "%s %s p = %.3g", m ? "," : "", MEASURE_NAMES[m], jnum(o, "p"));
    }
    sb_puts(&cap, ".");
    char title[200], src[300];
    snprintf(title, sizeof title, "Cross-seed matching: %s vs %s", ra, rb);
    snprintf(src, sizeof src, "%s (pairs[a=%d, b=%d])", dir, a, b);
    SvgBarOpts o = {
        .f = {.title = title, .ylabel = "mean similarity", .source = src, .caption = cap.buf},
        .err = err};
    svg_bar_chart(&p->body, MEASURE_NAMES, 3, (const char *[]){"matched", "identity", "null"}, 3, v,
                  &o);
    sb_free(&cap);
    /* the similarity matrix of each measure, rows run a's experts */
    char el[MAX_E][12];
    const char *lab[MAX_E];
    for (int e = 0; e < E; e++) snprintf(el[e], 12, "e%d", e), lab[e] = el[e];
    for (int m = 0; m < 3; m++) {
        char rel[300], t[200];
        const char *slash = strrchr(dir, '/');
        snprintf(rel, sizeof rel, "%.*spair%d_%d_%s.npy", slash ? (int)(slash - dir + 1) : 0, dir,
                 a, b, MEASURES[m]);
        char *path = page_path(p, rel);
        int64_t sh[8];
        int nd = 0;
        double *s = npy_load_doubles(path, sh, &nd);
        ml_free(path);
        if (s && nd == 2 && sh[0] == E && sh[1] == E) {
            page_consume(p, rel);
            snprintf(t, sizeof t, "%s: %s (rows) × %s (columns)", MEASURE_NAMES[m], ra, rb);
            SvgHeatOpts ho = {.f = {.title = t,
                                    .xlabel = rb,
                                    .ylabel = ra,
                                    .source = rel,
                                    .caption = "Similarity of every expert pair; the matched "
                                               "permutation is in the table below."},
                              .vmin = NAN,
                              .vmax = NAN,
                              .diverging = m != 1,
                              .cell = E <= 16 ? 24 : 0};
            svg_heatmap(&p->body, s, E, E, lab, lab, &ho);
        }
        ml_free(s);
    }
}

static void pair_table(Page *p, const cJSON *pair, const cJSON *runs, int E) {
    char h[3][64];
    const char *hdr[5] = {"", h[0], h[1], h[2], "animacy A_a / A_b(π(e))"};
    char first[80];
    snprintf(first, sizeof first, "expert of %s", run_name(runs, (int)jnum(pair, "a")));
    hdr[0] = first;
    for (int m = 0; m < 3; m++)
        snprintf(h[m], sizeof h[m], "%s: π(e) (similarity)", MEASURE_NAMES[m]);
    table_open(&p->body, hdr, 5);
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(pair, "animacy");
    for (int e = 0; e < E; e++) {
        char c[5][64];
        snprintf(c[0], sizeof c[0], "e%d", e);
        for (int m = 0; m < 3; m++) {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(pair, MEASURES[m]);
            const cJSON *pi = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "match"), e),
                        *s = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "matched"), e);
            if (cJSON_IsNumber(pi))
                snprintf(c[1 + m], sizeof c[1 + m], "e%d (%.3f)", pi->valueint,
                         cJSON_IsNumber(s) ? s->valuedouble : NAN);
            else
                snprintf(c[1 + m], sizeof c[1 + m], "–");
        }
        const cJSON *ia = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(an, "index_a"), e),
                    *ib = cJSON_GetArrayItem(
                        cJSON_GetObjectItemCaseSensitive(an, "index_b_matched"), e);
        snprintf(c[4], sizeof c[4], "%.3g / %.3g", cJSON_IsNumber(ia) ? ia->valuedouble : NAN,
                 cJSON_IsNumber(ib) ? ib->valuedouble : NAN);
        table_row(&p->body, (const char *[]){c[0], c[1], c[2], c[3], c[4]}, 5);
    }
    table_close(&p->body);
    char note[200];
    snprintf(note, sizeof note,
             "Animacy of matched experts (π from RDM matching): Pearson r = %.3g, p = %.3g "
             "against random pairings.",
             jnum(an, "pearson"), jnum(an, "p"));
    page_note(p, note);
}

void section_vision_compare(Page *p) {
    const char *dir = "compare/compare_vision.json";
    cJSON *j = page_json(p, dir);
    if (!j) j = page_json(p, dir = "compare_vision.json");
    if (!j) return;
    int E = (int)jnum(j, "experts");
    const cJSON *pairs = cJSON_GetObjectItemCaseSensitive(j, "pairs"),
                *runs = cJSON_GetObjectItemCaseSensitive(j, "runs");
    if (E <= 0 || E > MAX_E || !cJSON_GetArraySize(pairs)) {
        cJSON_Delete(j);
        return;
    }
    char intro[300];
    snprintf(intro, sizeof intro,
             "Do the experts of different seeds encode the same thing? %d runs, %d experts, %.0f "
             "stimuli, %.0f null permutations (moelens compare; docs/vision_analysis.md §5).",
             cJSON_GetArraySize(runs), E, jnum(j, "stimuli"), jnum(j, "permutations"));
    page_section(p, "vcompare", "Cross-seed expert matching", intro);
    const cJSON *pair;
    int k = 0;
    cJSON_ArrayForEach(pair, pairs) {
        if (k++ == 6) {
            page_note(p, "First 6 pairs shown; all in the JSON file.");
            break;
        }
        sb_puts(&p->body, "<div class=\"figs\">\n");
        pair_figures(p, dir, pair, runs, E);
        sb_puts(&p->body, "</div>\n");
        pair_table(p, pair, runs, E);
    }
    cJSON_Delete(j);
}
