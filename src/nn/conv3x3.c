#include "nn/conv3x3.h"
#include "nn/threads.h"
#include <string.h>

#ifdef __AVX512F__
#include <immintrin.h>

#define AI static inline __attribute__((always_inline))

/* Plane geometry: bordered planes Hp × Wp (Wp = W + 2), Q = H·Wp output positions in Qv vectors;
 * a plane's stride Ps leaves room for the last vector's reads past the bottom border. */
typedef struct {
    int C, OC, H, W, Wp, Q, Qv, P, CKK, OCp, CKKp;
    int Cp, mcp, Pr, KK; /* C, max(C, OC) and P rounded up to 16; koff entries */
    int by_pixel; /* small planes: vectors over channels instead of pixels (see convT_image) */
    long Ps;
    int toff[9]; /* tap t = 3·ky + kx reads q + toff[t] */
} Geo;

static long up16(long n) {
    return (n + 15) / 16 * 16;
}

static Geo geo_of(const ConvShape *s) {
    Geo g;
    g.C = s->C, g.OC = s->OC, g.H = s->H, g.W = s->W, g.Wp = s->W + 2;
    g.Q = g.H * g.Wp, g.Qv = (g.Q + 15) / 16, g.P = g.H * g.W, g.CKK = g.C * 9;
    g.OCp = (int)up16(g.OC), g.CKKp = (g.CKK + 23) / 24 * 24;
    g.Cp = (int)up16(g.C), g.mcp = g.Cp > g.OCp ? g.Cp : g.OCp, g.Pr = (int)up16(g.P);
    g.KK = g.CKKp > 9 * g.OC ? g.CKKp : 9 * g.OC;
    /* under 80 % of the pixel vectors useful (7 × 7: 49 of 64) */
    g.by_pixel = 5L * g.P < 4L * 16 * g.Qv;
    long need = 16L * g.Qv + 2L * g.Wp + 2, plane = (long)(g.H + 2) * g.Wp;
    g.Ps = up16(need > plane ? need : plane);
    for (int t = 0; t < 9; t++) g.toff[t] = (t / 3) * g.Wp + t % 3;
    return g;
}

static long tmp_floats(const Geo *g) {
    int mc = g->C > g->OC ? g->C : g->OC;
    long a = up16((long)mc * 16 * g->Qv), b = (long)g->Pr * g->mcp;
    return a > b ? a : b;
}

/* per-thread layout: in_pad [C·Ps], g_pad [OC·Ps], tmp [max(C,OC)·16Qv], doutT [P·OCp],
 * tdw [CKKp·OCp] (the weight gradient transposed, k-major), tdb [OCp] */
static long per_thread(const Geo *g) {
    return up16((long)g->C * g->Ps + 16) + up16((long)g->OC * g->Ps + 16) + tmp_floats(g) +
           up16((long)g->P * g->OCp) + (long)g->CKKp * g->OCp + g->OCp;
}

static long shared_floats(const Geo *g) {
    return up16((long)g->CKK * g->OCp) + up16(9L * g->OC * g->Cp);
}

typedef struct {
    float *in_pad, *g_pad, *tmp, *doutT, *tdw, *tdb;
} Slots;

static Slots slots_of(const Geo *g, float *scratch, int t) {
    Slots z;
    float *b = scratch + shared_floats(g) + t * per_thread(g);
    z.in_pad = b, b += up16((long)g->C * g->Ps + 16);
    z.g_pad = b, b += up16((long)g->OC * g->Ps + 16);
    z.tmp = b, b += tmp_floats(g);
    z.doutT = b, b += up16((long)g->P * g->OCp);
    z.tdw = b, b += (long)g->CKKp * g->OCp;
    z.tdb = b;
    return z;
}

/* ---- direct convolution of one image: tmp[o, q] = Σ_c Σ_t wt[(c·9 + t)·ldw + o]·in[c·Ps + q +
 * toff[t]] for output channels [o0, o0 + MR) and vectors [v0, v0 + NV) ---- */
