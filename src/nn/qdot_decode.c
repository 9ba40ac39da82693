/* Weight rows of Q8_0, Q4_K and Q6_K decoded to the integer kernels' layout (qdot.h): unsigned
 * bytes u, and per group a scale s and an offset o with w = s·u + o. Block layouts as in
 * gguf_quant.c (ggml-common.h). */
#include "core/mem.h"
#include "gguf/gguf.h"
#include "nn/qdot.h"
#include <string.h>

void qwrows_alloc(QWRows *w, int C, int g) {
    w->mins = 0, w->g = g, w->cp = qdot_padded(C, g), w->gp = w->cp / g;
    w->u = ml_alloc((size_t)QDOT_ROWS * w->cp);
    w->s = ml_alloc_floats((size_t)QDOT_ROWS * w->gp);
    w->o = ml_alloc_floats((size_t)QDOT_ROWS * w->gp);
}

void qwrows_free(QWRows *w) {
    ml_free(w->u);
    ml_free(w->s);
    ml_free(w->o);
    memset(w, 0, sizeof *w);
}

static float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return gguf_f16_to_f32(h);
}

/* Each row function writes u in natural order (qwrows_decode then transposes it span by span). */

/* q8_0 {f16 d; i8 qs[32]}: one group a block; u = q + 128 (the sign bit flipped), o = 0. */
static void row_q8_0(uint8_t *u, float *s, float *o, const uint8_t *x, int C) {
    for (int j = 0; j < C / 32; j++, x += 34) {
        for (int i = 0; i < 32; i++) u[32 * j + i] = x[2 + i] ^ 0x80;
        s[j] = half_at(x);
    }
}

/* The 6-bit scale and min of sub-block j of a q4_K block (ggml's get_scale_min_k4). */
static void scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* q4_K {f16 d, dmin; u8 scales[12]; u8 qs[128]}: sub-block j (32 elements) is the low (j even)
 * or high nibbles of qs[32·(j/2) ..]; w = d·sc·q - dmin·m. */
static void row_q4_K(uint8_t *u, float *s, float *o, const uint8_t *x, int C) {
    for (int b = 0; b < C / 256; b++, x += 144) {
        const float d = half_at(x), dmin = half_at(x + 2);
        for (int j = 0; j < 8; j++) {
            const uint8_t *q = x + 16 + 32 * (j / 2);
            uint8_t *grp = u + 256 * b + 32 * j;
            const int shift = 4 * (j & 1);
            for (int i = 0; i < 32; i++) grp[i] = (q[i] >> shift) & 0xF;
            int sc, m;
            scale_min_k4(j, x + 4, &sc, &m);
            s[8 * b + j] = d * (float)sc;
            o[8 * b + j] = -(dmin * (float)m);
        }
    }
}

/* q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: group j (16 elements) of half h = j / 8,
 * quarter k = (j % 8) / 2: low 4 bits from ql (nibble k / 2 of byte l + 32·(k % 2)), high 2 from
 * qh bits 2k; w = d·sc_j·(q - 32): u = q, o = 0. */
static void row_q6_K(uint8_t *u, float *s, float *o, const uint8_t *x, int C) {
    for (int b = 0; b < C / 256; b++, x += 210) {
        const float d = half_at(x + 208);
        for (int j = 0; j < 16; j++) {
            const int h = j / 8, k = (j % 8) / 2, l0 = 16 * (j % 2);
            const uint8_t *ql = x + 64 * h + 32 * (k % 2), *qh = x + 128 + 32 * h;
            uint8_t *grp = u + 256 * b + 16 * j;
            for (int i = 0; i < 16; i++) {
                const int l = l0 + i;
                grp[i] = ((ql[l] >> (4 * (k / 2))) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4);
            }
            s[16 * b + j] = d * (float)(int8_t)x[192 + j];
        }
    }
}

void qwrows_decode(QWRows *w, uint32_t type, const uint8_t *src, uint64_t row_bytes, int nr,
                   int C) {
    uint8_t nat[w->cp]; /* one row in natural order: at most a few KiB */
    const int span = 16 * w->g;
    for (int r = 0; r < QDOT_ROWS; r++) {
        uint8_t *u = w->u + (long)r * w->cp;
        float *s = w->s + (long)r * w->gp, *o = w->o + (long)r * w->gp;
        memset(nat + C, 0, w->cp - C); /* padding; rows past nr are all zero */
        memset(s + C / w->g, 0, (w->gp - C / w->g) * sizeof(float));
        memset(o + C / w->g, 0, (w->gp - C / w->g) * sizeof(float));
        if (r >= nr) {
            memset(u, 0, w->cp);
            memset(s, 0, w->gp * sizeof(float));
            memset(o, 0, w->gp * sizeof(float));
            continue;
        }
        const uint8_t *x = src + r * row_bytes;
        w->mins = type == GGML_Q4_K;
        if (type == GGML_Q8_0)
            row_q8_0(nat, s, o, x, C);
        else if (type == GGML_Q4_K)
            row_q4_K(nat, s, o, x, C);
        else if (type == GGML_Q6_K)
            row_q6_K(nat, s, o, x, C);
        for (int k = 0; k < w->cp / span; k++) qdot_put_span(u + k * span, nat + k * span, w->g);
    }
}
