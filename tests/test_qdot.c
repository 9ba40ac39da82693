/* The integer dot-product kernels (src/nn/qdot*.c): decoded weight rows against ggml's
 * dequantisation, activation quantisation against its bound, the AVX-512 kernel against the
 * scalar reference, and qdot_gemm against dequantise + float product within the activations'
 * quantisation error. Row lengths that are not whole spans exercise the padding. */
#include <stdint.h>
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"
#include "gguf/gguf.h"
#include "nn/qdot.h"
#include "test.h"

static const uint32_t types[] = {GGML_Q8_0, GGML_Q4_K, GGML_Q6_K};

/* Where element e of a row sits in the span layout of group size g (qdot.h). */
static long span_pos(long e, int g) {
    return e / (16 * g) * 16 * g + (e % g) / 4 * 64 + e % (16 * g) / g * 4 + e % 4;
}

/* A finite f16 of magnitude about 2^-10 .. 2^5, either sign. */
static uint16_t some_half(Rng *r) {
    return (uint16_t)(((rng_below(r, 15) + 5) << 10) | rng_below(r, 1024) |
                      (rng_below(r, 2) << 15));
}

/* nb random blocks of type with sane f16 scales. */
static void random_blocks(Rng *r, uint32_t type, uint8_t *x, int nb) {
    const int bytes = gguf_ttype_block_bytes(type);
    for (int i = 0; i < nb * bytes; i++) x[i] = (uint8_t)rng_below(r, 256);
    for (int b = 0; b < nb; b++) {
        uint8_t *blk = x + b * bytes;
        uint16_t h[2] = {some_half(r), some_half(r)};
        if (type == GGML_Q6_K)
            memcpy(blk + 208, h, 2);
        else
            memcpy(blk, h, type == GGML_Q4_K ? 4 : 2);
    }
}

/* A random row-major matrix [rows, C] of type; returns its bytes (row_bytes apart). */
static uint8_t *random_matrix(Rng *r, uint32_t type, int rows, int C, uint64_t *row_bytes) {
    const int blk = gguf_ttype_block(type);
    *row_bytes = (uint64_t)C / blk * gguf_ttype_block_bytes(type);
    uint8_t *x = ml_alloc(rows * *row_bytes);
    random_blocks(r, type, x, rows * C / blk);
    return x;
}

TEST(qdot_decode_matches_dequant) {
    Rng r;
    rng_seed(&r, 21);
    const int Cs[] = {768, 1024};
    for (size_t k = 0; k < sizeof types / sizeof *types; k++)
        for (int ci = 0; ci < 2; ci++) {
            const int C = Cs[ci], g = qdot_group(types[k]), nr = 3;
            uint64_t rb;
            uint8_t *x = random_matrix(&r, types[k], nr, C, &rb);
            float *want = ml_alloc_floats(C);
            QWRows w;
            qwrows_alloc(&w, C, g);
            qwrows_decode(&w, types[k], x, rb, nr, C);
            int bad = 0;
            for (int row = 0; row < QDOT_ROWS && !bad; row++) {
                if (row < nr) gguf_dequant_raw(types[k], x + row * rb, want, C);
                for (long e = 0; e < w.cp && !bad; e++) {
                    const long j = e / g;
                    const float s = w.s[row * w.gp + j], o = w.o[row * w.gp + j];
                    const uint8_t u = w.u[row * w.cp + span_pos(e, g)];
                    if (row >= nr || e >= C) { /* padding and absent rows are zero */
                        bad = u || s != 0 || o != 0;
                        CHECK_MSG(!bad, "%s: padding at row %d element %ld",
                                  gguf_ttype_name(types[k]), row, e);
                        continue;
                    }
                    const double got = (double)s * (u - qdot_zero_point(types[k])) + o,
                                 tol = 1e-6 * (fabs(s) * 256 + fabs(o));
                    bad = !(fabs(got - want[e]) <= tol);
                    CHECK_MSG(!bad, "%s C %d row %d element %ld: decoded %.9g, dequantised %.9g",
                              gguf_ttype_name(types[k]), C, row, e, got, want[e]);
                }
            }
            qwrows_free(&w);
            ml_free(want);
            ml_free(x);
        }
}

/* Every activation within half a step of its value (Q8_0's f16 scale: within 0.6 of a step), the
 * K types' signed extreme at exactly -127, and the group sums. */