AI void fwd_tile(float *tmp, long ldt, const float *in, const float *wt, int Cn, int ldw,
                 const Geo *g, int o0, int v0, const int MR, const int NV) {
    __m512 acc[8][3];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++) acc[i][j] = _mm512_setzero_ps();
    const float *src = in + 16L * v0;
    const float *wc = wt + o0;
    for (int c = 0; c < Cn; c++, src += g->Ps, wc += 9L * ldw) {
        for (int t = 0; t < 9; t++) {
            __m512 b[3];
            for (int j = 0; j < NV; j++) b[j] = _mm512_loadu_ps(src + g->toff[t] + 16 * j);
            const float *wt_t = wc + (long)t * ldw;
            for (int i = 0; i < MR; i++) {
                __m512 w = _mm512_set1_ps(wt_t[i]);
                for (int j = 0; j < NV; j++) acc[i][j] = _mm512_fmadd_ps(w, b[j], acc[i][j]);
            }
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++)
            _mm512_storeu_ps(tmp + (long)(o0 + i) * ldt + 16L * (v0 + j), acc[i][j]);
}

#define FWD_TILE(MR, NV)                                                                           \
    static void fwd_##MR##_##NV(float *tmp, long ldt, const float *in, const float *wt, int Cn,    \
                                int ldw, const Geo *g, int o0, int v0) {                           \
        fwd_tile(tmp, ldt, in, wt, Cn, ldw, g, o0, v0, MR, NV);                                    \
    }
FWD_TILE(8, 1)
FWD_TILE(8, 2)
FWD_TILE(8, 3)
FWD_TILE(1, 1)
FWD_TILE(1, 2)
FWD_TILE(1, 3)

typedef void (*FwdFn)(float *, long, const float *, const float *, int, int, const Geo *, int, int);
static const FwdFn FWD8[4] = {NULL, fwd_8_1, fwd_8_2, fwd_8_3};
static const FwdFn FWD1[4] = {NULL, fwd_1_1, fwd_1_2, fwd_1_3};

/* All OCn output planes of one image into tmp [OCn, 16·Qv], in vector tiles of near-equal width
 * (≤ 3: 8 × 3 accumulators + 3 loads fit the 32 registers). */
static void conv_image(float *tmp, const float *in, const float *wt, int ldw, int Cn, int OCn,
                       const Geo *g) {
    long ldt = 16L * g->Qv;
    int ntile = (g->Qv + 2) / 3;
    for (int tl = 0; tl < ntile; tl++) {
        int v0 = g->Qv * tl / ntile, nv = g->Qv * (tl + 1) / ntile - v0;
        int o0 = 0;
        for (; o0 + 8 <= OCn; o0 += 8) FWD8[nv](tmp, ldt, in, wt, Cn, ldw, g, o0, v0);
        for (; o0 < OCn; o0++) FWD1[nv](tmp, ldt, in, wt, Cn, ldw, g, o0, v0);
    }
}

/* Rows are W ≤ 16 floats (7–14 in the model): one vector each. Stores are unmasked where the
 * lanes past the row land on positions that are either zero borders or rewritten later in the
 * same pass (the next row of the same plane): AMD's masked vector stores cost several times an
 * unmasked one (measured: 40 % of the forward's copying time). Memcpy for wider rows. */
static void pad_planes(float *pad, const float *x, int Cn, const Geo *g) {
    if (g->W > 16) {
        for (int c = 0; c < Cn; c++)
            for (int y = 0; y < g->H; y++)
                memcpy(pad + c * g->Ps + (long)(y + 1) * g->Wp + 1, x + ((long)c * g->H + y) * g->W,
                       sizeof(float) * g->W);
        return;
    }
    /* the zeros past each row fall on its right border, the next row's left border and interior
     * (written next), or the bottom border and the gap to the next plane (the buffer has 16 floats
     * of slack past the last plane) */
    __mmask16 m = (__mmask16)((1u << g->W) - 1);
    for (int c = 0; c < Cn; c++)
        for (int y = 0; y < g->H; y++)
            _mm512_storeu_ps(pad + c * g->Ps + (long)(y + 1) * g->Wp + 1,
                             _mm512_maskz_loadu_ps(m, x + ((long)c * g->H + y) * g->W));
}

