/* Effective rank: known spectra give known values; eigenvalues of a rotated diagonal come back. */
#include "stats/erank.h"
#include "core/mem.h"
#include "core/rng.h"
#include "test.h"
#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

TEST(erank_eigenvalues_of_a_rotated_diagonal) {
    enum { D = 6 };
    double lam[D] = {0.5, 1, 2, 3, 5, 8}, R[D * D], a[D * D] = {0}, w[D];
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < D * D; i++) R[i] = rng_uniform(&r) - 0.5;
    for (int j = 0; j < D; j++) { /* Gram–Schmidt on the columns: R orthogonal */
        for (int k = 0; k < j; k++) {
            double dot = 0;
            for (int i = 0; i < D; i++) dot += R[i * D + j] * R[i * D + k];
            for (int i = 0; i < D; i++) R[i * D + j] -= dot * R[i * D + k];
        }
        double nrm = 0;
        for (int i = 0; i < D; i++) nrm += R[i * D + j] * R[i * D + j];
        for (int i = 0; i < D; i++) R[i * D + j] /= sqrt(nrm);
    }
    for (int i = 0; i < D; i++) /* a = R diag(lam) Rᵀ */
        for (int j = 0; j < D; j++)
            for (int k = 0; k < D; k++) a[i * D + j] += R[i * D + k] * lam[k] * R[j * D + k];
    sym_eigenvalues(a, D, w);
    qsort(w, D, sizeof(double), cmp_double);
    for (int i = 0; i < D; i++) CHECK_NEAR(w[i], lam[i], 1e-9);
}

TEST(erank_known_spectra) {
    enum { N = 4096, D = 8 }; /* 4096 = 2^12: the ±1 bit patterns below are exactly balanced */
    float *X = ml_alloc_floats(N * D);
    /* k equal, uncorrelated directions (±1 patterns, exactly orthogonal), rest constant: erank = k
     */
    for (int k = 1; k <= D; k *= 2) {
        for (int i = 0; i < N; i++)
            for (int d = 0; d < D; d++)
                X[i * D + d] = d < k ? (float)(((i >> d) & 1) ? 1 : -1) + 3.0f : 7.0f;
        CHECK_NEAR(effective_rank(X, N, D), k, 1e-6);
    }
    /* one line through the rows, whatever its direction: erank = 1 */
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) X[i * D + d] = (float)((i % 17) * (d + 1));
    CHECK_NEAR(effective_rank(X, N, D), 1, 1e-4); /* σ = √eigenvalue magnifies rounding */
    /* singular values 1 and 3 (two ±1 columns scaled): p = 1/4, 3/4 */
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++)
            X[i * D + d] = d == 0   ? (((i & 1) ? 1.f : -1.f))
                           : d == 1 ? (((i >> 1) & 1) ? 3.f : -3.f)
                                    : 0;
    CHECK_NEAR(effective_rank(X, N, D), exp(-(0.25 * log(0.25) + 0.75 * log(0.75))), 1e-6);
    CHECK(effective_rank(X, 1, D) == 0);
    ml_free(X);
}
