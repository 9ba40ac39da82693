#include "stats/probe.h"
#include "core/error.h"
#include "core/mem.h"
#include <cblas.h>
#include <math.h>
#include <string.h>

ProbeConfig probe_default_config(void) {
    return (ProbeConfig){.l2 = 1e-3f, .iters = 300, .lr = 0.05f};
}

static void standardise(float *out, const float *X, const Probe *p, int n) {
    for (long i = 0; i < (long)n * p->D; i++) {
        int d = (int)(i % p->D);
        out[i] = (X[i] - p->mu[d]) / p->sd[d];
    }
}

/* logits [n,K] = Xs·Wᵀ + b */
static void probe_logits(float *logits, const float *Xs, const Probe *p, int n) {
    for (int i = 0; i < n; i++) memcpy(logits + (long)i * p->K, p->b, sizeof(float) * p->K);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, p->K, p->D, 1.0f, Xs, p->D, p->W, p->D,
                1.0f, logits, p->K);
}

int probe_fit(Probe *p, const float *X, const int32_t *y, int n, int D, int K,
              const ProbeConfig *cfg) {
    if (n <= 0) return ml_error("probe: no training rows");
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= K)
            return ml_error("probe: label %d of row %d not in [0,%d)", y[i], i, K);
    p->D = D, p->K = K;
    p->W = ml_alloc_floats((size_t)K * D), p->b = ml_alloc_floats(K);
    p->mu = ml_alloc_floats(D), p->sd = ml_alloc_floats(D);
    for (int d = 0; d < D; d++) {
        double s = 0, ss = 0;
        for (int i = 0; i < n; i++) s += X[(long)i * D + d];
        double m = s / n;
        for (int i = 0; i < n; i++) ss += (X[(long)i * D + d] - m) * (X[(long)i * D + d] - m);
        p->mu[d] = (float)m;
        p->sd[d] = (float)sqrt(ss / n + 1e-8);
    }
    long nw = (long)K * D + K; /* W then b in one gradient/moment vector */
    float *Xs = ml_alloc_floats((size_t)n * D), *G = ml_alloc_floats((size_t)n * K);
    float *grad = ml_alloc_floats(nw), *m = ml_alloc_floats(nw), *v = ml_alloc_floats(nw);
    standardise(Xs, X, p, n);
    for (int t = 1; t <= cfg->iters; t++) {
        probe_logits(G, Xs, p, n);
        for (int i = 0; i < n; i++) { /* G = (softmax − onehot)/n */
            float *row = G + (long)i * K, mx = row[0];
            for (int k = 1; k < K; k++) mx = fmaxf(mx, row[k]);
            double s = 0;
            for (int k = 0; k < K; k++) s += row[k] = expf(row[k] - mx);
            for (int k = 0; k < K; k++) row[k] = (float)(row[k] / s) / n;
            row[y[i]] -= 1.0f / n;
        }
        for (long j = 0; j < (long)K * D; j++) grad[j] = cfg->l2 * p->W[j];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, D, n, 1.0f, G, K, Xs, D, 1.0f, grad,
                    D);
        for (int k = 0; k < K; k++) {
            float s = 0;
            for (int i = 0; i < n; i++) s += G[(long)i * K + k];
            grad[(long)K * D + k] = s;
        }
        float bc1 = 1 - powf(0.9f, t), bc2 = 1 - powf(0.999f, t);
        for (long j = 0; j < nw; j++) {
            m[j] = 0.9f * m[j] + 0.1f * grad[j];
            v[j] = 0.999f * v[j] + 0.001f * grad[j] * grad[j];
            float step = cfg->lr * (m[j] / bc1) / (sqrtf(v[j] / bc2) + 1e-8f);
            if (j < (long)K * D)
                p->W[j] -= step;
            else
                p->b[j - (long)K * D] -= step;
        }
    }
    ml_free(Xs), ml_free(G), ml_free(grad), ml_free(m), ml_free(v);
    return 0;
}

