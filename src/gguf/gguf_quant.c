/* Dequantisation of ggml block formats, bit for bit as ggml-quants.c's dequantize_row_* (block
 * layouts from ggml-common.h; docs/gguf.md). Blocks sit unaligned in the map: multi-byte fields
 * are read with memcpy. */
#include <string.h>

/* Every element is the plain float expression of ggml's reference (and gguf-py's numpy): products
 * and sums rounded one at a time. -std=gnu11 lets GCC fuse a*b-c into an FMA (it did here, in q4_1,
 * q5_1, q4_K and q5_K, even in the vector intrinsics), which differs in the last bit; switched off
 * for this file so the scalar and vector paths agree bit for bit with each other and with gguf-py.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "core/error.h"
#include "gguf/gguf.h"

#define QK_K 256

float gguf_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13); /* inf / nan */
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant) { /* subnormal: normalise */
        int e = -1;
        do mant <<= 1, e++;
        while (!(mant & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3FF) << 13);
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float gguf_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#ifdef __F16C__
#define HALF_TO_FLOAT(h) _cvtsh_ss(h) /* the hardware conversion, exact like the software one */
#else
#define HALF_TO_FLOAT(h) gguf_f16_to_f32(h)
#endif

static float half_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return HALF_TO_FLOAT(h);
}

static void deq_f16(const uint8_t *x, float *y, int64_t n, int bf16) {
    int64_t i = 0;
#ifdef __F16C__
    if (!bf16)
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 2 * i))));
#endif
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, x + 2 * i, 2);
        y[i] = bf16 ? gguf_bf16_to_f32(h) : gguf_f16_to_f32(h);
    }
}

/* q4_0 {f16 d; u8 qs[16]}: low nibbles are elements 0..15, high nibbles 16..31, (q - 8) * d.
 * q4_1 {f16 d, m; u8 qs[16]}: q * d + m. */
static void deq_q4_01(const uint8_t *x, float *y, int64_t nb, int with_min) {
    const int bytes = with_min ? 20 : 18;
    for (int64_t i = 0; i < nb; i++, x += bytes, y += 32) {
        const float d = half_at(x), m = with_min ? half_at(x + 2) : 0.0f;
        const uint8_t *qs = x + (with_min ? 4 : 2);
        const int off = with_min ? 0 : 8;
        for (int j = 0; j < 16; j++) {
            if (with_min) {
                y[j] = (qs[j] & 0x0F) * d + m;
                y[j + 16] = (qs[j] >> 4) * d + m;
            } else {
                y[j] = ((qs[j] & 0x0F) - off) * d;
                y[j + 16] = ((qs[j] >> 4) - off) * d;
            }
        }
    }
}

/* q5_0 {f16 d; u32 qh; u8 qs[16]} and q5_1 {f16 d, m; u32 qh; u8 qs[16]}: bit j of qh is the
 * fifth bit of element j. */
static void deq_q5_01(const uint8_t *x, float *y, int64_t nb, int with_min) {
    const int bytes = with_min ? 24 : 22;
    for (int64_t i = 0; i < nb; i++, x += bytes, y += 32) {
        const float d = half_at(x), m = with_min ? half_at(x + 2) : 0.0f;
        uint32_t qh;
        memcpy(&qh, x + (with_min ? 4 : 2), 4);
        const uint8_t *qs = x + (with_min ? 8 : 6);
        for (int j = 0; j < 16; j++) {
            const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            const int x0 = (qs[j] & 0x0F) | h0, x1 = (qs[j] >> 4) | h1;
            if (with_min) {
                y[j] = x0 * d + m;
                y[j + 16] = x1 * d + m;
            } else {
                y[j] = (x0 - 16) * d;
                y[j + 16] = (x1 - 16) * d;
            }
        }
    }
}

/* q8_0 {f16 d; i8 qs[32]}: q * d. */
static void deq_q8_0_scalar(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 34, y += 32) {
        const float d = half_at(x);
        const int8_t *qs = (const int8_t *)(x + 2);
        for (int j = 0; j < 32; j++) y[j] = qs[j] * d;
    }
}

/* The 6-bit scale and min of sub-block j (0..7) packed in 12 bytes (ggml's get_scale_min_k4). */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

/* q4_K {f16 d, dmin; u8 scales[12]; u8 qs[128]} and q5_K {... scales[12]; u8 qh[32]; u8 qs[128]}:
 * 8 sub-blocks of 32; element = d*scale * q - dmin*min; per 64 elements, the low nibbles of 32
 * bytes then their high nibbles; q5_K's fifth bits come from qh (two bits per 64 elements). */
static void deq_q45_K_scalar(const uint8_t *x, float *y, int64_t nb, int five) {
    const int bytes = five ? 176 : 144;
    for (int64_t i = 0; i < nb; i++, x += bytes) {
        const float d = half_at(x), min = half_at(x + 2);
        const uint8_t *scales = x + 4, *qh = x + 16, *q = x + (five ? 48 : 16);
        uint8_t sc, m, u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32, u1 <<= 2, u2 <<= 2) {
            scale_min_k4(is + 0, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) {
                int h1 = five && (qh[l] & u1) ? 16 : 0, h2 = five && (qh[l] & u2) ? 16 : 0;
                y[l] = d1 * ((q[l] & 0xF) + h1) - m1;
                y[l + 32] = d2 * ((q[l] >> 4) + h2) - m2;
            }
            y += 64;
        }
    }
}

