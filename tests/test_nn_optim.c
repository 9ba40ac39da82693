#include "core/mem.h"
#include "gradcheck.h"
#include "nn/optim.h"
#include "test.h"
#include <math.h>
#include "nn/threads.h"

enum { ON = 4 };

/* The AdamW formula in double, one step (PyTorch order: decay, moments, bias-corrected step). */
static void adamw_ref(double *p, double *m, double *v, const double *g, int t, double lr, double b1,
                      double b2, double eps, double wd) {
    for (int i = 0; i < ON; i++) {
        p[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        double mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t));
        p[i] -= lr * mhat / (sqrt(vhat) + eps);
    }
}

static void check_adamw(int decay, const double *torch_values) {
    const float p0[ON] = {0.5f, -1.25f, 2.0f, 0.0f};
    const float g[2][ON] = {{0.3f, -0.2f, 1e-3f, 0.7f}, {-0.1f, -0.4f, 2e-3f, 0.0f}};
    AdamW opt = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f};
    float p[ON], m[ON] = {0}, v[ON] = {0};
    double pd[ON], md[ON] = {0}, vd[ON] = {0}, gd[ON];
    for (int i = 0; i < ON; i++) pd[i] = p[i] = p0[i];
    for (int t = 1; t <= 2; t++) {
        adamw_update(&opt, p, g[t - 1], m, v, ON, t, opt.lr, decay);
        gc_to_double(gd, g[t - 1], ON);
        adamw_ref(pd, md, vd, gd, t, opt.lr, opt.beta1, opt.beta2, opt.eps,
                  decay ? opt.weight_decay : 0);
    }
    gc_compare("adamw vs formula", p, pd, ON, 1e-6, 1e-7);
    gc_compare("adamw m", m, md, ON, 1e-6, 1e-9);
    gc_compare("adamw v", v, vd, ON, 1e-6, 1e-12);
    /* torch.optim.AdamW(lr=1e-2, betas=(0.9, 0.999), eps=1e-8), float32, same two steps */
    gc_compare("adamw vs torch 1.13", p, torch_values, ON, 1e-6, 1e-7);
}

TEST(nn_adamw_two_steps_with_decay) {
    const double torch_wd[ON] = {0.485008329, -1.2278595, 1.97636044, -0.016690582};
    check_adamw(1, torch_wd);
}

TEST(nn_adamw_two_steps_without_decay) {
    const double torch_nowd[ON] = {0.485997826, -1.23034823, 1.98034835, -0.0167005826};
    check_adamw(0, torch_nowd);
}

TEST(nn_grad_norm_and_scale) {
    float g[2] = {3, 4};
    CHECK_NEAR(grad_norm(g, 2), 5.0, 1e-12);
    scale_inplace(g, 2, 0.5f);
    CHECK(g[0] == 1.5f && g[1] == 2.0f);

    long n = 100003;
    float *x = ml_alloc_floats(n);
    Rng rng;
    rng_seed(&rng, 50);
    gc_randn(&rng, x, n, 1.0f);
    double ref = 0;
    for (long i = 0; i < n; i++) ref += (double)x[i] * x[i];
    int saved = omp_get_max_threads();
    omp_set_num_threads(2);
    double two = grad_norm(x, n), two_again = grad_norm(x, n);
    omp_set_num_threads(saved);
    CHECK_NEAR(two, sqrt(ref), 1e-9 * sqrt(ref));
    CHECK(two == two_again);
    ml_free(x);
}
