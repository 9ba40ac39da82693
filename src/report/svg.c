#include "report/svg.h"
#include "core/error.h"
#include "report/png_encode.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
#define N_PALETTE 10

/* ---- frame: <figure>, <svg>, caption ---- */

static void figure_open(StrBuf *sb, const SvgFrame *f, int w, int h) {
    sb_printf(
        sb,
        "<figure class=\"fig\">\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
        "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"",
        w, h, w, h);
    sb_escape(sb, f->title ? f->title : "figure");
    sb_puts(sb, "\" font-family=\"sans-serif\" font-size=\"11\">\n");
    if (f->title) {
        sb_printf(
            sb,
            "<text x=\"%d\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">",
            w / 2);
        sb_escape(sb, f->title);
        sb_puts(sb, "</text>\n");
    }
}

static void figure_close(StrBuf *sb, const SvgFrame *f) {
    sb_puts(sb, "</svg>\n<figcaption>");
    if (f->title) {
        sb_puts(sb, "<b>");
        sb_escape(sb, f->title);
        sb_puts(sb, ".</b> ");
    }
    sb_escape(sb, f->caption ? f->caption : "");
    if (f->source) {
        sb_puts(sb, " Numbers: <code>");
        sb_escape(sb, f->source);
        sb_puts(sb, "</code>.");
    }
    sb_puts(sb, "</figcaption>\n</figure>\n");
}

static void text_at(StrBuf *sb, double x, double y, const char *anchor, const char *extra,
                    const char *s) {
    sb_printf(sb, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>", x, y, anchor,
              extra ? extra : "");
    sb_escape(sb, s);
    sb_puts(sb, "</text>\n");
}

/* ---- axes ---- */

typedef struct {
    double lo, hi; /* data range after padding (log10 units on a log axis) */
    int log;
    double p0, p1; /* pixel range: lo maps to p0, hi to p1 */
} Axis;

static double axis_px(const Axis *a, double v) {
    double t = a->log ? log10(v) : v;
    return a->p0 + (t - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0);
}

static int usable(double v, int log) {
    return isfinite(v) && (!log || v > 0);
}

/* Range of finite (and, on a log axis, positive) values; returns 0 if there are none. */
static int data_range(const SvgSeries *s, int ns, int want_y, int log, double *lo, double *hi) {
    *lo = INFINITY, *hi = -INFINITY;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < s[i].n; j++) {
            double x = s[i].x[j], y = s[i].y[j];
            if (!usable(x, 0) || !usable(y, want_y ? log : 0)) continue;
            double v = want_y ? y : x;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
    return *lo <= *hi;
}

static void axis_fit(Axis *a, double lo, double hi, int log, double p0, double p1) {
    a->log = log, a->p0 = p0, a->p1 = p1;
    if (log) lo = log10(lo), hi = log10(hi);
    if (hi - lo < 1e-12 * (fabs(hi) + 1))
        lo -= log ? 0.5 : (fabs(lo) > 0 ? fabs(lo) * 0.1 : 1),
            hi += log ? 0.5 : (fabs(hi) > 0 ? fabs(hi) * 0.1 : 1);
    double pad = (hi - lo) * 0.04;
    a->lo = lo - pad, a->hi = hi + pad;
}

