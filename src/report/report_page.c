/* The report page: skeleton, style, table of contents, tables, and which files were shown. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "report/report_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const style =
    "body{font-family:sans-serif;margin:0 auto;max-width:1180px;padding:16px 24px;color:#222;"
    "background:#fff;line-height:1.4}\n"
    "h1{font-size:22px;margin:4px 0}h2{font-size:18px;border-bottom:1px solid "
    "#ccc;margin-top:28px}\n"
    "h3{font-size:15px;margin:16px 0 6px}\n"
    ".sub{color:#555;margin:0 0 12px}.note{color:#555;font-size:13px}\n"
    ".banner{background:#fde8e8;border:1px solid #d33;color:#900;padding:8px;font-weight:bold}\n"
    ".figs{display:flex;flex-wrap:wrap;gap:12px}\n"
    "figure.fig{margin:0;border:1px solid "
    "#e4e4e4;padding:6px;width:min-content;max-width:100%;overflow-x:auto}\n"
    "figure.fig svg{display:block;background:#fff}\n"
    "figcaption{font-size:12px;color:#444;min-width:300px;margin-top:4px}\n"
    "code{background:#f3f3f3;padding:0 3px;font-size:12px}\n"
    "table{border-collapse:collapse;font-size:12px;margin:6px 0 12px}\n"
    "th,td{border:1px solid #ddd;padding:2px 6px;text-align:right}th{background:#f5f5f5}\n"
    "td:first-child,th:first-child{text-align:left}\n"
    "nav "
    "ol{columns:3;font-size:13px}pre{font-size:11px;background:#f7f7f7;padding:6px;overflow-x:auto}"
    "\n";

void page_init(Page *p, const char *dir) {
    memset(p, 0, sizeof *p);
    sb_init(&p->body);
    p->dir = dir;
}

void page_free(Page *p) {
    sb_free(&p->body);
    for (int i = 0; i < p->n_toc; i++) ml_free(p->toc_id[i]), ml_free(p->toc_title[i]);
    for (int i = 0; i < p->n_consumed; i++) ml_free(p->consumed[i]);
    memset(p, 0, sizeof *p);
}

int page_write(Page *p, const char *title, const char *subtitle, const char *out_path) {
    StrBuf sb;
    sb_init(&sb);
    sb_puts(&sb, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    sb_escape(&sb, title);
    sb_printf(&sb, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", style);
    sb_escape(&sb, title);
    sb_puts(&sb, "</h1>\n<p class=\"sub\">");
    sb_escape(&sb, subtitle);
    sb_puts(&sb, "</p>\n<nav><ol>\n");
    for (int i = 0; i < p->n_toc; i++) {
        sb_printf(&sb, "<li><a href=\"#%s\">", p->toc_id[i]);
        sb_escape(&sb, p->toc_title[i]);
        sb_puts(&sb, "</a></li>\n");
    }
    sb_puts(&sb, "</ol></nav>\n");
    sb_putn(&sb, p->body.buf ? p->body.buf : "", p->body.len);
    sb_puts(&sb,
            "<p class=\"note\">Written by <code>moelens report</code>; every figure names the file "
            "that holds its numbers (paths relative to this folder).</p>\n</body>\n</html>\n");
    int r = ml_write_file_atomic(out_path, sb.buf, sb.len);
    sb_free(&sb);
    return r;
}

void page_section(Page *p, const char *id, const char *title, const char *intro) {
    if (p->n_toc < PAGE_MAX_TOC) {
        p->toc_id[p->n_toc] = ml_strdup(id);
        p->toc_title[p->n_toc++] = ml_strdup(title);
    }
    sb_printf(&p->body, "<h2 id=\"%s\">", id);
    sb_escape(&p->body, title);
    sb_puts(&p->body, "</h2>\n");
    if (intro) page_note(p, intro);
}

void page_note(Page *p, const char *text) {
    sb_puts(&p->body, "<p class=\"note\">");
    sb_escape(&p->body, text);
    sb_puts(&p->body, "</p>\n");
}

void page_banner(Page *p, const char *text) {
    sb_puts(&p->body, "<p class=\"banner\">");
    sb_escape(&p->body, text);
    sb_puts(&p->body, "</p>\n");
}

char *page_path(const Page *p, const char *rel) {
    return ml_path_join(p->dir, rel);
}

int page_exists(const Page *p, const char *rel) {
    char *path = page_path(p, rel);
    int yes = ml_file_exists(path);
    ml_free(path);
    return yes;
}

int page_consumed(const Page *p, const char *rel) {
    for (int i = 0; i < p->n_consumed; i++)
        if (!strcmp(p->consumed[i], rel)) return 1;
    return 0;
}

int page_consume(Page *p, const char *rel) {
    if (!page_exists(p, rel)) return 0;
    if (!page_consumed(p, rel) && p->n_consumed < PAGE_MAX_CONSUMED)
        p->consumed[p->n_consumed++] = ml_strdup(rel);
    return 1;
}

cJSON *page_json(Page *p, const char *rel) {
    if (!page_exists(p, rel)) return NULL;
    char *path = page_path(p, rel), *buf;
    size_t len;
    cJSON *j = NULL;
    if (!ml_read_file(path, &buf, &len)) {
        j = cJSON_Parse(buf);
        ml_free(buf);
    }
    if (!j) {
        StrBuf note;
        sb_init(&note);
        sb_printf(&note, "%s could not be read as JSON; left out.", rel);
        page_note(p, note.buf);
        sb_free(&note);
    }
    ml_free(path);
    page_consume(p, rel);
    return j;
}

void table_open(StrBuf *sb, const char *const *header, int n) {
    sb_puts(sb, "<table>\n<tr>");
    for (int i = 0; i < n; i++) {
        sb_puts(sb, "<th>");
        sb_escape(sb, header[i]);
        sb_puts(sb, "</th>");
    }
    sb_puts(sb, "</tr>\n");
}

void table_row(StrBuf *sb, const char *const *cells, int n) {
    sb_puts(sb, "<tr>");
    for (int i = 0; i < n; i++) {
        sb_puts(sb, "<td>");
        sb_escape(sb, cells[i] ? cells[i] : "");
        sb_puts(sb, "</td>");
    }
    sb_puts(sb, "</tr>\n");
}

void table_close(StrBuf *sb) {
    sb_puts(sb, "</table>\n");
}

/* Splits one CSV line in place (RFC 4180 quotes); returns the number of fields (at most max). */
static int csv_split(char *line, char **f, int max) {
    int n = 0;
    char *w = line, *r = line;
    while (n < max) {
        f[n++] = w;
        int quoted = *r == '"';
        if (quoted) r++;
        for (;;) {
            if (!*r) break;
            if (quoted && *r == '"') {
                if (r[1] == '"') {
                    *w++ = '"', r += 2;
                    continue;
                }
                quoted = 0, r++;
                continue;
            }
            if (!quoted && *r == ',') break;
            *w++ = *r++;
        }
        int more = *r == ',';
        *w++ = 0;
        if (!more) break;
        r++;
    }
    return n;
}

