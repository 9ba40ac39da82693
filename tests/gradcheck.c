#include "gradcheck.h"
#include "test.h"
#include <math.h>

double gc_central_diff(double (*loss)(void *ctx), void *ctx, double *v, double eps) {
    double keep = *v;
    *v = keep + eps;
    double up = loss(ctx);
    *v = keep - eps;
    double down = loss(ctx);
    *v = keep;
    return (up - down) / (2 * eps);
}

typedef struct {
    GcLoss loss;
    double *x;
    void *ctx;
} VectorLoss;

static double vector_loss(void *p) {
    VectorLoss *v = p;
    return v->loss(v->x, v->ctx);
}

void gc_numeric_grad(GcLoss loss, double *x, long n, double eps, double *grad, void *ctx) {
    VectorLoss vl = {loss, x, ctx};
    for (long i = 0; i < n; i++) grad[i] = gc_central_diff(vector_loss, &vl, &x[i], eps);
}

int gc_compare_at(const char *file, int line, const char *what, const float *actual,
                  const double *expected, long n, double rtol, double atol) {
    long worst = -1;
    double worst_ratio = 1.0; /* error / allowed; > 1 fails */
    for (long i = 0; i < n; i++) {
        double err = fabs((double)actual[i] - expected[i]);
        double ratio = err / (atol + rtol * fabs(expected[i]));
        if (isnan(ratio)) { /* a NaN anywhere is the worst possible element */
            worst = i;
            break;
        }
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = i;
        }
    }
    if (worst < 0) return 0;
    test_fail(
        __FILE__, __LINE__,
        "%s: element %ld of %ld: got %.9g, expected %.9g (|diff| %.3g > %.3g + %.3g·|expected|)",
        what, worst, n, actual[worst], expected[worst], fabs(actual[worst] - expected[worst]), atol,
        rtol);
    return 1;
}

void gc_randn(Rng *rng, float *x, long n, float std) {
    rng_fill_normal(rng, x, n, std);
}

void gc_to_double(double *dst, const float *src, long n) {
    for (long i = 0; i < n; i++) dst[i] = src[i];
}

void gc_to_float(float *dst, const double *src, long n) {
    for (long i = 0; i < n; i++) dst[i] = (float)src[i];
}

double gc_dot(const double *out, const double *r, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += out[i] * r[i];
    return s;
}