/* q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: 16 sub-blocks of 16, element =
 * d * scale * (q - 32) with q's low 4 bits in ql and high 2 in qh. */
static void deq_q6_K_scalar(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 210) {
        const float d = half_at(x + 208);
        const uint8_t *ql = x, *qh = x + 128;
        const int8_t *sc = (const int8_t *)(x + 192);
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int is = 0; is < 2; is++) { /* two runs of 16 with fixed scales (vectorises) */
                const float s0 = d * sc[is], s2 = d * sc[is + 2], s4 = d * sc[is + 4],
                            s6 = d * sc[is + 6];
                for (int l = 16 * is; l < 16 * is + 16; l++) {
                    const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    y[l] = s0 * q1; /* ggml: d * sc * q, evaluated (d * sc) * q */
                    y[l + 32] = s2 * q2;
                    y[l + 64] = s4 * q3;
                    y[l + 96] = s6 * q4;
                }
            }
        }
    }
}

#ifdef __AVX2__
/* Vector kernels: the same float operations per element as the scalar ones above, 16 at a time.
 * Bytes are unpacked with SSE integer ops into 16 small integers (exact in int8), widened to
 * int32, converted to float (exact) and scaled with one multiply (then one subtract for the
 * mins): no fused operation, so each element rounds exactly as in the scalar code. */

/* y[0..15] = s * q[i] for the 16 signed bytes q. */
static inline void put16_mul(float *y, __m128i q, float s) {
#ifdef __AVX512F__
    _mm512_storeu_ps(y,
                     _mm512_mul_ps(_mm512_set1_ps(s), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q))));
#else
    const __m256 vs = _mm256_set1_ps(s);
    _mm256_storeu_ps(y, _mm256_mul_ps(vs, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
    _mm256_storeu_ps(
        y + 8, _mm256_mul_ps(vs, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)))));
#endif
}

/* y[0..15] = d * q[i] - m (product rounded, then the difference). */
static inline void put16_mul_sub(float *y, __m128i q, float d, float m) {
#ifdef __AVX512F__
    const __m512 p = _mm512_mul_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)));
    _mm512_storeu_ps(y, _mm512_sub_ps(p, _mm512_set1_ps(m)));
#else
    const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
    const __m256 p0 = _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
    const __m256 p1 =
        _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8))));
    _mm256_storeu_ps(y, _mm256_sub_ps(p0, vm));
    _mm256_storeu_ps(y + 8, _mm256_sub_ps(p1, vm));
#endif
}

static inline __m128i load16(const void *p) {
    return _mm_loadu_si128((const __m128i *)p);
}

static void deq_q8_0_simd(const uint8_t *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 34, y += 32) {
        const float d = half_at(x);
        put16_mul(y, load16(x + 2), d);
        put16_mul(y + 16, load16(x + 18), d);
    }
}

static void deq_q45_K_simd(const uint8_t *x, float *y, int64_t nb, int five) {
    const int bytes = five ? 176 : 144;
    const __m128i lo4 = _mm_set1_epi8(0x0F), one = _mm_set1_epi8(1);
    for (int64_t i = 0; i < nb; i++, x += bytes) {
        const float d = half_at(x), min = half_at(x + 2);
        const uint8_t *scales = x + 4, *qh = x + 16, *q = x + (five ? 48 : 16);
        uint8_t sc, m;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
            scale_min_k4(is + 0, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l += 16) {
                const __m128i b = load16(q + l);
                __m128i q1 = _mm_and_si128(b, lo4), q2 = _mm_and_si128(_mm_srli_epi16(b, 4), lo4);
                if (five) { /* bits is and is+1 of qh[l] are the fifth bits (value 16) */
                    const __m128i h = load16(qh + l);
                    const __m128i h1 = _mm_and_si128(_mm_srli_epi16(h, is), one);
                    const __m128i h2 = _mm_and_si128(_mm_srli_epi16(h, is + 1), one);
                    q1 = _mm_or_si128(q1, _mm_slli_epi16(h1, 4));
                    q2 = _mm_or_si128(q2, _mm_slli_epi16(h2, 4));
                }
                put16_mul_sub(y + l, q1, d1, m1);
                put16_mul_sub(y + l + 32, q2, d2, m2);
            }
            y += 64;
        }
    }
}

