#include "data/augment.h"
#include "core/rng.h"
#include <math.h>
#include <string.h>

void augment_default(AugmentConfig *c) {
    *c = (AugmentConfig){.scale_min = 0.2f,
                         .scale_max = 1.0f,
                         .ratio_min = 3.0f / 4,
                         .ratio_max = 4.0f / 3,
                         .flip_p = 0.5f,
                         .jitter_p = 0.8f,
                         .brightness = 0.4f,
                         .contrast = 0.4f,
                         .saturation = 0.4f,
                         .hue = 0.1f,
                         .grey_p = 0.2f,
                         .blur_p = 0.0f,
                         .blur_sigma_min = 0.1f,
                         .blur_sigma_max = 2.0f};
}

static uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t augment_view_seed(uint64_t seed, uint64_t step, uint64_t image, int view) {
    return mix(mix(mix(seed) ^ step) ^ (image * 2 + (uint64_t)view));
}

static float clamp01(float x) {
    return x < 0 ? 0 : x > 1 ? 1 : x;
}
static float uniform(Rng *r, float lo, float hi) {
    return lo + (hi - lo) * rng_uniform(r);
}

/* torchvision's RandomResizedCrop sampling: 10 tries, then the whole image. */
static void sample_crop(Rng *r, const AugmentConfig *c, int S, float *x0, float *y0, float *w,
                        float *h) {
    for (int t = 0; t < 10; t++) {
        float area = S * S * uniform(r, c->scale_min, c->scale_max);
        float ratio = expf(uniform(r, logf(c->ratio_min), logf(c->ratio_max)));
        float cw = sqrtf(area * ratio), ch = sqrtf(area / ratio);
        if (cw <= S && ch <= S && cw >= 1 && ch >= 1) {
            *x0 = uniform(r, 0, S - cw), *y0 = uniform(r, 0, S - ch), *w = cw, *h = ch;
            return;
        }
    }
    *x0 = 0, *y0 = 0, *w = (float)S, *h = (float)S;
}

static float bilinear(const float *p, int S, float x, float y) {
    x = fminf(fmaxf(x, 0), S - 1), y = fminf(fmaxf(y, 0), S - 1);
    int x0 = (int)x, y0 = (int)y, x1 = x0 + 1 < S ? x0 + 1 : x0, y1 = y0 + 1 < S ? y0 + 1 : y0;
    float fx = x - x0, fy = y - y0;
    return (1 - fy) * ((1 - fx) * p[y0 * S + x0] + fx * p[y0 * S + x1]) +
           fy * ((1 - fx) * p[y1 * S + x0] + fx * p[y1 * S + x1]);
}

static float luma(const float *img, int C, int SS, int i) {
    if (C == 1) return img[i];
    return 0.299f * img[i] + 0.587f * img[SS + i] + 0.114f * img[2 * SS + i];
}

static void colour_jitter(float *img, int C, int S, const AugmentConfig *c, Rng *r) {
    int SS = S * S;
    float fb = uniform(r, 1 - c->brightness, 1 + c->brightness);
    float fc = uniform(r, 1 - c->contrast, 1 + c->contrast);
    float fs = uniform(r, 1 - c->saturation, 1 + c->saturation);
    float fh = uniform(r, -c->hue, c->hue);
    for (int i = 0; i < C * SS; i++) img[i] = clamp01(img[i] * fb);
    double m = 0;
    for (int i = 0; i < SS; i++) m += luma(img, C, SS, i);
    float mean = (float)(m / SS);
    for (int i = 0; i < C * SS; i++) img[i] = clamp01((img[i] - mean) * fc + mean);
    if (C != 3) return;
    for (int i = 0; i < SS; i++) {
        float g = luma(img, C, SS, i);
        for (int ch = 0; ch < 3; ch++) img[ch * SS + i] = clamp01((img[ch * SS + i] - g) * fs + g);
    }
    if (c->hue <= 0) return;
    /* hue: rotate colours about the grey axis (1,1,1)/√3 by fh turns (Rodrigues) */
    float th = fh * 6.2831853f, cs = cosf(th), sn = sinf(th) / sqrtf(3.0f), t = (1 - cs) / 3;
    float a = cs + t, b = t - sn, d = t + sn; /* rows of the rotation: (a b d), (d a b), (b d a) */
    for (int i = 0; i < SS; i++) {
        float R = img[i], G = img[SS + i], B = img[2 * SS + i];
        img[i] = clamp01(a * R + b * G + d * B);
        img[SS + i] = clamp01(d * R + a * G + b * B);
        img[2 * SS + i] = clamp01(b * R + d * G + a * B);
    }
}

