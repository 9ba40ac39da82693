/* Activation quantisation, the scalar reference kernel, the kernel choice and the switch
 * (layout: qdot.h). */
#include "nn/qdot.h"
#include "core/mem.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "nn/threads.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int qdot_group(uint32_t type) {
    switch (type) {
    case GGML_Q8_0:
    case GGML_Q4_K:
        return 32;
    case GGML_Q6_K:
        return 16;
    default:
        return 0;
    }
}

int qdot_padded(int C, int g) {
    const int span = 16 * g;
    return (C + span - 1) / span * span;
}

int qdot_zero_point(uint32_t type) {
    return type == GGML_Q8_0 ? 128 : type == GGML_Q6_K ? 32 : 0;
}

int qdot_act_block(uint32_t type) {
    return type == GGML_Q8_0 ? 32 : 256;
}

void qacts_alloc(QActs *a, long n, int C, uint32_t type) {
    const int g = qdot_group(type);
    a->g = g, a->blk = qdot_act_block(type), a->cp = qdot_padded(C, g), a->gp = a->cp / g, a->n = n;
    a->q = ml_alloc((size_t)n * a->cp);
    a->d = ml_alloc_floats((size_t)n * a->gp);
    a->sum = ml_alloc_floats((size_t)n * a->gp);
    a->zsum = ml_alloc((size_t)n * a->gp * sizeof(int32_t));
    a->zp = qdot_zero_point(type);
}

void qacts_free(QActs *a) {
    ml_free(a->q);
    ml_free(a->d);
    ml_free(a->sum);
    ml_free(a->zsum);
    memset(a, 0, sizeof *a);
}

void qdot_put_span_scalar(uint8_t *dst, const uint8_t *nat, int g) {
    const int pieces = g / 4;
    int32_t in[128], out[128];
    memcpy(in, nat, 16 * g);
    for (int c = 0; c < pieces; c++)
        for (int l = 0; l < 16; l++) out[c * 16 + l] = in[l * pieces + c];
    memcpy(dst, out, 16 * g);
}

/* ggml's nearest_int: round half to even (exact for |v| < 2^22; here |v| <= 127.5). */
static inline int nearest(float v) {
    const float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

float qdot_quantise_block(int8_t *q, const float *x, int n, int blk) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        const float a = fabsf(x[i]);
        if (a > amax) amax = a, max = x[i];
    }
    memset(q, 0, blk);
    if (blk == 32) { /* q8_0: scale amax/127 rounded to f16, values x·127/amax */
        const float id = amax != 0 ? 127.0f / amax : 0.0f;
        for (int i = 0; i < n; i++) q[i] = (int8_t)nearest(x[i] * id);
        return gguf_f16_to_f32(gguf_f32_to_f16(amax / 127.0f));
    }
    if (amax == 0) return 0; /* q8_K: the signed extreme maps to -127 */
    const float iscale = -127.0f / max;
    for (int i = 0; i < n; i++) {
        const int v = nearest(iscale * x[i]);
        q[i] = (int8_t)(v < 127 ? v : 127);
    }
    return 1 / iscale;
}

/* Scales, dx·Σq and -zp·Σq of the ng groups from group j0 of row r (natural order in nat), which
 * share the scale dx. */
static void group_sums(QActs *a, long r, long j0, const int8_t *nat, float dx, int ng) {
    const long at = r * a->gp + j0;
    for (int l = 0; l < ng; l++) {
        int t = 0;
        for (int i = 0; i < a->g; i++) t += nat[l * a->g + i];
        a->d[at + l] = dx;
        a->sum[at + l] = dx * (float)t;
        a->zsum[at + l] = -a->zp * t;
    }
}

/* One row: each span's blocks quantised in natural order, then its 4-byte pieces transposed into
 * the span layout (piece c of group l to lane l of chunk c); simd: whole blocks and the
 * transposition on AVX-512 (bit for bit the same). */
static void quantise_row(QActs *a, long r, const float *x, int C, int simd) {
    const int g = a->g, blk = a->blk, span = 16 * g;
    int8_t nat[512];
    for (int k = 0; k < a->cp / span; k++) {
        for (int b = 0; b < span / blk; b++) {
            const long e = (long)k * span + (long)b * blk;
            const int n = e >= C ? 0 : C - e < blk ? (int)(C - e) : blk;
            const float dx = simd && n == blk
                                 ? qdot_quantise_block_avx512(nat + b * blk, x + e, blk)
                                 : qdot_quantise_block(nat + b * blk, n ? x + e : x, n, blk);
            group_sums(a, r, e / g, nat + b * blk, dx, blk / g);
        }
        (simd ? qdot_put_span_avx512 : qdot_put_span_scalar)(
            (uint8_t *)a->q + r * a->cp + (long)k * span, (const uint8_t *)nat, g);
    }
}

