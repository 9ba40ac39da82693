#include "report/png_encode.h"
#include "core/error.h"
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    int oom;
} MemSink;

static void sink_write(png_structp png, png_bytep data, png_size_t n) {
    MemSink *s = png_get_io_ptr(png);
    if (s->oom) return;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < s->len + n) cap *= 2;
        unsigned char *p = realloc(s->buf, cap);
        if (!p) {
            s->oom = 1;
            return;
        }
        s->buf = p, s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}
static void sink_flush(png_structp png) {
    (void)png;
}

int png_encode(const uint8_t *pixels, int w, int h, int channels, unsigned char **out, size_t *n) {
    *out = NULL, *n = 0;
    if (w <= 0 || h <= 0 || w > 1 << 15 || h > 1 << 15)
        return ml_error("png_encode: image size %dx%d out of range", w, h);
    int type = channels == 1   ? PNG_COLOR_TYPE_GRAY
               : channels == 3 ? PNG_COLOR_TYPE_RGB
               : channels == 4 ? PNG_COLOR_TYPE_RGBA
                               : -1;
    if (type < 0) return ml_error("png_encode: expected 1, 3 or 4 channels, got %d", channels);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    MemSink sink = {0};
    png_bytep *rows = calloc((size_t)h, sizeof *rows);
    if (!png || !info || !rows) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        free(rows);
        return ml_error("png_encode: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        free(sink.buf);
        return ml_error("png_encode: libpng failed on a %dx%d image", w, h);
    }
    png_set_write_fn(png, &sink, sink_write, sink_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)pixels + (size_t)y * w * channels;
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    if (sink.oom) {
        free(sink.buf);
        return ml_error("png_encode: out of memory");
    }
    *out = sink.buf, *n = sink.len;
    return 0;
}
