/* Times one MoE layer forward+backward on the LM's tiny preset (N=2048 tokens, C=128, E=8,
 * top-2, H=512, GELU). Build: make && cc -O3 -fopenmp -Isrc bench/moe_layer.c build/libmoelens.a
 *   -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lcjson -lpng -lz -lm -o build/moe_bench
 * Run: OMP_NUM_THREADS=2 build/moe_bench   (peer: bench/moe_layer_torch.py) */
#include "core/mem.h"
#include "nn/moe.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void) {
    MoeConfig cfg = {.d_model = 128,
                     .n_experts = 8,
                     .top_k = 2,
                     .hidden = 512,
                     .init_std = 0.02f,
                     .weight_scale = 1,
                     .aux_lb_coef = 0.01f,
                     .aux_z_coef = 0.001f,
                     .seed = 1};
    const int B = 8, T = 256, N = B * T, C = cfg.d_model;
    long np = moe_num_params(&cfg);
    float *base = ml_alloc_floats(np), *gbase = ml_alloc_floats(np);
    MoeParams p, g;
    moe_point_params(&p, base, &cfg);
    moe_point_params(&g, gbase, &cfg);
    Rng rng;
    rng_seed(&rng, 1);
    moe_init_params(&p, &cfg, &rng);
    MoeActs a;
    moe_acts_alloc(&a, &cfg, N, T);
    float *x = ml_alloc_floats((size_t)N * C), *out = ml_alloc_floats((size_t)N * C);
    float *dout = ml_alloc_floats((size_t)N * C), *dx = ml_alloc_floats((size_t)N * C);
    rng_fill_normal(&rng, x, (long)N * C, 1.0f);
    rng_fill_normal(&rng, dout, (long)N * C, 1.0f);
    double tf = 0, tb = 0;
    const int iters = 20;
    for (int it = -3; it < iters; it++) {
        double t0 = now();
        moe_forward(out, &a, &p, &cfg, NULL, x, NULL, NULL, B, T, 1, &rng);
        double t1 = now();
        memset(dx, 0, (size_t)N * C * sizeof(float));
        moe_backward(dx, &g, dout, &a, &p, &cfg, x, B, T);
        double t2 = now();
        if (it >= 0) tf += t1 - t0, tb += t2 - t1;
    }
    printf("moe layer N=%d C=%d E=%d k=%d H=%d: forward %.3f ms, backward %.3f ms\n", N, C,
           cfg.n_experts, cfg.top_k, cfg.hidden, 1e3 * tf / iters, 1e3 * tb / iters);
    return 0;
}