void qdot_quantise_row_scalar(QActs *a, long r, const float *x, int C) {
    quantise_row(a, r, x, C, 0);
}

void qdot_quantise_row_avx512(QActs *a, long r, const float *x, int C) {
    quantise_row(a, r, x, C, 1); /* the fallbacks are the scalar code */
}

void qacts_quantise_rows(QActs *a, const float *x, long r0, long r1, int C) {
    static int simd = -1;
    if (simd < 0) simd = qdot_avx512_usable();
    for (long r = r0; r < r1; r++)
        (simd ? qdot_quantise_row_avx512 : qdot_quantise_row_scalar)(a, r, x + r * C, C);
}

void qacts_quantise(QActs *a, const float *x, long n, int C) {
    qacts_quantise_rows(a, x, 0, n, C);
}

void qdot_put_span(uint8_t *dst, const uint8_t *nat, int g) {
    static int simd = -1;
    if (simd < 0) simd = qdot_avx512_usable();
    (simd ? qdot_put_span_avx512 : qdot_put_span_scalar)(dst, nat, g);
}

/* Group j's integer sum Σ u·xq, read back from the span layout. */
static int32_t group_isum(const uint8_t *u, const int8_t *q, int j, int g) {
    const long at = (long)(j / 16) * 16 * g + (j % 16) * 4;
    int32_t s = 0;
    for (int c = 0; c < g / 4; c++)
        for (int b = 0; b < 4; b++) s += (int32_t)u[at + c * 64 + b] * q[at + c * 64 + b];
    return s;
}

void qdot_rows_scalar(const QWRows *w, const QActs *a, float *out, long ldo, int nr) {
    for (long n = 0; n < a->n; n++) {
        const int8_t *q = a->q + n * a->cp;
        const float *d = a->d + n * a->gp, *xs = a->sum + n * a->gp;
        const int32_t *z = a->zsum + n * a->gp;
        for (int r = 0; r < nr; r++) {
            const uint8_t *u = w->u + (long)r * w->cp;
            const float *s = w->s + (long)r * w->gp, *o = w->o + (long)r * w->gp;
            float acc = 0;
            for (int j = 0; j < a->gp; j++)
                acc += s[j] * d[j] * (float)(group_isum(u, q, j, a->g) + z[j]) + o[j] * xs[j];
            out[n * ldo + r] = acc;
        }
    }
}

/* The kernels, best first: a CPU runs the first it can (the scalar reference always).
 * on_by_default: where it is the best this CPU has, the integer path is the default (measured
 * faster than dequantise + sgemm; docs/gguf.md). */
static int always(void) {
    return 1;
}
static const struct {
    const char *name;
    int (*usable)(void);
    QdotKernel kernel;
    int on_by_default;
} kernels[] = {
    {"avx512", qdot_avx512_usable, qdot_rows_avx512, 1},
    {"avx2", qdot_avx2_usable, qdot_rows_avx2, 0},
    {"scalar", always, qdot_rows_scalar, 0}, /* a reference, slower than dequantise + sgemm */
};
enum { N_KERNELS = sizeof kernels / sizeof kernels[0] };

static int chosen_kernel = -1; /* index into kernels */
static int mode = -1;

/* Decided in locals and stored at the end, kernel before mode: a thread that finds mode set
 * (the first call may come from several threads) never sees a half-made choice. */
static void choose(void) {
    const char *v = getenv("MOELENS_QDOT");
    int k = 0;
    while (!kernels[k].usable()) k++;
    int on = kernels[k].on_by_default ? QDOT_ON : QDOT_OFF;
    if (v && (!strcmp(v, "off") || !strcmp(v, "0"))) on = QDOT_OFF;
    if (v && (!strcmp(v, "on") || !strcmp(v, "1"))) on = QDOT_ON;
    for (int i = 0; v && i < N_KERNELS; i++)
        if (!strcmp(v, kernels[i].name) && kernels[i].usable()) k = i, on = QDOT_ON;
    chosen_kernel = k, mode = on;
}

int qdot_mode(void) {
    if (mode < 0) choose();
    return mode;
}

QdotKernel qdot_kernel(void) {
    if (chosen_kernel < 0) choose();
    return kernels[chosen_kernel].kernel;
}
