/* SVG figures for the HTML report, appended to a StrBuf as one <figure>: an inline <svg> and a
 * <figcaption> that says what the figure shows and which file holds its numbers. No external
 * dependencies; non-finite values are skipped (lines break, bars are left out, heatmap cells are
 * grey), so a NaN in a metrics file never produces invalid markup. */
#pragma once
#include "report/strbuf.h"
#include <stdint.h>

typedef struct {
    const char *title;   /* bold first words of the caption, also the svg's aria-label */
    const char *caption; /* what the figure shows */
    const char *source;  /* the file that holds its numbers (relative to the report) */
    const char *xlabel, *ylabel;
    int width, height; /* pixels; 0 = a default */
} SvgFrame;

/* ---- line chart: several series, axes with ticks, legend, optional log-y and threshold ---- */
typedef struct {
    const char *name;
    const double *x, *y;
    int n;
} SvgSeries;
typedef struct {
    SvgFrame f;
    int log_y;     /* logarithmic y axis; values <= 0 are skipped */
    int has_hline; /* draw a dashed horizontal line at hline */
    double hline;
    const char *hline_label;
} SvgLineOpts;
void svg_line_chart(StrBuf *sb, const SvgSeries *series, int n_series, const SvgLineOpts *o);

/* ---- grouped bar chart: values[s * n_groups + g] is series s in group g ---- */
typedef struct {
    SvgFrame f;
    const double *err; /* optional ± error bars, same layout as values */
    /* optional interval bounds (e.g. a Wilson interval, asymmetric), same layout; drawn instead of
     * err where both are finite */
    const double *ci_lo, *ci_hi;
    int has_hline;
    double hline;
    const char *hline_label;
} SvgBarOpts;
void svg_bar_chart(StrBuf *sb, const char *const *group_labels, int n_groups,
                   const char *const *series_names, int n_series, const double *values,
                   const SvgBarOpts *o);

/* ---- heatmap of a rows × cols matrix (row-major), colour-scale legend, values on hover ---- */
typedef struct {
    SvgFrame f;
    double vmin, vmax; /* colour range; NaN = from the data */
    int diverging;     /* blue-white-red centred on 0 (else viridis) */
    int cell;          /* cell size in pixels; 0 = fit the width */
} SvgHeatOpts;
void svg_heatmap(StrBuf *sb, const double *m, int rows, int cols, const char *const *row_labels,
                 const char *const *col_labels, const SvgHeatOpts *o);

/* ---- grid of small images (embedded PNG data URIs) ---- */
typedef struct {
    SvgFrame f;
    int cols;                      /* images per row */
    int cell;                      /* display size of one image in pixels (0 = 48) */
    const char *const *labels;     /* one per image (may be NULL) */
    const char *const *row_labels; /* one per grid row (may be NULL) */
} SvgImageGridOpts;
/* pixels: n images of h×w×channels bytes each (channels 1, 3 or 4). -1 + ml_error if encoding
 * fails. */
int svg_image_grid(StrBuf *sb, const uint8_t *pixels, int n, int h, int w, int channels,
                   const SvgImageGridOpts *o);

/* Colour of v in [0,1] on the viridis scale as "#rrggbb" (buf has room for 8). */
void svg_viridis(double v, char *buf);
