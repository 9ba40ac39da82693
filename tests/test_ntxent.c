/* NT-Xent: value and gradient against a PyTorch fixture, gradient against finite differences of a
 * double-precision reference. */
#include "core/mem.h"
#include "core/rng.h"
#include "nn/ntxent.h"
#include "ntxent_fixture.h"
#include "test.h"
#include <math.h>

static double ntxent_ref(const double *z, int N2, int D, double tau) {
    double u[64 * 16], L = 0;
    for (int i = 0; i < N2; i++) {
        double s = 0;
        for (int d = 0; d < D; d++) s += z[i * D + d] * z[i * D + d];
        for (int d = 0; d < D; d++) u[i * D + d] = z[i * D + d] / sqrt(s);
    }
    for (int i = 0; i < N2; i++) {
        double sum = 0, pos = 0;
        for (int k = 0; k < N2; k++) {
            double s = 0;
            for (int d = 0; d < D; d++) s += u[i * D + d] * u[k * D + d];
            s /= tau;
            if (k != i) sum += exp(s);
            if (k == (i ^ 1)) pos = s;
        }
        L += -pos + log(sum);
    }
    return L / N2;
}

TEST(ntxent_matches_pytorch_fixture) {
    float z[NTX_N2 * NTX_D], dz[NTX_N2 * NTX_D] = {0};
    for (int i = 0; i < NTX_N2 * NTX_D; i++) z[i] = (float)ntx_z[i];
    float *block = ml_alloc_floats(ntxent_cache_floats(NTX_N2, NTX_D));
    NtxentCache c;
    ntxent_cache_point(&c, block, NTX_N2, NTX_D);
    float L = ntxent_forward(&c, z, NTX_N2, NTX_D, NTX_TAU, NULL);
    CHECK_NEAR(L, ntx_loss, 1e-5);
    ntxent_backward(dz, &c, NTX_N2, NTX_D, NTX_TAU, 1.0f);
    for (int i = 0; i < NTX_N2 * NTX_D; i++) CHECK_NEAR(dz[i], ntx_grad[i], 1e-5);
    ml_free(block);
}

TEST(ntxent_gradient_matches_finite_differences) {
    int N2 = 12, D = 7;
    double tau = 0.2;
    Rng r;
    rng_seed(&r, 5);
    double zd[12 * 7];
    float z[12 * 7], dz[12 * 7] = {0}, top1;
    for (int i = 0; i < N2 * D; i++) zd[i] = z[i] = rng_normal(&r);
    float *block = ml_alloc_floats(ntxent_cache_floats(N2, D));
    NtxentCache c;
    ntxent_cache_point(&c, block, N2, D);
    float L = ntxent_forward(&c, z, N2, D, (float)tau, &top1);
    CHECK_NEAR(L, ntxent_ref(zd, N2, D, tau), 1e-5);
    CHECK(top1 >= 0 && top1 <= 1);
    ntxent_backward(dz, &c, N2, D, (float)tau, 2.0f); /* dloss scales the gradient */
    for (int i = 0; i < N2 * D; i++) {
        double h = 1e-5, keep = zd[i];
        zd[i] = keep + h;
        double lp = ntxent_ref(zd, N2, D, tau);
        zd[i] = keep - h;
        double lm = ntxent_ref(zd, N2, D, tau);
        zd[i] = keep;
        CHECK_NEAR(dz[i], 2 * (lp - lm) / (2 * h), 1e-4);
    }
    /* identical views of orthogonal images: loss far below that of random projections */
    for (int i = 0; i < N2 * D; i++) z[i] = 0;
    for (int k = 0; k < N2 / 2 && k < D; k++) z[(2 * k) * D + k] = z[(2 * k + 1) * D + k] = 1;
    float Lgood = ntxent_forward(&c, z, 2 * 6, D, (float)tau, &top1);
    CHECK(Lgood < L);
    CHECK(top1 == 1.0f);
    ml_free(block);
}