static double nice_step(double range, int target) {
    double raw = range / target, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

static void fmt_tick(char *buf, size_t n, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    if (fabs(v) >= 1e5 || (fabs(v) < 1e-3 && v != 0))
        snprintf(buf, n, "%.2g", v);
    else {
        int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
        snprintf(buf, n, "%.*f", dec > 6 ? 6 : dec, v);
    }
}

/* Tick positions (in data units) of an axis; returns how many (at most max). */
static int axis_ticks(const Axis *a, double *t, double *step_out, int max) {
    int n = 0;
    if (a->log) {
        double e0 = ceil(a->lo - 1e-9), e1 = floor(a->hi + 1e-9);
        if (e1 - e0 >= 1) {
            double every = ceil((e1 - e0 + 1) / 6);
            for (double e = e0; e <= e1 && n < max; e += every) t[n++] = pow(10, e);
            *step_out = 1;
            return n;
        }
        /* less than a decade: linear ticks between the ends */
        double lo = pow(10, a->lo), hi = pow(10, a->hi), s = nice_step(hi - lo, 4);
        for (double v = ceil(lo / s) * s; v <= hi && n < max; v += s) t[n++] = v;
        *step_out = s;
        return n;
    }
    double s = nice_step(a->hi - a->lo, 5);
    for (double v = ceil(a->lo / s) * s; v <= a->hi + s * 1e-9 && n < max; v += s) t[n++] = v;
    *step_out = s;
    return n;
}

static void draw_y_axis(StrBuf *sb, const Axis *y, double x0, double x1, const char *label) {
    double t[16], step;
    int n = axis_ticks(y, t, &step, 16);
    sb_printf(sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x0,
              y->p0, x0, y->p1);
    for (int i = 0; i < n; i++) {
        double py = axis_px(y, t[i]);
        char buf[32];
        if (y->log && step == 1)
            snprintf(buf, sizeof buf, "%g", t[i]);
        else
            fmt_tick(buf, sizeof buf, t[i], step);
        sb_printf(sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                  x0, py, x1, py);
        text_at(sb, x0 - 4, py + 4, "end", NULL, buf);
    }
    if (label) {
        double my = (y->p0 + y->p1) / 2;
        char rot[64];
        snprintf(rot, sizeof rot, " transform=\"rotate(-90 14 %.1f)\"", my);
        text_at(sb, 14, my, "middle", rot, label);
    }
}

static void draw_x_axis(StrBuf *sb, const Axis *x, double y0, const char *label) {
    double t[16], step;
    int n = axis_ticks(x, t, &step, 16);
    sb_printf(sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
              x->p0, y0, x->p1, y0);
    for (int i = 0; i < n; i++) {
        double px = axis_px(x, t[i]);
        char buf[32];
        fmt_tick(buf, sizeof buf, t[i], step);
        sb_printf(sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
                  px, y0, px, y0 + 4);
        text_at(sb, px, y0 + 16, "middle", NULL, buf);
    }
    if (label) text_at(sb, (x->p0 + x->p1) / 2, y0 + 32, "middle", NULL, label);
}

static void draw_hline(StrBuf *sb, const Axis *y, double x0, double x1, double v,
                       const char *label) {
    if (!usable(v, y->log)) return;
    double py = axis_px(y, v);
    sb_printf(
        sb,
        "<line class=\"threshold\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c00\" "
        "stroke-dasharray=\"5 3\"/>\n",
        x0, py, x1, py);
    if (label) text_at(sb, x1 - 2, py - 3, "end", " fill=\"#c00\"", label);
}

/* Legend entries down the right margin: a short line (lines) or a square (bars). */
static void draw_legend(StrBuf *sb, const char *const *names, int n, double x, double y,
                        int squares) {
    for (int i = 0; i < n; i++) {
        const char *c = palette[i % N_PALETTE];
        double yy = y + i * 16;
        if (squares)
            sb_printf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>\n",
                      x, yy - 9, c);
        else
            sb_printf(sb,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                      "stroke-width=\"2.5\"/>\n",
                      x, yy - 4, x + 12, yy - 4, c);
        text_at(sb, x + 16, yy, "start", NULL, names[i] ? names[i] : "");
    }
}

static void no_data(StrBuf *sb, int w, int h) {
    text_at(sb, w / 2.0, h / 2.0, "middle", " fill=\"#888\"", "no finite values to plot");
}

/* ---- line chart ---- */

void svg_line_chart(StrBuf *sb, const SvgSeries *s, int ns, const SvgLineOpts *o) {
    int legend = ns > 1;
    int W = o->f.width ? o->f.width : 520, H = o->f.height ? o->f.height : 300;
    double L = 62, R = W - (legend ? 130 : 16), T = 26, B = H - 42;
    figure_open(sb, &o->f, W, H);
    double xlo, xhi, ylo, yhi;
    if (!data_range(s, ns, 0, o->log_y, &xlo, &xhi) ||
        !data_range(s, ns, 1, o->log_y, &ylo, &yhi)) {
        no_data(sb, W, H);
        figure_close(sb, &o->f);
        return;
    }
    if (o->has_hline && usable(o->hline, o->log_y))
        ylo = fmin(ylo, o->hline), yhi = fmax(yhi, o->hline);
    Axis ax, ay;
    axis_fit(&ax, xlo, xhi, 0, L, R);
    axis_fit(&ay, ylo, yhi, o->log_y, B, T);
    draw_y_axis(sb, &ay, L, R, o->f.ylabel);
    draw_x_axis(sb, &ax, B, o->f.xlabel);
    for (int i = 0; i < ns; i++) {
        int started = 0, pen_up = 1;
        for (int j = 0; j < s[i].n; j++) {
            double x = s[i].x[j], y = s[i].y[j];
            if (!usable(x, 0) || !usable(y, o->log_y)) {
                pen_up = 1; /* a gap: the line breaks here */
                continue;
            }
            if (!started) {
                sb_printf(sb,
                          "<path class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
                          "stroke-linecap=\"round\" stroke-linejoin=\"round\" d=\"",
                          palette[i % N_PALETTE]);
                started = 1;
            }
            sb_printf(sb, "%s%.1f %.1f", pen_up ? "M" : "L", axis_px(&ax, x), axis_px(&ay, y));
            if (pen_up && (j + 1 >= s[i].n || !usable(s[i].y[j + 1], o->log_y)))
                sb_puts(sb, "h0.01");
            pen_up = 0;
        }
        if (started) {
            sb_puts(sb, "\"><title>");
            sb_escape(sb, s[i].name ? s[i].name : "");
            sb_puts(sb, "</title></path>\n");
        }
    }
    if (o->has_hline) draw_hline(sb, &ay, L, R, o->hline, o->hline_label);
    if (legend) {
        const char *names[64];
        int n = ns < 64 ? ns : 64;
        for (int i = 0; i < n; i++) names[i] = s[i].name;
        draw_legend(sb, names, n, R + 12, T + 10, 0);
    }
    figure_close(sb, &o->f);
}

