/* 3. Most exciting inputs: top-N images per expert and their grids. */
#include "analysis/vision_an.h"
#include "core/mem.h"
#include "data/images.h"
#include <stdlib.h>

typedef struct {
    double v;
    int i;
} Scored;

static int cmp_scored(const void *a, const void *b) { /* descending value, then lower index */
    const Scored *x = a, *y = b;
    if (x->v != y->v) return (x->v < y->v) - (x->v > y->v);
    return (x->i > y->i) - (x->i < y->i);
}

int mei_top(const double *s, int n, int N, int *idx) {
    Scored *t = ml_alloc(sizeof(Scored) * (n ? n : 1));
    for (int i = 0; i < n; i++) t[i] = (Scored){s[i] == s[i] ? s[i] : -1e300, i}; /* NaN last */
    qsort(t, n, sizeof(Scored), cmp_scored);
    int m = N < n ? N : n;
    for (int j = 0; j < m; j++) idx[j] = t[j].i;
    ml_free(t);
    return m;
}

int mei_write_grid(const char *path, const float *pixels, int ch, int S, const int *idx, int m,
                   int cols) {
    if (m < 1) m = 0;
    int c = cols < m ? cols : (m ? m : 1), rows = m ? (m + c - 1) / c : 1;
    int W = c * (S + 1) + 1, H = rows * (S + 1) + 1;
    float *img = ml_alloc_floats((size_t)ch * W * H);
    for (long i = 0; i < (long)ch * W * H; i++) img[i] = 0.5f; /* grey border */
    for (int j = 0; j < m; j++) {
        int x0 = 1 + (j % c) * (S + 1), y0 = 1 + (j / c) * (S + 1);
        const float *src = pixels + (long)idx[j] * ch * S * S;
        for (int k = 0; k < ch; k++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    img[(long)k * W * H + (long)(y0 + y) * W + x0 + x] =
                        src[(long)k * S * S + y * S + x];
    }
    int rc = png_write_chw(path, img, ch, W, H);
    ml_free(img);
    return rc;
}
