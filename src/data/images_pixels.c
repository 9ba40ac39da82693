/* Pixel-level helpers: PNG decode/encode through libpng, alpha compositing, area resize. */
#include "data/images.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <png.h>
#include <sys/stat.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

void image_composite_rgba(const uint8_t *rgba, int w, int h, const float bg[3], float *out_chw) {
    long plane = (long)w * h;
    for (long p = 0; p < plane; p++) {
        float a = rgba[4 * p + 3] / 255.0f;
        for (int c = 0; c < 3; c++)
            out_chw[c * plane + p] = a * (rgba[4 * p + c] / 255.0f) + (1.0f - a) * bg[c];
    }
}

/* Weight of source cell [i, i+1) inside destination cell [lo, hi) (in source coordinates). */
static float overlap(int i, double lo, double hi) {
    double a = i > lo ? i : lo, b = i + 1 < hi ? i + 1 : hi;
    return b > a ? (float)(b - a) : 0.0f;
}

/* Each destination pixel is the mean of the source area it covers, with fractional source pixels
 * weighted by their covered fraction. Separable: rows first, then columns. */
void image_resize_area(const float *in, int channels, int w, int h, float *out, int ow, int oh) {
    float *tmp = ml_alloc_floats((size_t)channels * h * ow);
    double sx = (double)w / ow, sy = (double)h / oh;
    for (int c = 0; c < channels; c++) {
        const float *src = in + (size_t)c * w * h;
        float *t = tmp + (size_t)c * h * ow;
        for (int x = 0; x < ow; x++) {
            double lo = x * sx, hi = (x + 1) * sx;
            if (sx < 1) { /* upsampling: one-source-pixel-wide window centred on the target */
                double centre = (x + 0.5) * sx;
                lo = centre - 0.5, hi = centre + 0.5;
                if (lo < 0) lo = 0, hi = 1;
                if (hi > w) hi = w, lo = w - 1;
            }
            int i0 = (int)lo, i1 = (int)hi + 1 < w ? (int)hi + 1 : w;
            for (int y = 0; y < h; y++) {
                float s = 0, ws = 0;
                for (int i = i0; i < i1; i++) {
                    float wt = overlap(i, lo, hi);
                    s += wt * src[(size_t)y * w + i], ws += wt;
                }
                t[(size_t)y * ow + x] = s / ws;
            }
        }
        float *dst = out + (size_t)c * ow * oh;
        for (int y = 0; y < oh; y++) {
            double lo = y * sy, hi = (y + 1) * sy;
            if (sy < 1) {
                double centre = (y + 0.5) * sy;
                lo = centre - 0.5, hi = centre + 0.5;
                if (lo < 0) lo = 0, hi = 1;
                if (hi > h) hi = h, lo = h - 1;
            }
            int j0 = (int)lo, j1 = (int)hi + 1 < h ? (int)hi + 1 : h;
            for (int x = 0; x < ow; x++) {
                float s = 0, ws = 0;
                for (int j = j0; j < j1; j++) {
                    float wt = overlap(j, lo, hi);
                    s += wt * t[(size_t)j * ow + x], ws += wt;
                }
                dst[(size_t)y * ow + x] = s / ws;
            }
        }
    }
    ml_free(tmp);
}

typedef struct {
    char msg[256];
} PngErr;

static void png_error_fn(png_structp png, png_const_charp msg) {
    PngErr *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(png_jmpbuf(png), 1);
}
static void png_warn_fn(png_structp png, png_const_charp msg) {}

int png_read_rgba(const char *path, uint8_t **rgba, int *w, int *h) {
    *rgba = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ml_error("%s: cannot open image", path);
    unsigned char sig[8];
    if (fread(sig, 1, 8, fp) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(fp);
        return ml_error("%s: not a PNG file (bad signature)", path);
    }
    struct stat st;
    size_t file_size = fstat(fileno(fp), &st) == 0 ? (size_t)st.st_size : 0;
    PngErr err = {""};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warn_fn);
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(fp);
        ml_free(buf), ml_free(rows);
        return ml_error("%s: corrupt or truncated PNG (%s)", path, err.msg);
    }
    png_init_io(png, fp);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    int width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384)
        png_error(png, "unreasonable image size");
    /* Deflate packs at most 1032 bytes into one; every row holds a filter byte and at least one
     * bit per pixel. A header claiming more rows than the file could hold is refused before the
     * pixel buffer is allocated. */
    if ((double)height * (1 + (width + 7) / 8) > 1032.0 * (file_size + 64))
        png_error(png, "header claims more pixels than the file can hold");
    if (depth == 16) png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (!(type & PNG_COLOR_MASK_ALPHA) && !png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_filler(png, 0xff, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 4) png_error(png, "unexpected row layout");
    buf = ml_alloc((size_t)width * height * 4);
    rows = ml_alloc(sizeof(png_bytep) * height);
    for (int y = 0; y < height; y++) rows[y] = buf + (size_t)y * width * 4;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    ml_free(rows);
    *rgba = buf, *w = width, *h = height;
    return 0;
}

int png_write_chw(const char *path, const float *chw, int channels, int w, int h) {
    if (channels != 1 && channels != 3) return ml_error("%s: PNG needs 1 or 3 channels", path);
    size_t plane = (size_t)w * h;
    uint8_t *px = ml_alloc(plane * channels);
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < channels; c++) {
            float v = chw[c * plane + p];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            px[p * channels + c] = (uint8_t)(v * 255.0f + 0.5f);
        }
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = w, img.height = h;
    img.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    png_alloc_size_t len = 0;
    int rc = -1;
    if (png_image_write_get_memory_size(img, len, 0, px, 0, NULL)) {
        void *mem = ml_alloc(len);
        if (png_image_write_to_memory(&img, mem, &len, 0, px, 0, NULL))
            rc = ml_write_file_atomic(path, mem, len);
        else
            rc = ml_error("%s: PNG encoding failed (%s)", path, img.message);
        ml_free(mem);
    } else {
        rc = ml_error("%s: PNG encoding failed (%s)", path, img.message);
    }
    ml_free(px);
    return rc;
}