/* dst[c, y, x] (=, or += with acc) tmp[c, y·Wp + x] + bias[c] for Cn planes: drops the two
 * wrapped columns of every row. A row's lanes past W go to the next rows of the same plane (stored
 * after it, and unchanged with acc: + 0); rows whose 16 lanes would leave the plane are masked. */
static void unpad_planes(float *dst, const float *tmp, const float *bias, int Cn, int acc,
                         const Geo *g) {
    long ldt = 16L * g->Qv;
    if (g->W > 16) {
        for (int c = 0; c < Cn; c++)
            for (int y = 0; y < g->H; y++) {
                float *d = dst + ((long)c * g->H + y) * g->W, bv = bias ? bias[c] : 0.0f;
                const float *t = tmp + c * ldt + (long)y * g->Wp;
                for (int x = 0; x < g->W; x++) d[x] = (acc ? d[x] : 0.0f) + t[x] + bv;
            }
        return;
    }
    __mmask16 m = (__mmask16)((1u << g->W) - 1);
    for (int c = 0; c < Cn; c++) {
        __m512 bv = _mm512_maskz_mov_ps(m, _mm512_set1_ps(bias ? bias[c] : 0.0f));
        float *d = dst + (long)c * g->H * g->W;
        const float *t = tmp + c * ldt;
        for (int y = 0; y < g->H; y++, d += g->W, t += g->Wp) {
            int inside = (y + 1) * g->W + 16 - g->W <= g->H * g->W;
            __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, t), bv);
            if (acc)
                v = _mm512_add_ps(v, inside ? _mm512_loadu_ps(d) : _mm512_maskz_loadu_ps(m, d));
            if (inside)
                _mm512_storeu_ps(d, v);
            else
                _mm512_mask_storeu_ps(d, m, v);
        }
    }
}

/* In-register 16 × 16 transpose: r[i][c] → r[c][i] (unpack, in-lane shuffle, two 128-bit lane
 * shuffles). */
AI void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* r[4i + j], 128-bit lane L: column 4L + j of rows 4i..4i+3 */
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xDD);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xDD);
    }
}

/* doutT[p, o] = dout[o, p] for o < OC (lanes OC..OCp zero), in 16 × 16 register transposes
 * (a gather per pixel was 6 % of a training step). */
static void transpose_dout(float *doutT, const float *go, const Geo *g) {
    for (int v = 0; v < g->OCp / 16; v++) {
        int rows = g->OC - 16 * v < 16 ? g->OC - 16 * v : 16;
        for (int p0 = 0; p0 < g->P; p0 += 16) {
            int cols = g->P - p0 < 16 ? g->P - p0 : 16;
            __mmask16 m = (__mmask16)(cols == 16 ? 0xFFFF : (1u << cols) - 1);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < rows ? _mm512_maskz_loadu_ps(m, go + (16L * v + i) * g->P + p0)
                                : _mm512_setzero_ps();
            transpose16(r);
            for (int c = 0; c < cols; c++)
                _mm512_storeu_ps(doutT + (long)(p0 + c) * g->OCp + 16 * v, r[c]);
        }
    }
}

/* ---- small planes (7 × 7: only 49 of 4 pixel vectors useful): vectors over output channels.
 * tmpT[p, o] = Σ_k in[koff[k] + q(p)]·wt[k·ldw + o] for pixels [p0, p0 + MR) (past P: the last
 * pixel again, rows unused) and channel vectors [v0, v0 + OCV); only real pixels are computed. */