static void deq_q6_K_simd(const uint8_t *x, float *y, int64_t nb) {
    const __m128i lo4 = _mm_set1_epi8(0x0F), three = _mm_set1_epi8(3), k32 = _mm_set1_epi8(32);
    for (int64_t i = 0; i < nb; i++, x += 210) {
        const float d = half_at(x + 208);
        const uint8_t *ql = x, *qh = x + 128;
        const int8_t *sc = (const int8_t *)(x + 192);
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int is = 0; is < 2; is++) {
                const int l = 16 * is;
                const __m128i a = load16(ql + l), b = load16(ql + l + 32), h = load16(qh + l);
                /* high two bits, already in place: (h >> 2k & 3) << 4 */
                const __m128i h0 = _mm_slli_epi16(_mm_and_si128(h, three), 4);
                const __m128i h1 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, 2), three), 4);
                const __m128i h2 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, 4), three), 4);
                const __m128i h3 = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, 6), three), 4);
                const __m128i a_hi = _mm_and_si128(_mm_srli_epi16(a, 4), lo4);
                const __m128i b_hi = _mm_and_si128(_mm_srli_epi16(b, 4), lo4);
                const __m128i q1 = _mm_sub_epi8(_mm_or_si128(_mm_and_si128(a, lo4), h0), k32);
                const __m128i q2 = _mm_sub_epi8(_mm_or_si128(_mm_and_si128(b, lo4), h1), k32);
                const __m128i q3 = _mm_sub_epi8(_mm_or_si128(a_hi, h2), k32);
                const __m128i q4 = _mm_sub_epi8(_mm_or_si128(b_hi, h3), k32);
                put16_mul(y + l, q1, d * sc[is]); /* (d * sc) * q as in the scalar code */
                put16_mul(y + l + 32, q2, d * sc[is + 2]);
                put16_mul(y + l + 64, q3, d * sc[is + 4]);
                put16_mul(y + l + 96, q4, d * sc[is + 6]);
            }
        }
    }
}

#define deq_q8_0 deq_q8_0_simd
#define deq_q45_K deq_q45_K_simd
#define deq_q6_K deq_q6_K_simd
#else
#define deq_q8_0 deq_q8_0_scalar
#define deq_q45_K deq_q45_K_scalar
#define deq_q6_K deq_q6_K_scalar
#endif

void gguf_dequant_raw(uint32_t type, const void *src, float *y, int64_t n) {
    const uint8_t *x = src;
    switch (type) {
    case GGML_F32:
        memcpy(y, x, (size_t)n * 4);
        break;
    case GGML_F16:
        deq_f16(x, y, n, 0);
        break;
    case GGML_BF16:
        deq_f16(x, y, n, 1);
        break;
    case GGML_Q4_0:
        deq_q4_01(x, y, n / 32, 0);
        break;
    case GGML_Q4_1:
        deq_q4_01(x, y, n / 32, 1);
        break;
    case GGML_Q5_0:
        deq_q5_01(x, y, n / 32, 0);
        break;
    case GGML_Q5_1:
        deq_q5_01(x, y, n / 32, 1);
        break;
    case GGML_Q8_0:
        deq_q8_0(x, y, n / 32);
        break;
    case GGML_Q4_K:
        deq_q45_K(x, y, n / QK_K, 0);
        break;
    case GGML_Q5_K:
        deq_q45_K(x, y, n / QK_K, 1);
        break;
    case GGML_Q6_K:
        deq_q6_K(x, y, n / QK_K);
        break;
    default:
        break;
    }
}

void gguf_dequant_raw_scalar(uint32_t type, const void *src, float *y, int64_t n) {
    const uint8_t *x = src;
    switch (type) {
    case GGML_Q8_0:
        deq_q8_0_scalar(x, y, n / 32);
        break;
    case GGML_Q4_K:
        deq_q45_K_scalar(x, y, n / QK_K, 0);
        break;
    case GGML_Q5_K:
        deq_q45_K_scalar(x, y, n / QK_K, 1);
        break;
    case GGML_Q6_K:
        deq_q6_K_scalar(x, y, n / QK_K);
        break;
    default:
        gguf_dequant_raw(type, src, y, n); /* the other types have one path */
        break;
    }
}

int gguf_dequant_rows(const GgufTensor *t, uint64_t row0, uint64_t nrows, float *out) {
    const char *path = t->file ? t->file->path : "(memory)";
    if (!gguf_ttype_supported(t->type))
        return ml_error("%s: tensor '%s' has type %s, which moelens cannot dequantise (supported: "
                        "f32, f16, bf16, "
                        "q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K)",
                        path, t->name,
                        gguf_ttype_name(t->type) ? gguf_ttype_name(t->type) : "unknown");
    if (row0 > t->n_rows || nrows > t->n_rows - row0)
        return ml_error("%s: tensor '%s': rows %llu..%llu out of range (%llu rows)", path, t->name,
                        (unsigned long long)row0, (unsigned long long)(row0 + nrows),
                        (unsigned long long)t->n_rows);
    const int64_t ne0 = (int64_t)t->ne[0];
    /* rows are independent; parallel only when there is enough work to pay for the threads */
#pragma omp parallel for schedule(static) if (nrows * t->ne[0] >= (1u << 18))
    for (int64_t r = 0; r < (int64_t)nrows; r++)
        gguf_dequant_raw(t->type, t->data + (row0 + (uint64_t)r) * t->row_bytes, out + r * ne0,
                         ne0);
    return 0;
}
