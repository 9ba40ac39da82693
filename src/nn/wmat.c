#include "nn/wmat.h"
#include "core/mem.h"
#include "nn/linear.h"
#include "nn/qdot.h"
#include <cblas.h>
#include "nn/threads.h"
#include <string.h>

/* Per-thread scratch for one dequantised tile; grown on demand and kept for the next call. */
static _Thread_local float *tile_buf;
static _Thread_local long tile_cap;

static float *tile_scratch(long n) {
    if (n > tile_cap) {
        ml_free(tile_buf);
        tile_buf = ml_alloc_floats(n);
        tile_cap = n;
    }
    return tile_buf;
}

void wref_rows(float *out, WRef w, long r0, long n, int C) {
    if (w.f) {
        memcpy(out, w.f + r0 * C, (size_t)n * C * sizeof(float));
        return;
    }
    /* ranges come from the loader's checked shapes, so this cannot fail */
    gguf_dequant_raw(w.q->type, w.q->data + (w.row0 + (uint64_t)r0) * w.q->row_bytes, out,
                     n * (int64_t)C);
}

int wref_tile_floats = 262144;

/* Rows per tile: about wref_tile_floats floats (1 MiB: measured 17 % less CPU than 64 KB tiles on
 * Q8_0 and Q4_K_M, where OpenBLAS re-packed the input for every 16-row tile). */
static int tile_rows(int C, int OC) {
    int r = (wref_tile_floats + C - 1) / C;
    if (r < 1) r = 1;
    return r > OC ? OC : r;
}

static void tile_gemm(float *out, const float *inp, WRef w, int N, int C, int OC, int o0, int R) {
    float *t = tile_scratch((long)R * C);
    wref_rows(t, w, o0, R, C);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, R, C, 1.0f, inp, C, t, C, 0.0f,
                out + o0, OC);
}

/* The quantised rows tile by tile: each tile dequantised, then one sgemm. */
static void tiles_forward(float *out, const float *inp, WRef w, int N, int C, int OC) {
    int R = tile_rows(C, OC), ntiles = (OC + R - 1) / R;
    if (omp_in_parallel()) {
        for (int i = 0; i < ntiles; i++) {
            int o0 = i * R;
            tile_gemm(out, inp, w, N, C, OC, o0, OC - o0 < R ? OC - o0 : R);
        }
    } else {
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = 0; i < ntiles; i++) {
            int o0 = i * R;
            tile_gemm(out, inp, w, N, C, OC, o0, OC - o0 < R ? OC - o0 : R);
        }
    }
}

int wref_qdot(WRef w) {
    return !w.f && qdot_group(w.q->type) && qdot_mode() != QDOT_OFF;
}

void wref_forward(float *out, const float *inp, WRef w, const float *bias, int N, int C, int OC) {
    if (N <= 0) return;
    if (w.f || w.q->type == GGML_F32) {
        const float *f = w.f ? w.f : (const float *)(const void *)w.q->data + w.row0 * (uint64_t)C;
        linear_forward(out, inp, f, bias, N, C, OC);
        return;
    }
    if (wref_qdot(w))
        qdot_gemm(out, inp, w.q->type, w.q->data + w.row0 * w.q->row_bytes, w.q->row_bytes, N, C,
                  OC);
    else
        tiles_forward(out, inp, w, N, C, OC);
    if (bias) {
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(long)n * OC + o] += bias[o];
    }
}
