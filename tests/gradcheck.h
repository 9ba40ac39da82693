/* Gradient checking against double precision. A test writes a naive double reference of its layer
 * (plain loops) as a scalar probe loss L(x) = Σ out(x)·r over all inputs and parameters packed in
 * one double vector x; gc_numeric_grad differentiates it by central differences, and gc_compare
 * checks the float layer's forward or analytic backward against it, reporting the worst element. */
#pragma once
#include "core/rng.h"

typedef double (*GcLoss)(const double *x, void *ctx);

/* (L(v + eps) − L(v − eps)) / 2eps for one double *v that loss(ctx) reads; *v is restored. */
double gc_central_diff(double (*loss)(void *ctx), void *ctx, double *v, double eps);

/* grad[i] = (L(x + eps·e_i) − L(x − eps·e_i)) / 2eps for i < n; x is restored. */
void gc_numeric_grad(GcLoss loss, double *x, long n, double eps, double *grad, void *ctx);

/* Passes when |a_i − e_i| ≤ atol + rtol·|e_i| for every i; else reports the worst element (index,
 * both values) through test_fail and returns nonzero. */
int gc_compare_at(const char *file, int line, const char *what, const float *actual,
                  const double *expected, long n, double rtol, double atol);
#define gc_compare(...) gc_compare_at(__FILE__, __LINE__, __VA_ARGS__)

/* Σ out·r: the probe loss whose gradient w.r.t. out is r (the dout fed to a backward). */
double gc_dot(const double *out, const double *r, long n);

/* Convenience: random floats N(0, std²), and float ↔ double copies. */
void gc_randn(Rng *rng, float *x, long n, float std);
void gc_to_double(double *dst, const float *src, long n);
void gc_to_float(float *dst, const double *src, long n);

/* Tolerances from the project's rule: forward vs the double reference, and analytic backward vs
 * central differences of the double reference (eps GC_EPS). */
#define GC_FWD_RTOL 1e-5
#define GC_FWD_ATOL 1e-6
#define GC_EPS 1e-6
#define GC_BWD_RTOL 1e-3
#define GC_BWD_ATOL 1e-5
