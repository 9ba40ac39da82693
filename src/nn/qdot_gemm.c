/* out = x · Wᵀ on the integer kernels: the activations quantised once per call, then blocks of
 * QDOT_ROWS weight rows decoded and run against all of them (qdot.h). */
#include "core/mem.h"
#include "nn/qdot.h"
#include "nn/threads.h"

/* Per-thread scratch, grown on demand and kept for the next call (as wmat.c's tiles). */
static _Thread_local QActs t_acts;
static _Thread_local size_t t_acts_q, t_acts_g; /* capacity: bytes of q, floats of d and sum */
static _Thread_local QWRows t_rows;

static QActs *acts_scratch(long n, int C, uint32_t type) {
    const int g = qdot_group(type), cp = qdot_padded(C, g), gp = cp / g;
    if ((size_t)n * cp > t_acts_q || (size_t)n * gp > t_acts_g) {
        qacts_free(&t_acts);
        qacts_alloc(&t_acts, n, C, type);
        t_acts_q = (size_t)n * cp, t_acts_g = (size_t)n * gp;
    }
    t_acts.g = g, t_acts.blk = qdot_act_block(type), t_acts.zp = qdot_zero_point(type);
    t_acts.cp = cp, t_acts.gp = gp, t_acts.n = n;
    return &t_acts;
}

static QWRows *rows_scratch(int C, int g) {
    const int cp = qdot_padded(C, g);
    if (!t_rows.u || cp > t_rows.cp || cp / g > t_rows.gp) {
        qwrows_free(&t_rows);
        qwrows_alloc(&t_rows, C, g);
    }
    t_rows.g = g, t_rows.cp = cp, t_rows.gp = cp / g;
    return &t_rows;
}

void qdot_gemm(float *out, const float *x, uint32_t type, const uint8_t *src, uint64_t row_bytes,
               int N, int C, int OC) {
    const int g = qdot_group(type), nb = (OC + QDOT_ROWS - 1) / QDOT_ROWS;
    QActs *a = acts_scratch(N, C, type);
    const QdotKernel kernel = qdot_kernel();
    /* one parallel region (one fork and join): each thread quantises its share of the rows, then
     * the weight blocks are shared out */
#pragma omp parallel if (!omp_in_parallel())
    {
        const int T = omp_get_num_threads(), t = omp_get_thread_num();
        qacts_quantise_rows(a, x, (long)N * t / T, (long)N * (t + 1) / T, C);
#pragma omp barrier
#pragma omp for schedule(dynamic, 4)
        for (int b = 0; b < nb; b++) {
            const int o0 = b * QDOT_ROWS, nr = OC - o0 < QDOT_ROWS ? OC - o0 : QDOT_ROWS;
            QWRows *w = rows_scratch(C, g);
            qwrows_decode(w, type, src + (uint64_t)o0 * row_bytes, row_bytes, nr, C);
            kernel(w, a, out + o0, OC, nr);
        }
    }
}