TEST(qdot_quantise_within_half_step) {
    Rng r;
    rng_seed(&r, 22);
    const int C = 800, n = 3; /* 800: partial spans, blocks and groups of 16 */
    float *x = ml_alloc_floats(n * C);
    rng_fill_normal(&r, x, n * C, 1.0f);
    x[5] = 0, x[37] = -40.0f; /* an outlier sets its block's scale */
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        QActs a;
        qacts_alloc(&a, n, C, types[k]);
        qacts_quantise(&a, x, n, C);
        const int g = a.g, q8_0 = types[k] == GGML_Q8_0;
        for (int row = 0; row < n; row++)
            for (int j = 0; j < a.gp; j++) {
                const float dx = a.d[row * a.gp + j];
                long s = 0;
                for (int i = 0; i < g; i++) {
                    const long e = (long)j * g + i;
                    const int q = a.q[row * a.cp + span_pos(e, g)];
                    const float v = e < C ? x[row * C + e] : 0.0f;
                    s += q;
                    CHECK_MSG(fabsf(dx * q - v) <= (q8_0 ? 0.6f : 0.5001f) * fabsf(dx) &&
                                  q >= -127 && q <= 127,
                              "%s row %d element %ld: %g ≈ %g · %d", gguf_ttype_name(types[k]), row,
                              e, v, dx, q);
                }
                CHECK_NEAR(a.sum[row * a.gp + j], dx * (float)s, 1e-6 * fabsf(dx * s));
                CHECK(a.zsum[row * a.gp + j] == -qdot_zero_point(types[k]) * s);
            }
        if (!q8_0)
            CHECK_MSG(a.q[span_pos(37, g)] == -127, "%s: the extreme -> %d",
                      gguf_ttype_name(types[k]), a.q[span_pos(37, g)]);
        qacts_free(&a);
    }
    ml_free(x);
}

/* The decoded rows of a random matrix against n random activation rows, through a SIMD kernel
 * and the scalar reference. */
static void check_kernel_equals_scalar(const char *name, QdotKernel kernel) {
    Rng r;
    rng_seed(&r, 23);
    const int C = 1280, n = 5; /* 1280: 2.5 spans of 512; 5 rows: an odd last activation row */
    float *x = ml_alloc_floats(n * C);
    float got[5 * QDOT_ROWS], want[5 * QDOT_ROWS], mag[5 * QDOT_ROWS];
    for (size_t k = 0; k < sizeof types / sizeof *types; k++)
        for (int nr = 1; nr <= QDOT_ROWS; nr += 3) {
            const int g = qdot_group(types[k]);
            uint64_t rb;
            uint8_t *m = random_matrix(&r, types[k], nr, C, &rb);
            rng_fill_normal(&r, x, n * C, 1.0f);
            QWRows w;
            QActs a;
            qwrows_alloc(&w, C, g);
            qwrows_decode(&w, types[k], m, rb, nr, C);
            qacts_alloc(&a, n, C, types[k]);
            qacts_quantise(&a, x, n, C);
            memset(got, 0, sizeof got);
            memcpy(want, got, sizeof got);
            kernel(&w, &a, got, QDOT_ROWS, nr);
            qdot_rows_scalar(&w, &a, want, QDOT_ROWS, nr);
            /* the same integer sums, scaled in another order: within float rounding of Σ|terms| */
            for (int i = 0; i < n * QDOT_ROWS; i++) {
                const int row = i / QDOT_ROWS, o = i % QDOT_ROWS;
                double s = 0;
                for (int j = 0; o < nr && j < a.gp; j++)
                    s += fabs(w.s[o * w.gp + j] * a.d[row * a.gp + j]) * 255 * 127 * g +
                         fabs(w.o[o * w.gp + j] * a.sum[row * a.gp + j]);
                mag[i] = (float)s;
                CHECK_MSG(fabs(got[i] - want[i]) <= 1e-6 * mag[i],
                          "%s %s nr %d [%d]: %.9g, scalar %.9g", name, gguf_ttype_name(types[k]),
                          nr, i, got[i], want[i]);
            }
            qwrows_free(&w);
            qacts_free(&a);
            ml_free(m);
        }
    ml_free(x);
}

