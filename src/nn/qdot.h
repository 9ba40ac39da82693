/* Integer dot products of quantised GGUF weight rows (Q8_0, Q4_K, Q6_K) with activation rows
 * quantised to 8 bits, and the matrix product built on them (out = inp · Wᵀ without ever making
 * float weights).
 *
 * Both sides are brought to one layout. Rows are cut into groups of G elements (G = 32 for Q8_0
 * and Q4_K, whose scales are per 32; 16 for Q6_K), every group with its own scale on both sides,
 * and groups into spans of 16 groups. Inside a span the bytes are stored chunk-major: chunk c
 * (64 bytes) holds, in its 32-bit lane l, elements 4c..4c+3 of group l. So a 4-byte multiply-add
 * (VNNI vpdpbusd) over the G/4 chunks of a span leaves group l's integer sum in lane l, and one
 * float multiply-add per span applies all 16 groups' scales.
 *
 * A weight row is decoded once (for all the activation rows it meets) into unsigned bytes u,
 * a scale s and an offset o per group, so that w = s·(u - zp) + o with the type's zero point zp:
 * Q8_0 u = q + 128, zp = 128, s = d; Q4_K u = q, zp = 0, s = d·sc, o = -dmin·m; Q6_K u = q,
 * zp = 32, s = d·sc. An activation group is x ≈ dx · xq with xq in [-127, 127], and carries
 * xs = dx · Σ xq and z = -zp · Σ xq, so
 *   w · x = Σ_groups s·dx·(Σ u·xq + z) + Σ_groups o·xs
 * (the integer sums start at z; the o terms only for Q4_K).
 * Rows are zero-padded to whole spans. */
#pragma once
#include <stdint.h>

/* Activation rows [n, C] in the layout of group size g (16 or 32). */
typedef struct {
    int g, cp, gp; /* group size, padded row length, groups per padded row */
    int blk;       /* elements per activation scale (qdot_act_block) */
    int zp;        /* the weights' zero point (qdot_zero_point) */
    long n;
    int8_t *q;     /* [n, cp] in span layout */
    float *d;      /* [n, gp] group scales dx */
    float *sum;    /* [n, gp] dx · Σ xq */
    int32_t *zsum; /* [n, gp] -zp · Σ xq */
} QActs;

/* QDOT_ROWS weight rows decoded to the span layout (rows past the real ones are zero). */
enum { QDOT_ROWS = 4 };
typedef struct {
    int g, cp, gp;
    int mins;   /* o is used (Q4_K); else it is zero */
    uint8_t *u; /* [QDOT_ROWS, cp] */
    float *s;   /* [QDOT_ROWS, gp] */
    float *o;   /* [QDOT_ROWS, gp] */
} QWRows;

/* Group size of a weight type, or 0 when the integer kernels do not cover it. */
int qdot_group(uint32_t type);
/* Padded row length for C elements in groups of g (a whole number of 16-group spans). */
int qdot_padded(int C, int g);

/* One span: its 16 groups of g bytes in natural order (nat) into the span layout (dst). */
void qdot_put_span(uint8_t *dst, const uint8_t *nat, int g);
void qdot_put_span_scalar(uint8_t *dst, const uint8_t *nat, int g);
void qdot_put_span_avx512(uint8_t *dst, const uint8_t *nat, int g);
/* Activations are rounded as llama.cpp rounds them for the same weights, so both sum the same
 * integers: for Q8_0 per block of 32 (ggml's x86 quantize_row_q8_0: values x·127/amax, scale
 * amax/127 rounded to f16), for the K types per block of 256 (quantize_row_q8_K: scale
 * -max/127 from the signed extreme); both round half to even. Every group of the block carries
 * the block's scale. qdot_act_block: the block length for a weight type. */
int qdot_act_block(uint32_t type);
int qdot_zero_point(uint32_t type);
/* One block of n <= blk real elements x (the rest zero) into q (natural order); returns its scale.
 */
float qdot_quantise_block(int8_t *q, const float *x, int n, int blk);
float qdot_quantise_block_avx512(int8_t *q, const float *x, int blk); /* n = blk only */
/* Row r of a from x[C] (into the span layout): the scalar reference and the AVX-512 version
 * (bit for bit the same). */
void qdot_quantise_row_scalar(QActs *a, long r, const float *x, int C);
void qdot_quantise_row_avx512(QActs *a, long r, const float *x, int C);

/* Quantises x[n, C] into a, for weights of type (its buffers sized by qacts_alloc). */
void qacts_alloc(QActs *a, long n, int C, uint32_t type);
void qacts_free(QActs *a);
void qacts_quantise(QActs *a, const float *x, long n, int C);
void qacts_quantise_rows(QActs *a, const float *x, long r0, long r1, int C); /* rows [r0, r1) */

void qwrows_alloc(QWRows *w, int C, int g);
void qwrows_free(QWRows *w);
/* Decodes rows [0, nr) of type `type` (nr <= QDOT_ROWS; row r at src + r·row_bytes). */
void qwrows_decode(QWRows *w, uint32_t type, const uint8_t *src, uint64_t row_bytes, int nr, int C);

/* out[n·ldo + r] = (weight row r) · (activation row n) for n in [0, a->n), r in [0, nr): the
 * scalar reference, and whichever kernel qdot_kernel picked for this CPU. */
typedef void (*QdotKernel)(const QWRows *w, const QActs *a, float *out, long ldo, int nr);
void qdot_rows_scalar(const QWRows *w, const QActs *a, float *out, long ldo, int nr);
void qdot_rows_avx512(const QWRows *w, const QActs *a, float *out, long ldo, int nr);
void qdot_rows_avx2(const QWRows *w, const QActs *a, float *out, long ldo, int nr);
int qdot_avx512_usable(void); /* this CPU has AVX-512 BW + VNNI (and the build the kernel) */
int qdot_avx2_usable(void);   /* AVX2 + FMA */
QdotKernel qdot_kernel(void);

/* Reads MOELENS_QDOT once: "off"/"0" (dequantise + sgemm), "on"/"1" (integer kernels: the best
 * this CPU runs), "avx512", "avx2" or "scalar" (integer kernels on that one, where the CPU runs
 * it), unset or anything else: integer kernels where the AVX-512 VNNI kernel runs, else
 * dequantise + sgemm. */
enum { QDOT_ON, QDOT_OFF };
int qdot_mode(void);

/* out[N, OC] = x[N, C] · Wᵀ for OC rows of a quantised tensor starting at src (row_bytes apart),
 * through the integer kernels. Inside a parallel region it runs on the calling thread. */
void qdot_gemm(float *out, const float *x, uint32_t type, const uint8_t *src, uint64_t row_bytes,
               int N, int C, int OC);
