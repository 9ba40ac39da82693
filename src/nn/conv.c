#include "nn/conv.h"
#include "nn/conv3x3.h"
#include "nn/threads.h"
#include <cblas.h>
#include <string.h>

/* The output columns [lo, hi) whose input column ox·stride − pad + kx lies inside [0, W). */
static void valid_cols(const ConvShape *s, int kx, int OW, int *lo, int *hi) {
    int off = kx - s->pad, a = 0, b = OW;
    while (a < OW && a * s->stride + off < 0) a++;
    while (b > a && (b - 1) * s->stride + off >= s->W) b--;
    *lo = a, *hi = b;
}

/* Stride 1, same-size output (OW = W, OH = H, the 3×3 pad 1 convolutions of the vision model):
 * output pixel p of kernel tap (ky, kx) reads input pixel p + (ky − pad)·W + (kx − pad), so each
 * tap's row of the column matrix is one contiguous shifted copy of the plane, with the rows off
 * the top/bottom and the columns wrapped around the left/right edge zeroed afterwards. One long
 * copy per tap instead of one short (7–28 float) memcpy per output row. */
static int same_size_stride1(const ConvShape *s, int OH, int OW) {
    return s->stride == 1 && OH == s->H && OW == s->W;
}

/* The output rows [*ylo, *yhi) and columns [*xlo, *xhi) where tap (ky, kx) lands inside. */
static void tap_window(const ConvShape *s, int ky, int kx, int *ylo, int *yhi, int *xlo, int *xhi) {
    int dy = ky - s->pad, dx = kx - s->pad;
    *ylo = dy < 0 ? -dy : 0, *yhi = dy > 0 ? s->H - dy : s->H;
    *xlo = dx < 0 ? -dx : 0, *xhi = dx > 0 ? s->W - dx : s->W;
    if (*yhi < *ylo) *yhi = *ylo;
    if (*xhi < *xlo) *xhi = *xlo;
}

/* The zero spans are a few to ~30 floats: GCC would turn their loops into memset calls, which cost
 * more than the stores (6% of a training step in memset, measured). */
#if defined(__GNUC__) && !defined(__clang__)
#define INLINE_ZEROING __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define INLINE_ZEROING
#endif

INLINE_ZEROING static void im2col_s1(float *col, long ld, const float *img, const ConvShape *s) {
    int K = s->K, H = s->H, W = s->W;
    long HW = (long)H * W;
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                float *row = col + ((long)(c * K + ky) * K + kx) * ld;
                const float *src = img + c * HW + (long)(ky - s->pad) * W + (kx - s->pad);
                int ylo, yhi, xlo, xhi;
                tap_window(s, ky, kx, &ylo, &yhi, &xlo, &xhi);
                long a = (long)ylo * W + xlo, b = (long)(yhi - 1) * W + xhi; /* in-plane span */
                for (long p = 0; p < a; p++) row[p] = 0.0f;
                if (b > a)
                    for (long p = a; p < b; p++) row[p] = src[p];
                else
                    b = a;
                for (long p = b; p < HW; p++) row[p] = 0.0f;
                for (int y = ylo; y < yhi; y++) { /* the wrapped edge columns */
                    for (int x = 0; x < xlo; x++) row[(long)y * W + x] = 0.0f;
                    for (int x = xhi; x < W; x++) row[(long)y * W + x] = 0.0f;
                }
            }
}

/* The adjoint of im2col_s1: img += scatter(col). Clobbers the edge columns of col (zeroes them so
 * the contiguous add below does not carry them into the neighbouring row). */
INLINE_ZEROING static void col2im_s1_add(float *img, float *col, long ld, const ConvShape *s) {
    int K = s->K, H = s->H, W = s->W;
    long HW = (long)H * W;
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                float *row = col + ((long)(c * K + ky) * K + kx) * ld;
                float *dst = img + c * HW + (long)(ky - s->pad) * W + (kx - s->pad);
                int ylo, yhi, xlo, xhi;
                tap_window(s, ky, kx, &ylo, &yhi, &xlo, &xhi);
                long a = (long)ylo * W + xlo, b = (long)(yhi - 1) * W + xhi;
                if (b <= a) continue;
                for (int y = ylo; y < yhi; y++) {
                    for (int x = 0; x < xlo; x++) row[(long)y * W + x] = 0.0f;
                    for (int x = xhi; x < W; x++) row[(long)y * W + x] = 0.0f;
                }
                for (long p = a; p < b; p++) dst[p] += row[p];
            }
}

