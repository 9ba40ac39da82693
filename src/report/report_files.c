/* The catch-all section: every file under a folder (e.g. analysis/) that no dedicated section
 * showed, drawn by its kind — CSV as a table, .npy by shape (vector: bars or a line, matrix:
 * heatmap, stack of matrices: a heatmap each, uint8 N×H×W×C: an image grid), JSON as text — so a
 * new analysis output appears in the report before anyone writes a section for it. */
#include "core/mem.h"
#include "core/npy.h"
#include "report/report_internal.h"
#include "report/report_npy.h"
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static void show_npy(Page *p, const char *rel) {
    char *path = page_path(p, rel);
    NpyArray a;
    int r = npy_read(path, &a);
    ml_free(path);
    if (r) {
        page_note(p, rel);
        return;
    }
    page_consume(p, rel);
    char title[256];
    snprintf(title, sizeof title, "%s", strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel);
    int64_t n = 1;
    for (int i = 0; i < a.ndim; i++) n *= a.shape[i];
    char cap[128] = "";
    int off = 0;
    for (int i = 0; i < a.ndim && off < 100; i++)
        off += snprintf(cap + off, sizeof cap - off, "%s%lld", i ? "×" : "shape ",
                        (long long)a.shape[i]);
    snprintf(cap + off, sizeof cap - off, " (%s)", a.dtype);
    SvgFrame f = {.title = title, .caption = cap, .source = rel};
    if (a.ndim == 4 && !strcmp(a.dtype, "|u1") &&
        (a.shape[3] == 1 || a.shape[3] == 3 || a.shape[3] == 4) && a.shape[0] <= 256) {
        SvgImageGridOpts o = {.f = f, .cols = 16, .cell = 40};
        svg_image_grid(&p->body, a.data, (int)a.shape[0], (int)a.shape[1], (int)a.shape[2],
                       (int)a.shape[3], &o);
        npy_free(&a);
        return;
    }
    double *v = npy_to_doubles(&a);
    if (!v) {
        page_note(p, cap);
    } else if (a.ndim == 1 || (a.ndim == 2 && (a.shape[0] == 1 || a.shape[1] == 1))) {
        if (n <= 64) {
            char(*lab)[12] = ml_alloc(sizeof *lab * n);
            const char **labels = ml_alloc(sizeof *labels * n);
            for (int64_t i = 0; i < n; i++)
                snprintf(lab[i], 12, "%lld", (long long)i), labels[i] = lab[i];
            SvgBarOpts o = {.f = f};
            o.f.xlabel = "index";
            svg_bar_chart(&p->body, labels, (int)n, (const char *[]){title}, 1, v, &o);
            ml_free(lab), ml_free(labels);
        } else {
            double *x = ml_alloc(sizeof(double) * n);
            for (int64_t i = 0; i < n; i++) x[i] = (double)i;
            SvgSeries s = {title, x, v, (int)n};
            SvgLineOpts o = {.f = f};
            o.f.xlabel = "index";
            svg_line_chart(&p->body, &s, 1, &o);
            ml_free(x);
        }
    } else if (a.ndim == 2 && a.shape[0] <= 512 && a.shape[1] <= 512) {
        SvgHeatOpts o = {.f = f, .vmin = NAN, .vmax = NAN};
        o.f.ylabel = "row", o.f.xlabel = "column";
        svg_heatmap(&p->body, v, (int)a.shape[0], (int)a.shape[1], NULL, NULL, &o);
    } else if (a.ndim == 3 && a.shape[1] <= 256 && a.shape[2] <= 256) {
        int64_t k = a.shape[0] < 8 ? a.shape[0] : 8;
        for (int64_t i = 0; i < k; i++) {
            char t[300];
            snprintf(t, sizeof t, "%s [%lld]", title, (long long)i);
            SvgHeatOpts o = {.f = f, .vmin = NAN, .vmax = NAN};
            o.f.title = t;
            svg_heatmap(&p->body, v + i * a.shape[1] * a.shape[2], (int)a.shape[1], (int)a.shape[2],
                        NULL, NULL, &o);
        }
    } else {
        char t[300];
        snprintf(t, sizeof t, "%s: %s (not drawn)", rel, cap);
        page_note(p, t);
    }
    ml_free(v);
    npy_free(&a);
}

static void show_json(Page *p, const char *rel) {
    cJSON *j = page_json(p, rel);
    if (!j) return;
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    if (!s) return;
    size_t n = strlen(s);
    sb_puts(&p->body, "<h3><code>");
    sb_escape(&p->body, rel);
    sb_puts(&p->body, "</code></h3>\n<pre>");
    if (n > 4000) s[4000] = 0;
    sb_escape(&p->body, s);
    sb_puts(&p->body, n > 4000 ? "\n…</pre>\n" : "</pre>\n");
    free(s);
}

/* Relative paths of the files under dir/sub (one level of sub-folders), sorted. */
static int list_files(const Page *p, const char *sub, char **out, int max, int depth) {
    char *dir = page_path(p, sub);
    DIR *d = opendir(dir);
    ml_free(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < max;) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp.")) continue;
        size_t len = strlen(sub) + strlen(e->d_name) + 2;
        char *rel = ml_alloc(len);
        snprintf(rel, len, "%s/%s", sub, e->d_name);
        char *full = page_path(p, rel);
        DIR *child = opendir(full);
        ml_free(full);
        if (child) {
            closedir(child);
            if (depth > 0) n += list_files(p, rel, out + n, max - n, depth - 1);
            ml_free(rel);
        } else
            out[n++] = rel;
    }
    closedir(d);
    qsort(out, n, sizeof *out, by_name);
    return n;
}

void section_other_files(Page *p, const char *sub) {
    char *files[512];
    int n = list_files(p, sub, files, 512, 1), shown = 0;
    for (int i = 0; i < n; i++) {
        const char *f = files[i];
        if (page_consumed(p, f) || ends_with(f, ".html")) continue;
        if (!shown++) {
            char id[64], title[128];
            snprintf(id, sizeof id, "files-%s", sub);
            for (char *c = id; *c; c++)
                if (*c == '/') *c = '-';
            snprintf(title, sizeof title, "Other outputs in %s/", sub);
            page_section(p, id, title, "Files no dedicated section shows, drawn by their kind.");
            sb_puts(&p->body, "<div class=\"figs\">\n");
        }
        if (ends_with(f, ".csv"))
            page_csv_table(p, f, 30, "Table");
        else if (ends_with(f, ".npy"))
            show_npy(p, f);
        else if (ends_with(f, ".json"))
            show_json(p, f);
        else {
            char note[600];
            snprintf(note, sizeof note, "%s (not drawn)", f);
            page_note(p, note);
        }
    }
    if (shown) sb_puts(&p->body, "</div>\n");
    for (int i = 0; i < n; i++) ml_free(files[i]);
}
