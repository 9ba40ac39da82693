/* SVG figure primitives on constructed data: well-formed markup, the expected number of marks,
 * NaN handling, PNG/base64 encoding round trips. */
#include "report/png_encode.h"
#include "report/strbuf.h"
#include "report/svg.h"
#include "test.h"
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

/* Checks that every element opened is closed in order (a small XML well-formedness check that
 * knows self-closing tags and ignores text). Returns 1 when balanced. */
static int xml_balanced(const char *s) {
    char stack[256][32];
    int depth = 0;
    for (const char *p = strchr(s, '<'); p; p = strchr(p + 1, '<')) {
        const char *end = strchr(p, '>');
        if (!end) return 0;
        for (const char *q = p + 1; q < end; q++)
            if (*q == '<') return 0; /* an unescaped '<' inside a tag */
        int closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t n = strcspn(name, " \t\n/>");
        if (n == 0 || n >= 32) return 0;
        if (end[-1] == '/') continue; /* <x .../> */
        if (closing) {
            if (depth == 0 || strncmp(stack[depth - 1], name, n) || stack[depth - 1][n]) return 0;
            depth--;
        } else {
            if (depth == 256) return 0;
            memcpy(stack[depth], name, n);
            stack[depth++][n] = 0;
        }
    }
    return depth == 0;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

TEST(report_xml_checker_catches_breakage) {
    CHECK(xml_balanced("<a><b x=\"1\"/><c>t</c></a>"));
    CHECK(!xml_balanced("<a><b></a></b>"));
    CHECK(!xml_balanced("<a><b></b>"));
    CHECK(!xml_balanced("<a x=\"<\"></a>"));
}

TEST(report_strbuf_escape_and_base64) {
    StrBuf sb;
    sb_init(&sb);
    sb_escape(&sb, "a<b>&\"c'");
    CHECK(!strcmp(sb.buf, "a&lt;b&gt;&amp;&quot;c&#39;"));
    sb_free(&sb);
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        sb_init(&sb);
        sb_puts(&sb, "");
        sb_base64(&sb, (const unsigned char *)in[i], strlen(in[i]));
        CHECK_MSG(!strcmp(sb.buf, out[i]), "base64(%s) = %s, want %s", in[i], sb.buf, out[i]);
        sb_free(&sb);
    }
    sb_init(&sb);
    for (int i = 0; i < 2000; i++) sb_printf(&sb, "%d,", i);
    CHECK(sb.len == strlen(sb.buf));
    CHECK(!strncmp(sb.buf + sb.len - 5, "1999,", 5));
    sb_free(&sb);
}