AI void fwdT_tile(float *tmpT, int ldt, const float *in, const float *wt, int ldw, const long *koff,
                  int K, const Geo *g, int p0, int v0, const int MR, const int OCV) {
    __m512 acc[6][4];
    long qp[6];
    for (int i = 0; i < MR; i++) {
        int p = p0 + i < g->P ? p0 + i : g->P - 1;
        qp[i] = (long)(p / g->W) * g->Wp + p % g->W;
        for (int v = 0; v < OCV; v++) acc[i][v] = _mm512_setzero_ps();
    }
    const float *wk = wt + 16 * v0;
    for (int k = 0; k < K; k++, wk += ldw) {
        const float *src = in + koff[k];
        __m512 wv[4];
        for (int v = 0; v < OCV; v++) wv[v] = _mm512_loadu_ps(wk + 16 * v);
        for (int i = 0; i < MR; i++) {
            __m512 sv = _mm512_set1_ps(src[qp[i]]);
            for (int v = 0; v < OCV; v++) acc[i][v] = _mm512_fmadd_ps(sv, wv[v], acc[i][v]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < OCV; v++)
            _mm512_storeu_ps(tmpT + (long)(p0 + i) * ldt + 16 * (v0 + v), acc[i][v]);
}

#define FWDT_TILE(MR, OCV)                                                                         \
    static void fwdT_##OCV(float *tmpT, int ldt, const float *in, const float *wt, int ldw,        \
                           const long *koff, int K, const Geo *g, int p0, int v0) {                \
        fwdT_tile(tmpT, ldt, in, wt, ldw, koff, K, g, p0, v0, MR, OCV);                            \
    }
FWDT_TILE(6, 4)
FWDT_TILE(6, 3)
FWDT_TILE(6, 2)
FWDT_TILE(6, 1)
typedef void (*FwdTFn)(float *, int, const float *, const float *, int, const long *, int,
                       const Geo *, int, int);
static const FwdTFn FWDT[5] = {NULL, fwdT_1, fwdT_2, fwdT_3, fwdT_4};

/* All output channels (OCn, weights padded to ldw = up16(OCn)) of one image into tmpT [Pr, ldw]. */
static void convT_image(float *tmpT, const float *in, const float *wt, int ldw, const long *koff,
                        int Cn, const Geo *g) {
    int vecs = ldw / 16;
    for (int v0 = 0; v0 < vecs; v0 += 4) {
        int nv = vecs - v0 < 4 ? vecs - v0 : 4;
        for (int p0 = 0; p0 < g->P; p0 += 6)
            FWDT[nv](tmpT, ldw, in, wt, ldw, koff, 9 * Cn, g, p0, v0);
    }
}

/* dst[c, p] (=, or += with acc) tmpT[p, c] + bias[c] for Cn planes of P pixels, by 16 × 16 register
 * transposes; a block's store is masked only where it would leave the plane. */
static void untranspose_planes(float *dst, const float *tmpT, int ldt, const float *bias, int Cn,
                               int acc, const Geo *g) {
    for (int v = 0; v < (Cn + 15) / 16; v++)
        for (int p0 = 0; p0 < g->P; p0 += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = _mm512_loadu_ps(tmpT + (long)(p0 + i) * ldt + 16 * v);
            transpose16(r);
            int cols = g->P - p0 < 16 ? g->P - p0 : 16;
            __mmask16 m = (__mmask16)(cols == 16 ? 0xFFFF : (1u << cols) - 1);
            for (int c = 0; c < 16 && 16 * v + c < Cn; c++) {
                float *d = dst + (long)(16 * v + c) * g->P + p0;
                __m512 x = r[c];
                if (bias) x = _mm512_add_ps(x, _mm512_set1_ps(bias[16 * v + c]));
                if (acc) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, d));
                _mm512_mask_storeu_ps(d, m, x);
            }
        }
}

/* One image's Cn → OCn convolution of bordered planes `in` into dst (NCHW, = or +=), by pixel
 * vectors or, on small planes, by channel vectors. wt: [Cn·9, ldw] with ldw ≥ OCn. */
static void conv_store(float *dst, const float *in, const float *wt, int ldw, const long *koff,
                       const float *bias, int Cn, int OCn, int acc, float *tmp, const Geo *g) {
    if (g->by_pixel) {
        convT_image(tmp, in, wt, ldw, koff, Cn, g);
        untranspose_planes(dst, tmp, ldw, bias, OCn, acc, g);
    } else {
        conv_image(tmp, in, wt, ldw, Cn, OCn, g);
        unpad_planes(dst, tmp, bias, OCn, acc, g);
    }
}

/* ---- weight gradient: tdw[k, o] += Σ_p in[koff[k] + q(p)]·doutT[p, o] for taps [k0, k0 + NT)
 * and channel vectors [v0, v0 + OCV) ---- */