/* col[(c·K + ky)·K + kx, oy·OW + ox] = img[c, oy·stride − pad + ky, ox·stride − pad + kx] (0
 * outside). The border test is hoisted out of the pixel loop (valid_cols), so stride 1 rows are
 * straight copies: this runs once per conv and image and was a quarter of training time. */
static void im2col(float *col, long ld, const float *img, const ConvShape *s, int OH, int OW) {
    int K = s->K, S = s->stride;
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                float *row = col + ((long)(c * K + ky) * K + kx) * ld;
                int lo, hi, off = kx - s->pad;
                valid_cols(s, kx, OW, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int y = oy * S - s->pad + ky;
                    float *dst = row + oy * OW;
                    if (y < 0 || y >= s->H || lo >= hi) {
                        memset(dst, 0, sizeof(float) * OW);
                        continue;
                    }
                    const float *src = img + ((long)c * s->H + y) * s->W + off;
                    for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (S == 1)
                        memcpy(dst + lo, src + lo, sizeof(float) * (hi - lo));
                    else
                        for (int ox = lo; ox < hi; ox++) dst[ox] = src[ox * S];
                    for (int ox = hi; ox < OW; ox++) dst[ox] = 0.0f;
                }
            }
}

/* The adjoint of im2col: img += scatter(col). */
static void col2im_add(float *img, const float *col, long ld, const ConvShape *s, int OH, int OW) {
    int K = s->K, S = s->stride;
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                const float *row = col + ((long)(c * K + ky) * K + kx) * ld;
                int lo, hi, off = kx - s->pad;
                valid_cols(s, kx, OW, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int y = oy * S - s->pad + ky;
                    if (y < 0 || y >= s->H) continue;
                    float *dst = img + ((long)c * s->H + y) * s->W + off;
                    const float *src = row + oy * OW;
                    if (S == 1)
                        for (int ox = lo; ox < hi; ox++) dst[ox] += src[ox];
                    else
                        for (int ox = lo; ox < hi; ox++) dst[ox * S] += src[ox];
                }
            }
}

/* Images per GEMM: im2col columns of CHUNK images sit side by side, so one sgemm covers them
 * (per-image GEMMs were as narrow as 49 columns on the last expert block, dominated by packing). */
#define CHUNK 8

static long col_floats(const ConvShape *s) {
    return (long)s->C * s->K * s->K * conv_out_h(s) * conv_out_w(s) * CHUNK;
}

long conv2d_scratch_floats(const ConvShape *s, int threads) {
    if (conv3x3_supported(s)) return conv3x3_scratch_floats(s, threads);
    long ckk = (long)s->C * s->K * s->K, out = (long)s->OC * conv_out_h(s) * conv_out_w(s) * CHUNK;
    /* per thread: col + dcol + a chunk of outputs, plus a private dw and dbias accumulator */
    return (long)threads * (2 * col_floats(s) + out + s->OC * ckk + s->OC);
}

/* Chunk size for B images over T threads: at most CHUNK, and a chunk count that is a multiple of T
 * with near-equal chunks, so the static schedule gives every thread the same number of images
 * (40 images on 2 threads: 6 chunks of ≤ 7, 21 + 19, not 5 chunks of 8, 24 + 16). */
static int chunk_of(int B, int T) {
    if (B <= 0) return 1; /* an expert that no image chose: no chunks at all */
    int nch = (B + CHUNK - 1) / CHUNK;
    nch = (nch + T - 1) / T * T;
    int c = (B + nch - 1) / nch;
    return c < 1 ? 1 : c;
}