TEST(qdot_avx512_equals_scalar) {
    CHECK_MSG(qdot_avx512_usable() || !__builtin_cpu_supports("avx512vnni"),
              "AVX-512 VNNI present but the kernel is not used");
    if (qdot_avx512_usable()) check_kernel_equals_scalar("avx512", qdot_rows_avx512);
}

/* AVX2: vpmaddubsw saturates at 32767, so Q8_0's bytes go through the signed form (qdot_avx2.c);
 * the random rows reach |q| = 127 and the activations ±127. */
TEST(qdot_avx2_equals_scalar) {
    CHECK_MSG(qdot_avx2_usable() || !__builtin_cpu_supports("avx2"), "AVX2 present but unused");
    if (qdot_avx2_usable()) check_kernel_equals_scalar("avx2", qdot_rows_avx2);
}

/* qdot_gemm against the dequantised weights times the float activations (in double): each
 * product may differ by Σ |w · dx| / 2 (Q8_0: 0.6, its scale in f16), the activations' rounding,
 * and no more. */
TEST(qdot_gemm_matches_dequant_product) {
    Rng r;
    rng_seed(&r, 24);
    const int C = 768, N = 7, OC = 9;
    float *x = ml_alloc_floats(N * C), *out = ml_alloc_floats(N * OC), *wf = ml_alloc_floats(C);
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        const int g = qdot_group(types[k]);
        const double step = types[k] == GGML_Q8_0 ? 0.6 : 0.5; /* Q8_0: its f16 scale */
        uint64_t rb;
        uint8_t *m = random_matrix(&r, types[k], OC, C, &rb);
        rng_fill_normal(&r, x, N * C, 1.0f);
        qdot_gemm(out, x, types[k], m, rb, N, C, OC);
        QActs a;
        qacts_alloc(&a, N, C, types[k]);
        qacts_quantise(&a, x, N, C);
        for (int o = 0; o < OC; o++) {
            gguf_dequant_raw(types[k], m + o * rb, wf, C);
            for (int n = 0; n < N; n++) {
                double ref = 0, bound = 0, mag = 0;
                for (int i = 0; i < C; i++) {
                    ref += (double)wf[i] * x[n * C + i];
                    bound += fabs(wf[i] * a.d[n * a.gp + i / g]) * step;
                    mag += fabs((double)wf[i] * x[n * C + i]);
                }
                CHECK_MSG(fabs(out[n * OC + o] - ref) <= bound * 1.001 + 1e-5 * mag,
                          "%s [%d, %d]: integer %.9g, float %.9g, bound %.3g",
                          gguf_ttype_name(types[k]), n, o, out[n * OC + o], ref, bound);
            }
        }
        qacts_free(&a);
        ml_free(m);
    }
    ml_free(x);
    ml_free(out);
    ml_free(wf);
}

/* The AVX-512 activation quantisation is the scalar one, bit for bit (layout, scales, sums). */
TEST(qdot_quantise_avx512_equals_scalar) {
    if (!qdot_avx512_usable()) return; /* one path only */
    Rng r;
    rng_seed(&r, 25);
    const int C = 1300; /* partial blocks and spans */
    float *x = ml_alloc_floats(C);
    rng_fill_normal(&r, x, C, 3.0f);
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 16) * 0.25f; /* ties at ±0.5 steps */
    x[300] = -9, x[301] = 9; /* equal magnitudes: the first one's sign wins */
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        QActs a, b;
        qacts_alloc(&a, 1, C, types[k]);
        qacts_alloc(&b, 1, C, types[k]);
        qdot_quantise_row_avx512(&a, 0, x, C);
        qdot_quantise_row_scalar(&b, 0, x, C);
        const char *t = gguf_ttype_name(types[k]);
        CHECK_MSG(!memcmp(a.q, b.q, a.cp), "%s: bytes differ", t);
        CHECK_MSG(!memcmp(a.d, b.d, a.gp * sizeof(float)), "%s: scales differ", t);
        CHECK_MSG(!memcmp(a.sum, b.sum, a.gp * sizeof(float)), "%s: sums differ", t);
        CHECK_MSG(!memcmp(a.zsum, b.zsum, a.gp * sizeof(int32_t)), "%s: zero-point sums differ", t);
        qacts_free(&a);
        qacts_free(&b);
    }
    ml_free(x);
}