AI void dw_tile(float *tdw, const float *doutT, const float *in, const long *koff, const Geo *g,
                int k0, int v0, const int OCV, const int NT) {
    __m512 acc[12][4];
    float *a = tdw + (long)k0 * g->OCp + 16 * v0;
    for (int j = 0; j < NT; j++)
        for (int v = 0; v < OCV; v++) acc[j][v] = _mm512_loadu_ps(a + (long)j * g->OCp + 16 * v);
    const float *src[12];
    for (int j = 0; j < NT; j++) src[j] = in + koff[k0 + j];
    const float *d = doutT + 16 * v0;
    for (int y = 0; y < g->H; y++)
        for (int x = 0; x < g->W; x++, d += g->OCp) {
            int q = y * g->Wp + x;
            __m512 dv[4];
            for (int v = 0; v < OCV; v++) dv[v] = _mm512_loadu_ps(d + 16 * v);
            for (int j = 0; j < NT; j++) {
                __m512 sv = _mm512_set1_ps(src[j][q]);
                for (int v = 0; v < OCV; v++) acc[j][v] = _mm512_fmadd_ps(sv, dv[v], acc[j][v]);
            }
        }
    for (int j = 0; j < NT; j++)
        for (int v = 0; v < OCV; v++) _mm512_storeu_ps(a + (long)j * g->OCp + 16 * v, acc[j][v]);
}

#define DW_TILE(OCV, NT)                                                                           \
    static void dw_##OCV(float *tdw, const float *doutT, const float *in, const long *koff,        \
                         const Geo *g, int k0, int v0) {                                           \
        dw_tile(tdw, doutT, in, koff, g, k0, v0, OCV, NT);                                         \
    }
DW_TILE(4, 6)
DW_TILE(3, 8)
DW_TILE(2, 12)
DW_TILE(1, 12)
static const int DW_NT[5] = {0, 12, 12, 8, 6};
typedef void (*DwFn)(float *, const float *, const float *, const long *, const Geo *, int, int);
static const DwFn DWF[5] = {NULL, dw_1, dw_2, dw_3, dw_4};

static void dw_image(float *tdw, const float *doutT, const float *in, const long *koff,
                     const Geo *g) {
    int OCv = g->OCp / 16;
    for (int v0 = 0; v0 < OCv; v0 += 4) {
        int nv = OCv - v0 < 4 ? OCv - v0 : 4, nt = DW_NT[nv];
        for (int k0 = 0; k0 < g->CKK; k0 += nt) DWF[nv](tdw, doutT, in, koff, g, k0, v0);
    }
}

int conv3x3_supported(const ConvShape *s) {
    return s->K == 3 && s->stride == 1 && s->pad == 1 && s->H > 0 && s->W > 0;
}

long conv3x3_scratch_floats(const ConvShape *s, int threads) {
    Geo g = geo_of(s);
    return shared_floats(&g) + threads * per_thread(&g) + 2L * g.KK; /* + koff (longs) */
}

/* koff[k] = where tap k = 9·c + t of a bordered image starts; taps past 9·Cn (tile padding of the
 * weight gradient) read plane 0 and land in unused rows. */
static long *fill_koff(float *scratch, const Geo *g, int threads) {
    long *koff = (long *)(scratch + shared_floats(g) + threads * per_thread(g));
    int mc = g->C > g->OC ? g->C : g->OC;
    for (int k = 0; k < g->KK; k++) koff[k] = k < 9 * mc ? (k / 9) * g->Ps + g->toff[k % 9] : 0;
    return koff;
}

void conv3x3_forward(float *out, const float *inp, const float *w, const float *bias, int B,
                     const ConvShape *s, float *scratch) {
    Geo g = geo_of(s);
    float *wt = scratch; /* [c·9 + t, o]: the 8 weights one tile step broadcasts are adjacent */
    for (int o = 0; o < g.OCp; o++)
        for (int k = 0; k < g.CKK; k++)
            wt[(long)k * g.OCp + o] = o < g.OC ? w[(long)o * g.CKK + k] : 0.0f;
    int T = conv_threads();
    long *koff = fill_koff(scratch, &g, T);
    long in_img = (long)g.C * g.P, out_img = (long)g.OC * g.P;
#pragma omp parallel num_threads(T)
    {
        Slots z = slots_of(&g, scratch, omp_get_thread_num());
        memset(z.in_pad, 0, sizeof(float) * ((long)g.C * g.Ps + 16));
#pragma omp for schedule(static)
        for (int b = 0; b < B; b++) {
            pad_planes(z.in_pad, inp + b * in_img, g.C, &g);
            conv_store(out + b * out_img, z.in_pad, wt, g.OCp, koff, bias, g.C, g.OC, 0, z.tmp, &g);
        }
    }
}

