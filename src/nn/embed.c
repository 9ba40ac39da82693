#include "nn/embed.h"
#include "nn/threads.h"

void embed_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe, int B,
                   int T, int C) {
#pragma omp parallel for schedule(static)
    for (long bt = 0; bt < (long)B * T; bt++) {
        float *o = out + bt * C;
        const float *e = wte + (long)tokens[bt] * C;
        if (wpe) {
            const float *p = wpe + (bt % T) * C;
            for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
        } else {
            for (int c = 0; c < C; c++) o[c] = e[c];
        }
    }
}

/* Several positions may hold the same token, so rows of dwte are shared between (b,t). Each thread
 * owns a slice of the C columns and walks all positions in order: no races, and every element is
 * summed in the same order whatever the thread count (bit-identical results). */
void embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens, int B,
                    int T, int C) {
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), tid = omp_get_thread_num();
        int c0 = (int)((long)C * tid / nt), c1 = (int)((long)C * (tid + 1) / nt);
        for (long bt = 0; bt < (long)B * T; bt++) {
            const float *d = dout + bt * C;
            float *g = dwte + (long)tokens[bt] * C;
            for (int c = c0; c < c1; c++) g[c] += d[c];
            if (dwpe) {
                float *gp = dwpe + (bt % T) * C;
                for (int c = c0; c < c1; c++) gp[c] += d[c];
            }
        }
    }
}