void probe_predict(const Probe *p, const float *X, int n, int32_t *pred) {
    float *Xs = ml_alloc_floats((size_t)n * p->D), *L = ml_alloc_floats((size_t)n * p->K);
    standardise(Xs, X, p, n);
    probe_logits(L, Xs, p, n);
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int k = 1; k < p->K; k++)
            if (L[(long)i * p->K + k] > L[(long)i * p->K + best]) best = k;
        pred[i] = best;
    }
    ml_free(Xs), ml_free(L);
}

double probe_accuracy(const Probe *p, const float *X, const int32_t *y, int n) {
    if (n <= 0) return 0;
    int32_t *pred = ml_alloc(sizeof(int32_t) * n);
    probe_predict(p, X, n, pred);
    int hits = 0;
    for (int i = 0; i < n; i++) hits += pred[i] == y[i];
    ml_free(pred);
    return (double)hits / n;
}

void probe_free(Probe *p) {
    ml_free(p->W), ml_free(p->b), ml_free(p->mu), ml_free(p->sd);
    memset(p, 0, sizeof *p);
}

double probe_train_eval(const float *Xtr, const int32_t *ytr, int ntr, const float *Xte,
                        const int32_t *yte, int nte, int D, int K, const ProbeConfig *cfg) {
    Probe p;
    if (probe_fit(&p, Xtr, ytr, ntr, D, K, cfg) != 0) return -1;
    double acc = probe_accuracy(&p, Xte, yte, nte);
    probe_free(&p);
    return acc;
}

/* Rows of X whose side[i] is 0 fit a probe, rows with side 1 test it (others sit out): the test
 * accuracy, or -1 + ml_error when a side is empty. */
static double probe_sides(const float *X, const int32_t *y, const int8_t *side, int n, int D, int K,
                          const ProbeConfig *cfg) {
    float *xs[2] = {ml_alloc_floats((size_t)n * D + 1), ml_alloc_floats((size_t)n * D + 1)};
    int32_t *ys[2] = {ml_alloc(sizeof(int32_t) * (n + 1)), ml_alloc(sizeof(int32_t) * (n + 1))};
    int cnt[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        int s = side[i];
        if (s != 0 && s != 1) continue;
        memcpy(xs[s] + (long)cnt[s] * D, X + (long)i * D, sizeof(float) * D);
        ys[s][cnt[s]++] = y[i];
    }
    double acc = cnt[0] && cnt[1]
                     ? probe_train_eval(xs[0], ys[0], cnt[0], xs[1], ys[1], cnt[1], D, K, cfg)
                     : ml_error("probe: %d rows to fit and %d to test: need both", cnt[0], cnt[1]);
    for (int s = 0; s < 2; s++) ml_free(xs[s]), ml_free(ys[s]);
    return acc;
}

double probe_within(const float *X, const int32_t *y, const int32_t *groups, int n, int D, int K,
                    const ProbeConfig *cfg) {
    int8_t *side = ml_alloc((size_t)n + 1);
    for (int i = 0; i < n; i++) side[i] = groups ? (int8_t)(groups[i] & 1) : i >= n / 2;
    double acc = probe_sides(X, y, side, n, D, K, cfg);
    ml_free(side);
    return acc;
}

double probe_leave_group_out(const float *X, const int32_t *y, const int32_t *groups, int n, int D,
                             int K, const ProbeConfig *cfg) {
    int G = 0;
    for (int i = 0; i < n; i++) G = groups[i] >= G ? groups[i] + 1 : G;
    int8_t *side = ml_alloc((size_t)n + 1);
    double sum = 0;
    int held = 0;
    for (int g = 0; g < G; g++) {
        int rows = 0;
        for (int i = 0; i < n; i++) /* g's rows test, other groups fit, id -1 sits out */
            rows += (side[i] = groups[i] < 0 ? 2 : groups[i] == g) == 1;
        if (!rows) continue; /* an id no row carries */
        double acc = probe_sides(X, y, side, n, D, K, cfg);
        if (acc < 0) return ml_free(side), -1;
        sum += acc, held++;
    }
    ml_free(side);
    return held >= 2 ? sum / held
                     : ml_error("probe: leave-one-group-out needs rows of at least 2 groups");
}