void conv3x3_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                      const float *w, int B, const ConvShape *s, float *scratch) {
    Geo g = geo_of(s);
    float *wf = scratch + up16((long)g.CKK * g.OCp);
    if (dinp) /* the data gradient convolves ∂out with wf[(o·9 + t)·Cp + c] = w[o, c, 8 − t] */
        for (int o = 0; o < g.OC; o++)
            for (int t = 0; t < 9; t++)
                for (int c = 0; c < g.Cp; c++)
                    wf[((long)o * 9 + t) * g.Cp + c] =
                        c < g.C ? w[((long)o * g.C + c) * 9 + 8 - t] : 0.0f;
    int T = conv_threads();
    long *koff = fill_koff(scratch, &g, T);
    long in_img = (long)g.C * g.P, out_img = (long)g.OC * g.P;
    int used = 1;
#pragma omp parallel num_threads(T)
    {
        Slots z = slots_of(&g, scratch, omp_get_thread_num());
#pragma omp single
        used = omp_get_num_threads();
        memset(z.in_pad, 0, sizeof(float) * ((long)g.C * g.Ps + 16));
        memset(z.g_pad, 0, sizeof(float) * ((long)g.OC * g.Ps + 16));
        memset(z.doutT, 0, sizeof(float) * g.P * g.OCp);
        memset(z.tdw, 0, sizeof(float) * ((long)g.CKKp * g.OCp + g.OCp));
#pragma omp for schedule(static)
        for (int b = 0; b < B; b++) {
            const float *go = dout + b * out_img;
            if (dw) transpose_dout(z.doutT, go, &g);
            if (dbias)
                for (int o = 0; o < g.OC; o++) {
                    const float *r = go + (long)o * g.P;
                    float sum = 0;
#pragma omp simd reduction(+ : sum)
                    for (int p = 0; p < g.P; p++) sum += r[p];
                    z.tdb[o] += sum;
                }
            if (dw) {
                pad_planes(z.in_pad, inp + b * in_img, g.C, &g);
                dw_image(z.tdw, z.doutT, z.in_pad, koff, &g);
            }
            if (dinp) {
                pad_planes(z.g_pad, go, g.OC, &g);
                conv_store(dinp + b * in_img, z.g_pad, wf, g.Cp, koff, NULL, g.OC, g.C, 1, z.tmp,
                           &g);
            }
        }
    }
    /* fixed-order reduction of the per-thread partial sums */
    for (int t = 0; t < used; t++) {
        Slots z = slots_of(&g, scratch, t);
        if (dw)
            for (int o = 0; o < g.OC; o++)
                for (int k = 0; k < g.CKK; k++)
                    dw[(long)o * g.CKK + k] += z.tdw[(long)k * g.OCp + o];
        if (dbias)
            for (int o = 0; o < g.OC; o++) dbias[o] += z.tdb[o];
    }
}

#else /* no AVX-512: conv.c keeps im2col + sgemm */
int conv3x3_supported(const ConvShape *s) {
    (void)s;
    return 0;
}
long conv3x3_scratch_floats(const ConvShape *s, int threads) {
    (void)s, (void)threads;
    return 0;
}
void conv3x3_forward(float *out, const float *inp, const float *w, const float *bias, int B,
                     const ConvShape *s, float *scratch) {
    (void)out, (void)inp, (void)w, (void)bias, (void)B, (void)s, (void)scratch;
}
void conv3x3_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                      const float *w, int B, const ConvShape *s, float *scratch) {
    (void)dinp, (void)dw, (void)dbias, (void)dout, (void)inp, (void)w, (void)B, (void)s,
        (void)scratch;
}
#endif
