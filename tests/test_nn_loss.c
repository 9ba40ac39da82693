#include "gradcheck.h"
#include "nn/loss.h"
#include "test.h"
#include <math.h>
#include <string.h>

enum { XN = 5, XV = 7 };

typedef struct {
    const int32_t *targets;
    double scale;
    double probs[XN * XV], losses[XN];
} XentCtx;

/* scale · Σ_n (log Σ_j exp z_nj − z_n,target), ignored rows skipped. */
static double xent_probe(const double *z, void *ctx) {
    XentCtx *c = ctx;
    double total = 0;
    for (int n = 0; n < XN; n++) {
        const double *row = z + n * XV;
        double mx = row[0], sum = 0;
        for (int j = 1; j < XV; j++) mx = fmax(mx, row[j]);
        for (int j = 0; j < XV; j++) sum += exp(row[j] - mx);
        for (int j = 0; j < XV; j++) c->probs[n * XV + j] = exp(row[j] - mx) / sum;
        int t = c->targets[n];
        c->losses[n] = t >= 0 ? mx + log(sum) - row[t] : 0;
        total += c->losses[n];
    }
    return c->scale * total;
}

TEST(nn_xent_gradcheck_with_ignored_target) {
    const int32_t targets[XN] = {2, -1, 6, 0, 3};
    Rng rng;
    rng_seed(&rng, 40);
    float z[XN * XV], probs[XN * XV], losses[XN], dz[XN * XV];
    double zd[XN * XV], num[XN * XV];
    gc_randn(&rng, z, XN * XV, 2.0f);
    for (int j = 0; j < XV; j++) z[4 * XV + j] += 80.0f; /* large logits: needs the max shift */
    gc_to_double(zd, z, XN * XV);
    XentCtx c = {targets, 1.0 / 4, {0}, {0}}; /* mean over the 4 rows that count */
    double ref_total = xent_probe(zd, &c) / c.scale;

    double total = xent_forward(probs, losses, z, targets, XN, XV);
    CHECK_NEAR(total, ref_total, 1e-5 * fabs(ref_total));
    CHECK(losses[1] == 0);
    gc_compare("xent probs", probs, c.probs, XN * XV, GC_FWD_RTOL, GC_FWD_ATOL);
    gc_compare("xent losses", losses, c.losses, XN, GC_FWD_RTOL, GC_FWD_ATOL);

    xent_backward(dz, probs, targets, XN, XV, (float)c.scale);
    gc_numeric_grad(xent_probe, zd, XN * XV, GC_EPS, num, &c);
    gc_compare("xent dlogits", dz, num, XN * XV, GC_BWD_RTOL, GC_BWD_ATOL);
    for (int j = 0; j < XV; j++) CHECK(dz[1 * XV + j] == 0);
}

/* probs may alias logits, and dlogits may alias probs: same numbers as with separate buffers. */
TEST(nn_xent_in_place) {
    const int32_t targets[XN] = {1, 2, -1, 4, 0};
    Rng rng;
    rng_seed(&rng, 41);
    float z[XN * XV], buf[XN * XV], probs[XN * XV], losses[XN], losses2[XN], dz[XN * XV];
    gc_randn(&rng, z, XN * XV, 3.0f);
    memcpy(buf, z, sizeof z);
    double a = xent_forward(probs, losses, z, targets, XN, XV);
    double b = xent_forward(buf, losses2, buf, targets, XN, XV);
    CHECK(a == b);
    CHECK(memcmp(probs, buf, sizeof buf) == 0);
    CHECK(memcmp(losses, losses2, sizeof losses) == 0);
    xent_backward(dz, probs, targets, XN, XV, 0.5f);
    xent_backward(buf, buf, targets, XN, XV, 0.5f);
    CHECK(memcmp(dz, buf, sizeof buf) == 0);
}

/* A row far from zero: exp would overflow without the max shift; the loss stays exact. */
TEST(nn_xent_extreme_logits_are_stable) {
    float z[3] = {1000.0f, 0.0f, -1000.0f}, p[3], l[1];
    int32_t t[1] = {1};
    double total = xent_forward(p, l, z, t, 1, 3);
    CHECK_NEAR(total, 1000.0, 1e-3);
    CHECK(isfinite(p[0]) && p[0] == 1.0f && p[2] == 0.0f);
}
