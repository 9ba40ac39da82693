/* 3. Most exciting inputs: top-N images per expert and their grids. */
/* 3. Most exciting inputs over a model: per expert the top-N images by gate probability and by
 * readout norm (expert force-run), as PNG grids plus the indices and scores; then the synthesised
 * ones (synth.c). */
#include "analysis/vision/mei.h"
#include "analysis/vision/vision_analyze.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/images.h"
#include <stdio.h>
#include <stdlib.h>

/* ---- array math (tested on constructed inputs) ---- */

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

/* ---- over a model: files written ---- */

static cJSON *top_json(const VaCtx *c, const int *idx, int m, const double *score) {
    cJSON *a = cJSON_CreateArray();
    const ImageSet *s = c->set;
    int fine = s->n_levels - 1;
    for (int j = 0; j < m; j++) {
        int i = idx[j];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "image", i);
        cJSON_AddNumberToObject(o, "score", score[i]);
        cJSON_AddStringToObject(o, "class", s->class_names[fine][s->labels[(long)fine * s->n + i]]);
        if (s->concept && s->concept[i] >= 0)
            cJSON_AddStringToObject(o, "concept", s->concept_names[s->concept[i]]);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

int va_mei(VaCtx *c) {
    const ImageSet *s = c->set;
    int n = c->n, N = c->o->mei_n, cols = N < 8 ? N : 8, rc = 0;
    double *score = ml_alloc(sizeof(double) * n);
    int *idx = ml_alloc(sizeof(int) * n);
    int32_t *all = ml_alloc(sizeof(int32_t) * (size_t)c->E * 2 * (N > n ? n : N));
    cJSON *j = cJSON_CreateObject(), *ex = cJSON_AddArrayToObject(j, "experts");
    cJSON_AddNumberToObject(j, "n", N);
    int per = N > n ? n : N;
    for (int e = 0; e < c->E && !rc; e++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "expert", e);
        for (int by = 0; by < 2 && !rc; by++) {
            for (int i = 0; i < n; i++)
                score[i] = by ? va_readout_norm(c, e, i) : c->probs[(long)i * c->E + e];
            int m = mei_top(score, n, N, idx);
            for (int q = 0; q < m; q++) all[((long)e * 2 + by) * per + q] = idx[q];
            char name[64];
            snprintf(name, sizeof name, "mei_e%d_%s.png", e, by ? "readout" : "gate");
            char *path = ml_path_join(c->o->out_dir, name);
            rc = mei_write_grid(path, s->pixels, s->channels, s->size, idx, m, cols);
            ml_free(path);
            cJSON_AddStringToObject(o, by ? "readout_grid" : "gate_grid", name);
            cJSON_AddItemToObject(o, by ? "by_readout_norm" : "by_gate",
                                  top_json(c, idx, m, score));
        }
        cJSON_AddItemToArray(ex, o);
    }
    int64_t sh[3] = {c->E, 2, per};
    if (!rc) rc = va_write_npy(c, "mei_index.npy", "<i4", sh, 3, all);
    if (!rc && c->o->synth_steps > 0) {
        cJSON_AddNumberToObject(j, "synth_steps", c->o->synth_steps);
        cJSON_AddNumberToObject(j, "synth_tv", c->o->synth_tv);
        cJSON_AddNumberToObject(j, "synth_l2", c->o->synth_l2);
        if (va_mei_synth(c, all, per, ex)) { /* the dataset MEIs stand; say why none were made */
            cJSON_AddStringToObject(j, "synth_skipped", ml_errmsg());
            if (!c->o->quiet) fprintf(stderr, "analyze: warning: %s\n", ml_errmsg());
        }
    }
    if (!rc) rc = va_write_json(c, "mei.json", j);
    cJSON_Delete(j);
    ml_free(score), ml_free(idx), ml_free(all);
    return rc;
}