/* One pass of the separable blur: dst[y, x] = Σ_i k[i + rad] · src at (y, x + i), or at (y + i, x)
 * when vertical, the offset clamped to the image's edge. */
static void blur_pass(float *dst, const float *src, int S, const float *k, int rad, int vertical) {
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            float a = 0;
            for (int i = -rad; i <= rad; i++) {
                int at = (vertical ? y : x) + i;
                at = at < 0 ? 0 : at >= S ? S - 1 : at;
                a += k[i + rad] * src[vertical ? at * S + x : y * S + at];
            }
            dst[y * S + x] = a;
        }
}

/* Separable Gaussian blur, radius ⌈3σ⌉ (≤ 7), edges clamped. */
static void blur(float *img, int C, int S, float sigma) {
    float k[15], tmp[256 * 256];
    int rad = (int)ceilf(3 * sigma);
    if (rad > 7) rad = 7;
    if (S > 256 || rad < 1) return;
    float sum = 0;
    for (int i = -rad; i <= rad; i++) sum += k[i + rad] = expf(-0.5f * i * i / (sigma * sigma));
    for (int i = 0; i < 2 * rad + 1; i++) k[i] /= sum;
    for (int ch = 0; ch < C; ch++) {
        float *p = img + ch * S * S;
        blur_pass(tmp, p, S, k, rad, 0);
        blur_pass(p, tmp, S, k, rad, 1);
    }
}

void augment_image(float *out, const float *img, int C, int S, const AugmentConfig *c,
                   uint64_t view_seed) {
    Rng r;
    rng_seed(&r, view_seed);
    float x0, y0, w, h;
    sample_crop(&r, c, S, &x0, &y0, &w, &h);
    int flip = rng_uniform(&r) < c->flip_p;
    int SS = S * S;
    for (int ch = 0; ch < C; ch++)
        for (int oy = 0; oy < S; oy++)
            for (int ox = 0; ox < S; ox++) {
                int sx = flip ? S - 1 - ox : ox;
                /* pixel centres of the output map onto the crop box */
                float fx = x0 + (sx + 0.5f) * w / S - 0.5f, fy = y0 + (oy + 0.5f) * h / S - 0.5f;
                out[ch * SS + oy * S + ox] = bilinear(img + ch * SS, S, fx, fy);
            }
    if (rng_uniform(&r) < c->jitter_p) colour_jitter(out, C, S, c, &r);
    if (C == 3 && rng_uniform(&r) < c->grey_p)
        for (int i = 0; i < SS; i++) out[i] = out[SS + i] = out[2 * SS + i] = luma(out, C, SS, i);
    if (c->blur_p > 0 && rng_uniform(&r) < c->blur_p)
        blur(out, C, S, uniform(&r, c->blur_sigma_min, c->blur_sigma_max));
}

void augment_pairs(float *out, const float *images, const int32_t *index, const int32_t *partner,
                   int n, int C, int S, const AugmentConfig *cfg, uint64_t seed, uint64_t step) {
    long img = (long)C * S * S;
#pragma omp parallel for schedule(static)
    for (int v = 0; v < 2 * n; v++) {
        int k = v / 2, src = (v & 1) && partner ? partner[k] : index[k];
        augment_image(out + v * img, images + (long)src * img, C, S, cfg,
                      augment_view_seed(seed, step, (uint64_t)index[k], v & 1));
    }
}