/* ---- grouped bar chart ---- */

void svg_bar_chart(StrBuf *sb, const char *const *groups, int ng, const char *const *names, int ns,
                   const double *v, const SvgBarOpts *o) {
    int legend = ns > 1;
    int W = o->f.width ? o->f.width : 520, H = o->f.height ? o->f.height : 300;
    double L = 62, R = W - (legend ? 130 : 16), T = 26, B = H - 48;
    figure_open(sb, &o->f, W, H);
    double lo = 0, hi = -INFINITY;
    for (int i = 0; i < ns * ng; i++) {
        if (!isfinite(v[i])) continue;
        double e = o->err && isfinite(o->err[i]) ? fabs(o->err[i]) : 0;
        lo = fmin(lo, v[i] - e), hi = fmax(hi, v[i] + e);
        if (o->ci_lo && o->ci_hi && isfinite(o->ci_lo[i]) && isfinite(o->ci_hi[i]))
            lo = fmin(lo, o->ci_lo[i]), hi = fmax(hi, o->ci_hi[i]);
    }
    if (!(hi > -INFINITY) || ng <= 0) {
        no_data(sb, W, H);
        figure_close(sb, &o->f);
        return;
    }
    if (o->has_hline && isfinite(o->hline)) lo = fmin(lo, o->hline), hi = fmax(hi, o->hline);
    Axis ay;
    axis_fit(&ay, lo, hi, 0, B, T);
    if (lo >= 0) ay.lo = 0; /* bars grow from zero */
    draw_y_axis(sb, &ay, L, R, o->f.ylabel);
    sb_printf(sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", L, B,
              R, B);
    double gw = (R - L) / ng, bw = gw * 0.8 / ns, zero = axis_px(&ay, 0);
    for (int g = 0; g < ng; g++) {
        double gx = L + g * gw + gw * 0.1;
        for (int s = 0; s < ns; s++) {
            double x = v[s * ng + g];
            if (!isfinite(x)) continue;
            double py = axis_px(&ay, x), top = fmin(py, zero), hgt = fabs(py - zero);
            sb_printf(sb,
                      "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                      "fill=\"%s\"><title>",
                      gx + s * bw, top, bw * 0.92, hgt, palette[s % N_PALETTE]);
            sb_escape(sb, groups[g] ? groups[g] : "");
            if (ns > 1) {
                sb_puts(sb, " / ");
                sb_escape(sb, names[s] ? names[s] : "");
            }
            sb_printf(sb, ": %.4g", x);
            if (o->err && isfinite(o->err[s * ng + g]))
                sb_printf(sb, " ± %.3g", o->err[s * ng + g]);
            int i = s * ng + g,
                has_ci = o->ci_lo && o->ci_hi && isfinite(o->ci_lo[i]) && isfinite(o->ci_hi[i]);
            if (has_ci) sb_printf(sb, " [%.3g, %.3g]", o->ci_lo[i], o->ci_hi[i]);
            sb_puts(sb, "</title></rect>\n");
            if (has_ci) {
                double cx = gx + s * bw + bw * 0.46;
                sb_printf(sb,
                          "<line class=\"ci\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                          "stroke=\"#222\"/>\n",
                          cx, axis_px(&ay, o->ci_lo[i]), cx, axis_px(&ay, o->ci_hi[i]));
            } else if (o->err && isfinite(o->err[s * ng + g]) && o->err[s * ng + g] > 0) {
                double e = fabs(o->err[s * ng + g]), cx = gx + s * bw + bw * 0.46;
                sb_printf(
                    sb, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\"/>\n",
                    cx, axis_px(&ay, x - e), cx, axis_px(&ay, x + e));
            }
        }
        char extra[80];
        double lx = L + (g + 0.5) * gw;
        if (ng > 8)
            snprintf(extra, sizeof extra, " transform=\"rotate(-35 %.1f %.1f)\"", lx, B + 14);
        text_at(sb, lx, B + 14, ng > 8 ? "end" : "middle", ng > 8 ? extra : NULL,
                groups[g] ? groups[g] : "");
    }
    if (o->f.xlabel) text_at(sb, (L + R) / 2, H - 4, "middle", NULL, o->f.xlabel);
    if (o->has_hline) draw_hline(sb, &ay, L, R, o->hline, o->hline_label);
    if (legend) draw_legend(sb, names, ns, R + 12, T + 10, 1);
    figure_close(sb, &o->f);
}