/* Shortens a number-looking cell to 4 significant digits so tables stay readable. */
static const char *tidy(char *cell, char *buf, size_t n) {
    char *end;
    double v = strtod(cell, &end);
    if (end == cell || *end || !strpbrk(cell, ".eE")) return cell;
    snprintf(buf, n, "%.4g", v);
    return buf;
}

int page_csv_table(Page *p, const char *rel, int max_rows, const char *caption) {
    char *path = page_path(p, rel), *buf;
    size_t len;
    int r = ml_read_file(path, &buf, &len);
    ml_free(path);
    if (r) return -1;
    page_consume(p, rel);
    if (caption) {
        sb_puts(&p->body, "<h3>");
        sb_escape(&p->body, caption);
        sb_puts(&p->body, " <code>");
        sb_escape(&p->body, rel);
        sb_puts(&p->body, "</code></h3>\n");
    }
    char *f[64], tbuf[64][32];
    const char *cells[64];
    int rows = 0, total = 0, header = 1;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[l - 1] = 0;
        if (!*line) continue;
        int n = csv_split(line, f, 64);
        if (header) {
            table_open(&p->body, (const char *const *)f, n);
            header = 0;
            continue;
        }
        total++;
        if (rows >= max_rows) continue;
        for (int i = 0; i < n; i++) cells[i] = tidy(f[i], tbuf[i], sizeof tbuf[i]);
        table_row(&p->body, cells, n);
        rows++;
    }
    if (!header) table_close(&p->body);
    if (total > rows) {
        char note[160];
        snprintf(note, sizeof note, "First %d of %d rows; the rest are in %s.", rows, total, rel);
        page_note(p, note);
    }
    ml_free(buf);
    return 0;
}

void figs_open(Page *p) {
    sb_puts(&p->body, "<div class=\"figs\">\n");
}
void figs_close(Page *p) {
    sb_puts(&p->body, "</div>\n");
}

double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}