TEST(report_svg_line_chart_series_nan_and_log) {
    double x[6] = {0, 1, 2, 3, 4, 5}, a[6] = {5, 4, 3, 2.5, 2, 1.8}, b[6] = {6, NAN, 4, 3, NAN, 2};
    double c[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    SvgSeries s[3] = {{"train", x, a, 6}, {"val <ppl>", x, b, 6}, {"empty", x, c, 6}};
    SvgLineOpts o = {.f = {.title = "Loss",
                           .caption = "loss per step",
                           .source = "metrics.jsonl",
                           .xlabel = "step",
                           .ylabel = "nats"},
                     .has_hline = 1,
                     .hline = 2.2,
                     .hline_label = "target"};
    StrBuf sb;
    sb_init(&sb);
    svg_line_chart(&sb, s, 3, &o);
    CHECK(xml_balanced(sb.buf));
    CHECK_MSG(count(sb.buf, "<path class=\"series\"") == 2, "one path per series with data");
    CHECK(count(sb.buf, "class=\"threshold\"") == 1);
    CHECK(strstr(sb.buf, "val &lt;ppl&gt;") != NULL); /* names escaped */
    CHECK(strstr(sb.buf, "Numbers: <code>metrics.jsonl</code>") != NULL);
    CHECK(!strstr(sb.buf, "nan") && !strstr(sb.buf, "inf"));
    /* series b breaks at the NaNs: three pen-down moves (M) */
    const char *pb = strstr(strstr(sb.buf, "<path class=\"series\"") + 1, "<path class=\"series\"");
    const char *d = strstr(pb, " d=\"") + 4;
    int moves = 0;
    for (const char *q = d; *q != '"'; q++) moves += *q == 'M';
    CHECK(moves == 3);
    sb_free(&sb);
    /* log-y skips values <= 0 and still draws the rest */
    double y[4] = {100, 0, -1, 1}, xx[4] = {1, 2, 3, 4};
    SvgSeries one = {"ppl", xx, y, 4};
    SvgLineOpts lo = {.f = {.title = "ppl"}, .log_y = 1};
    sb_init(&sb);
    svg_line_chart(&sb, &one, 1, &lo);
    CHECK(xml_balanced(sb.buf));
    CHECK(count(sb.buf, "<path class=\"series\"") == 1);
    CHECK(strstr(sb.buf, ">100<") != NULL && strstr(sb.buf, ">10<") != NULL); /* decade ticks */
    CHECK(!strstr(sb.buf, "nan"));
    sb_free(&sb);
    /* nothing finite: a message, still valid markup */
    SvgSeries none = {"x", x, c, 6};
    sb_init(&sb);
    svg_line_chart(&sb, &none, 1, &lo);
    CHECK(xml_balanced(sb.buf));
    CHECK(strstr(sb.buf, "no finite values") != NULL);
    CHECK(count(sb.buf, "<path") == 0);
    sb_free(&sb);
}

TEST(report_svg_bar_chart_counts_bars_and_threshold) {
    const char *groups[3] = {"en", "fr", "code"}, *names[2] = {"learned", "hash"};
    double v[6] = {1, 2, 3, 4, NAN, -1}, err[6] = {0.1, 0.1, 0.1, 0.2, 0.2, 0.2};
    SvgBarOpts o = {.f = {.title = "ppl", .caption = "c", .source = "s.csv"},
                    .err = err,
                    .has_hline = 1,
                    .hline = 2.5,
                    .hline_label = "chance"};
    StrBuf sb;
    sb_init(&sb);
    svg_bar_chart(&sb, groups, 3, names, 2, v, &o);
    CHECK(xml_balanced(sb.buf));
    CHECK_MSG(count(sb.buf, "<rect class=\"bar\"") == 5, "NaN bar left out");
    CHECK(count(sb.buf, "<rect") == 5 + 2); /* + legend swatches */
    CHECK(count(sb.buf, "class=\"threshold\"") == 1);
    CHECK(strstr(sb.buf, "code / hash: -1") != NULL);
    sb_free(&sb);
}

TEST(report_svg_bar_chart_asymmetric_intervals) {
    const char *groups[2] = {"model", "expert0"};
    double v[2] = {0, 0.5}, lo[2] = {0, 0.3}, hi[2] = {0.9, NAN};
    SvgBarOpts o = {.f = {.title = "acc"}, .ci_lo = lo, .ci_hi = hi};
    StrBuf sb;
    sb_init(&sb);
    svg_bar_chart(&sb, groups, 2, (const char *[]){"accuracy"}, 1, v, &o);
    CHECK(xml_balanced(sb.buf));
    CHECK_MSG(count(sb.buf, "class=\"ci\"") == 1, "an interval with a NaN bound is left out");
    CHECK(strstr(sb.buf, "model: 0 [0, 0.9]") != NULL);
    CHECK(strstr(sb.buf, ">0.8<") != NULL); /* the axis reaches the interval's top, not the bar's */
    sb_free(&sb);
}

TEST(report_svg_heatmap_cells_nan_and_legend) {
    double m[6] = {0, 0.5, 1, NAN, 0.25, 0.75};
    const char *rl[2] = {"layer 0", "layer 1"}, *cl[3] = {"e0", "e1", "e2"};
    SvgHeatOpts o = {.f = {.title = "routing", .caption = "c", .source = "routing.npy"},
                     .vmin = NAN,
                     .vmax = NAN};
    StrBuf sb;
    sb_init(&sb);
    svg_heatmap(&sb, m, 2, 3, rl, cl, &o);
    CHECK(xml_balanced(sb.buf));
    CHECK(count(sb.buf, "<rect") == 6 + 1); /* cells + colour scale */
    CHECK(strstr(sb.buf, "layer 1 × e0: NaN") != NULL);
    CHECK(strstr(sb.buf, "fill=\"#cccccc\"") != NULL);
    CHECK(strstr(sb.buf, "layer 0 × e2: 1</title>") != NULL);
    char c0[8], c1[8];
    svg_viridis(0, c0);
    svg_viridis(1, c1);
    CHECK(!strcmp(c0, "#440154") && !strcmp(c1, "#fde725"));
    CHECK(strstr(sb.buf, c0) && strstr(sb.buf, c1));
    sb_free(&sb);
    /* diverging: 0 is white */
    double d[2] = {-1, 1};
    SvgHeatOpts od = {.f = {.title = "cos"}, .vmin = NAN, .vmax = NAN, .diverging = 1};
    sb_init(&sb);
    svg_heatmap(&sb, d, 1, 2, NULL, NULL, &od);
    CHECK(xml_balanced(sb.buf));
    CHECK(strstr(sb.buf, "stop-color=\"#ffffff\"") != NULL);
    sb_free(&sb);
}

TEST(report_png_encode_round_trip_and_image_grid) {
    int w = 5, h = 3;
    uint8_t px[5 * 3 * 4];
    for (int i = 0; i < w * h * 4; i++) px[i] = (uint8_t)(i * 7);
    unsigned char *png;
    size_t n;
    CHECK(png_encode(px, w, h, 4, &png, &n) == 0);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    CHECK(png_image_begin_read_from_memory(&img, png, n));
    CHECK(img.width == 5 && img.height == 3);
    img.format = PNG_FORMAT_RGBA;
    uint8_t back[5 * 3 * 4];
    CHECK(png_image_finish_read(&img, NULL, back, 0, NULL));
    CHECK(!memcmp(back, px, sizeof px));
    free(png);
    CHECK(png_encode(px, w, h, 2, &png, &n) == -1);
    /* a grid of 3 grey images, 2 per row */
    uint8_t g[3 * 4 * 4];
    for (int i = 0; i < 48; i++) g[i] = (uint8_t)(i * 5);
    const char *labels[3] = {"a", "b", "c&d"}, *rows[2] = {"expert 0", "expert 1"};
    SvgImageGridOpts o = {.f = {.title = "MEI", .caption = "c", .source = "mei.npy"},
                          .cols = 2,
                          .labels = labels,
                          .row_labels = rows};
    StrBuf sb;
    sb_init(&sb);
    CHECK(svg_image_grid(&sb, g, 3, 4, 4, 1, &o) == 0);
    CHECK(xml_balanced(sb.buf));
    CHECK(count(sb.buf, "<image ") == 3);
    CHECK(count(sb.buf, "href=\"data:image/png;base64,iVBORw0KGgo") == 3);
    CHECK(strstr(sb.buf, "c&amp;d") != NULL);
    sb_free(&sb);
}