/* ---- heatmap ---- */

void svg_viridis(double v, char *buf) {
    static const unsigned char stops[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                              {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                              {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    if (!isfinite(v)) v = 0;
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    double p = v * 8;
    int i = (int)p < 8 ? (int)p : 7;
    double t = p - i;
    int c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (int)lround(stops[i][k] + t * (stops[i + 1][k] - stops[i][k]));
    snprintf(buf, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

static void diverging_colour(double v, char *buf) { /* v in [-1, 1]: blue, white, red */
    if (!isfinite(v)) v = 0;
    v = v < -1 ? -1 : v > 1 ? 1 : v;
    int r, g, b;
    if (v < 0)
        r = (int)lround(255 + v * (255 - 33)), g = (int)lround(255 + v * (255 - 102)),
        b = (int)lround(255 + v * (255 - 172));
    else
        r = (int)lround(255 - v * (255 - 178)), g = (int)lround(255 - v * 255),
        b = (int)lround(255 - v * (255 - 43));
    snprintf(buf, 8, "#%02x%02x%02x", r, g, b);
}

static void heat_colour(const SvgHeatOpts *o, double v, double lo, double hi, char *buf) {
    if (o->diverging) {
        double m = fmax(fabs(lo), fabs(hi));
        diverging_colour(m > 0 ? v / m : 0, buf);
    } else
        svg_viridis(hi > lo ? (v - lo) / (hi - lo) : 0.5, buf);
}

void svg_heatmap(StrBuf *sb, const double *m, int rows, int cols, const char *const *rl,
                 const char *const *cl, const SvgHeatOpts *o) {
    int W = o->f.width ? o->f.width : 560;
    /* room for the longest row label (about 6.5 px a character at the 11 px font) */
    size_t longest = 0;
    for (int r = 0; rl && r < rows; r++)
        if (rl[r] && strlen(rl[r]) > longest) longest = strlen(rl[r]);
    double L = rl ? fmin(220, fmax(86, 6.5 * (double)longest + 14)) : 40, T = 28, legend_w = 70;
    double cell = o->cell > 0 ? o->cell : fmin(32, (W - L - legend_w - 10) / (cols > 0 ? cols : 1));
    double ch = fmin(cell, fmax(3, 420.0 / (rows > 0 ? rows : 1)));
    if (o->cell > 0) ch = cell;
    double gw = cell * cols, gh = ch * rows;
    int H = (int)(T + gh + (cl ? 44 : 16) + (o->f.xlabel ? 16 : 0));
    if (H < 150) H = 150;
    if (o->cell > 0) W = (int)(L + gw + legend_w + 16);
    if (o->f.title && W < 7.5 * strlen(o->f.title) + 24) W = (int)(7.5 * strlen(o->f.title) + 24);
    figure_open(sb, &o->f, W, H);
    double lo = o->vmin, hi = o->vmax, dlo = INFINITY, dhi = -INFINITY;
    for (long i = 0; i < (long)rows * cols; i++)
        if (isfinite(m[i])) dlo = fmin(dlo, m[i]), dhi = fmax(dhi, m[i]);
    if (!isfinite(lo)) lo = dlo <= dhi ? dlo : 0;
    if (!isfinite(hi)) hi = dlo <= dhi ? dhi : 1;
    char col[8];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double v = m[(long)r * cols + c];
            if (isfinite(v))
                heat_colour(o, v, lo, hi, col);
            else
                strcpy(col, "#cccccc");
            sb_printf(
                sb,
                "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>",
                L + c * cell, T + r * ch, cell, ch, col);
            sb_escape(sb, rl && rl[r] ? rl[r] : "");
            sb_puts(sb, rl ? " × " : "");
            sb_escape(sb, cl && cl[c] ? cl[c] : "");
            if (isfinite(v))
                sb_printf(sb, ": %.4g</title></rect>\n", v);
            else
                sb_puts(sb, ": NaN</title></rect>\n");
        }
    int every_r = ch >= 10 ? 1 : (int)ceil(10 / ch),
        every_c = cell >= 12 ? 1 : (int)ceil(12 / cell);
    for (int r = 0; rl && r < rows; r += every_r)
        text_at(sb, L - 4, T + (r + 0.5) * ch + 4, "end", NULL, rl[r] ? rl[r] : "");
    for (int c = 0; cl && c < cols; c += every_c) {
        char rot[80];
        double x = L + (c + 0.5) * cell, y = T + gh + 12;
        snprintf(rot, sizeof rot, " transform=\"rotate(-45 %.1f %.1f)\"", x, y);
        text_at(sb, x, y, "end", rot, cl[c] ? cl[c] : "");
    }
    if (o->f.xlabel) text_at(sb, L + gw / 2, H - 4, "middle", NULL, o->f.xlabel);
    if (o->f.ylabel) {
        char rot[64];
        snprintf(rot, sizeof rot, " transform=\"rotate(-90 10 %.1f)\"", T + gh / 2);
        text_at(sb, 10, T + gh / 2, "middle", rot, o->f.ylabel);
    }
    /* colour scale: one gradient bar with its ends labelled */
    static int grad_id;
    int id = ++grad_id;
    double lx = L + gw + 16, lh = fmin(gh, 160);
    sb_printf(sb, "<defs><linearGradient id=\"hg%d\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">", id);
    for (int i = 0; i <= 8; i++) {
        heat_colour(o, lo + (hi - lo) * i / 8.0, lo, hi, col);
        sb_printf(sb, "<stop offset=\"%.3f\" stop-color=\"%s\"/>", i / 8.0, col);
    }
    sb_printf(sb,
              "</linearGradient></defs>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"%.1f\" "
              "fill=\"url(#hg%d)\"/>\n",
              lx, T, lh, id);
    char buf[32];
    snprintf(buf, sizeof buf, "%.3g", hi);
    text_at(sb, lx + 16, T + 8, "start", NULL, buf);
    snprintf(buf, sizeof buf, "%.3g", lo);
    text_at(sb, lx + 16, T + lh, "start", NULL, buf);
    figure_close(sb, &o->f);
}

/* ---- image grid ---- */

int svg_image_grid(StrBuf *sb, const uint8_t *px, int n, int h, int w, int ch,
                   const SvgImageGridOpts *o) {
    int cols = o->cols > 0 ? o->cols : 8, rows = (n + cols - 1) / cols;
    int cell = o->cell > 0 ? o->cell : 48, lab = o->labels ? 14 : 0, pad = 4;
    double L = o->row_labels ? 90 : 8, T = 26;
    int W = (int)(L + cols * (cell + pad) + 8), H = (int)(T + rows * (cell + lab + pad) + 8);
    StrBuf body;
    sb_init(&body);
    for (int i = 0; i < n; i++) {
        unsigned char *png;
        size_t len;
        if (png_encode(px + (size_t)i * h * w * ch, w, h, ch, &png, &len)) {
            sb_free(&body);
            return -1;
        }
        double x = L + (i % cols) * (cell + pad), y = T + (i / cols) * (cell + lab + pad);
        sb_printf(&body,
                  "<image x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" "
                  "style=\"image-rendering:pixelated\" href=\"data:image/png;base64,",
                  x, y, cell, cell);
        sb_base64(&body, png, len);
        free(png);
        sb_puts(&body, "\"/>\n");
        if (o->labels && o->labels[i])
            text_at(&body, x + cell / 2.0, y + cell + 11, "middle", " font-size=\"9\"",
                    o->labels[i]);
    }
    for (int r = 0; o->row_labels && r < rows; r++)
        text_at(&body, L - 6, T + r * (cell + lab + pad) + cell / 2.0 + 4, "end", NULL,
                o->row_labels[r] ? o->row_labels[r] : "");
    figure_open(sb, &o->f, W, H);
    sb_putn(sb, body.buf ? body.buf : "", body.len);
    sb_free(&body);
    figure_close(sb, &o->f);
    return 0;
}
