/* Shared by the report's section files: the page being built and small HTML helpers. A section
 * is a function (Page *, ...) that reads the files it needs and appends nothing when they are
 * missing; it marks what it used (page_consume) so the catch-all section shows only the rest. */
#pragma once
#include "report/strbuf.h"
#include "report/svg.h"
#include <cjson/cJSON.h>

#define PAGE_MAX_TOC 64
#define PAGE_MAX_CONSUMED 256

typedef struct {
    StrBuf body;
    const char *dir; /* the folder reported on; figure sources are named relative to it */
    int n_toc;
    char *toc_id[PAGE_MAX_TOC], *toc_title[PAGE_MAX_TOC];
    int n_consumed;
    char *consumed[PAGE_MAX_CONSUMED]; /* relative paths already shown */
    int n_figures;
} Page;

void page_init(Page *p, const char *dir);
void page_free(Page *p);
/* Wraps the body in the HTML skeleton (style, title, table of contents) and writes it atomically.
 */
int page_write(Page *p, const char *title, const char *subtitle, const char *out_path);

void page_section(Page *p, const char *id, const char *title, const char *intro);
void page_note(Page *p, const char *html_escaped_text); /* a short paragraph (escaped) */
void page_banner(Page *p, const char *text);            /* a red warning paragraph (escaped) */

/* dir/rel (ml_free it); does the file exist? Marks it as shown when it does (exists_consume). */
char *page_path(const Page *p, const char *rel);
int page_exists(const Page *p, const char *rel);
int page_consume(Page *p, const char *rel);
int page_consumed(const Page *p, const char *rel);

/* Reads dir/rel as JSON (NULL if missing or malformed: the section is skipped with a note). */
cJSON *page_json(Page *p, const char *rel);

/* A row of figures side by side (a flex container around the figures appended in between). */
void figs_open(Page *p);
void figs_close(Page *p);
/* o[k] as a number; NaN when it is absent or not a number (figures skip NaN). */
double jnum(const cJSON *o, const char *k);

/* Tables: a header row from names, then rows of cells (escaped). */
void table_open(StrBuf *sb, const char *const *header, int n);
void table_row(StrBuf *sb, const char *const *cells, int n);
void table_close(StrBuf *sb);
/* A CSV file (first line header) as a table of at most max_rows rows; -1 if unreadable. */
int page_csv_table(Page *p, const char *rel, int max_rows, const char *caption);

/* Sections (one file each). */
void section_run_summary(Page *p);
void section_training(Page *p);
void section_expert_load(Page *p);
void section_lm_analysis(Page *p);
void section_intervals(Page *p); /* LM: analysis/bootstrap.json (report_bootstrap.c) */
void section_other_files(Page *p, const char *sub);
/* Vision runs (report_vision.c): is config.json's "model" "vision"? */
int page_is_vision(Page *p);
void section_vision_training(Page *p);
void section_vision_analysis(Page *p);
void section_vision_compare(Page *p); /* sweep: compare/compare_vision.json */
void section_sensitivity(Page *p);    /* LM: analysis/sensitivity.json (report_sens.c) */
void section_prune(Page *p);          /* LM: analysis/prune.json (report_prune.c) */
void section_sweep(Page *p);
void section_compare(Page *p);
void section_findings(Page *p); /* study claims judged by compare (report_findings.c) */
