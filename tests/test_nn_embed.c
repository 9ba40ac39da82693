#include "gradcheck.h"
#include "nn/embed.h"
#include "test.h"

enum { EB = 2, ET = 4, EC = 3, EV = 5 };

/* Packed parameters: wte [V,C], wpe [T,C] (when has_wpe). */
typedef struct {
    int has_wpe;
    const int32_t *tokens;
    const double *r;
    double out[EB * ET * EC];
} EmbedCtx;

static double embed_probe(const double *x, void *ctx) {
    EmbedCtx *c = ctx;
    const double *wte = x, *wpe = x + EV * EC;
    for (int b = 0; b < EB; b++)
        for (int t = 0; t < ET; t++)
            for (int i = 0; i < EC; i++) {
                int bt = b * ET + t;
                c->out[bt * EC + i] =
                    wte[c->tokens[bt] * EC + i] + (c->has_wpe ? wpe[t * EC + i] : 0);
            }
    return gc_dot(c->out, c->r, EB * ET * EC);
}

static void check_embed(int has_wpe) {
    /* token 1 appears three times: its gradient row must sum all three */
    const int32_t tokens[EB * ET] = {1, 0, 4, 1, 3, 1, 2, 0};
    enum { NP = EV * EC + ET * EC, NO = EB * ET * EC };
    Rng rng;
    rng_seed(&rng, 5 + has_wpe);
    float p[NP], r[NO], out[NO], g[NP] = {0};
    double pd[NP], rd[NO], num[NP];
    gc_randn(&rng, p, NP, 1.0f);
    gc_randn(&rng, r, NO, 1.0f);
    gc_to_double(pd, p, NP);
    gc_to_double(rd, r, NO);
    long np = has_wpe ? NP : EV * EC;
    EmbedCtx ctx = {has_wpe, tokens, rd, {0}};
    embed_probe(pd, &ctx);
    embed_forward(out, tokens, p, has_wpe ? p + EV * EC : NULL, EB, ET, EC);
    gc_compare("embed forward", out, ctx.out, NO, GC_FWD_RTOL, GC_FWD_ATOL);
    embed_backward(g, has_wpe ? g + EV * EC : NULL, r, tokens, EB, ET, EC);
    gc_numeric_grad(embed_probe, pd, np, GC_EPS, num, &ctx);
    gc_compare("embed dwte", g, num, EV * EC, GC_BWD_RTOL, GC_BWD_ATOL);
    if (has_wpe)
        gc_compare("embed dwpe", g + EV * EC, num + EV * EC, ET * EC, GC_BWD_RTOL, GC_BWD_ATOL);
}

TEST(nn_embed_with_wpe_gradcheck) {
    check_embed(1);
}
TEST(nn_embed_without_wpe_gradcheck) {
    check_embed(0);
}