void conv2d_forward(float *out, const float *inp, const float *w, const float *bias, int B,
                    const ConvShape *s, float *scratch) {
    if (conv3x3_supported(s)) {
        conv3x3_forward(out, inp, w, bias, B, s, scratch);
        return;
    }
    int OH = conv_out_h(s), OW = conv_out_w(s), P = OH * OW;
    int CKK = s->C * s->K * s->K, T = conv_threads(), ch = chunk_of(B, T), nch = (B + ch - 1) / ch;
    long per_thread = conv2d_scratch_floats(s, 1), cf = col_floats(s);
    long in_img = (long)s->C * s->H * s->W, out_img = (long)s->OC * P;
#pragma omp parallel for schedule(static) num_threads(T)
    for (int ci = 0; ci < nch; ci++) {
        int b0 = ci * ch, nb = B - b0 < ch ? B - b0 : ch;
        long ld = (long)nb * P;
        float *col = scratch + omp_get_thread_num() * per_thread, *res = col + 2 * cf;
        for (int j = 0; j < nb; j++)
            if (same_size_stride1(s, OH, OW))
                im2col_s1(col + j * P, ld, inp + (b0 + j) * in_img, s);
            else
                im2col(col + j * P, ld, inp + (b0 + j) * in_img, s, OH, OW);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->OC, (int)ld, CKK, 1.0f, w, CKK,
                    col, ld, 0.0f, res, ld);
        for (int j = 0; j < nb; j++) /* [OC, nb·P] → image-major NCHW, plus the bias */
            for (int oc = 0; oc < s->OC; oc++) {
                const float *r = res + oc * ld + (long)j * P;
                float *o = out + (b0 + j) * out_img + (long)oc * P, bv = bias ? bias[oc] : 0.0f;
                for (int p = 0; p < P; p++) o[p] = r[p] + bv;
            }
    }
}

void conv2d_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int B, const ConvShape *s, float *scratch) {
    if (conv3x3_supported(s)) {
        conv3x3_backward(dinp, dw, dbias, dout, inp, w, B, s, scratch);
        return;
    }
    int OH = conv_out_h(s), OW = conv_out_w(s), P = OH * OW;
    int CKK = s->C * s->K * s->K, T = conv_threads(), ch = chunk_of(B, T), nch = (B + ch - 1) / ch;
    long per_thread = conv2d_scratch_floats(s, 1), cf = col_floats(s);
    long in_img = (long)s->C * s->H * s->W, out_img = (long)s->OC * P;
    long out_chunk = (long)s->OC * P * CHUNK;
    for (int t = 0; t < T; t++) {
        float *acc = scratch + t * per_thread + 2 * cf + out_chunk;
        memset(acc, 0, sizeof(float) * ((long)s->OC * CKK + s->OC));
    }
#pragma omp parallel for schedule(static) num_threads(T)
    for (int ci = 0; ci < nch; ci++) {
        int b0 = ci * ch, nb = B - b0 < ch ? B - b0 : ch;
        long ld = (long)nb * P;
        float *base = scratch + omp_get_thread_num() * per_thread;
        float *col = base, *dcol = base + cf, *go = base + 2 * cf;
        float *tdw = go + out_chunk, *tdb = tdw + (long)s->OC * CKK;
        for (int j = 0; j < nb; j++) /* dout of the chunk as [OC, nb·P] */
            for (int oc = 0; oc < s->OC; oc++)
                memcpy(go + oc * ld + (long)j * P, dout + (b0 + j) * out_img + (long)oc * P,
                       sizeof(float) * P);
        if (dw) {
            for (int j = 0; j < nb; j++)
                if (same_size_stride1(s, OH, OW))
                    im2col_s1(col + j * P, ld, inp + (b0 + j) * in_img, s);
                else
                    im2col(col + j * P, ld, inp + (b0 + j) * in_img, s, OH, OW);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->OC, CKK, (int)ld, 1.0f, go, ld,
                        col, ld, 1.0f, tdw, CKK);
        }
        if (dbias)
            for (int oc = 0; oc < s->OC; oc++) {
                float acc = 0;
                const float *g = go + oc * ld;
#pragma omp simd reduction(+ : acc)
                for (long p = 0; p < ld; p++) acc += g[p];
                tdb[oc] += acc;
            }
        if (dinp) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, (int)ld, s->OC, 1.0f, w, CKK,
                        go, ld, 0.0f, dcol, ld);
            for (int j = 0; j < nb; j++)
                if (same_size_stride1(s, OH, OW))
                    col2im_s1_add(dinp + (b0 + j) * in_img, dcol + j * P, ld, s);
                else
                    col2im_add(dinp + (b0 + j) * in_img, dcol + j * P, ld, s, OH, OW);
        }
    }
    /* fixed-order reduction of the per-thread partial sums */
    for (int t = 0; t < T; t++) {
        const float *tdw = scratch + t * per_thread + 2 * cf + out_chunk,
                    *tdb = tdw + (long)s->OC * CKK;
        if (dw)
            for (long i = 0; i < (long)s->OC * CKK; i++) dw[i] += tdw[i];
        if (dbias)
            for (int oc = 0; oc < s->OC; oc++) dbias[oc] += tdb[oc];
    }
}
