/* The LM analyses on constructed models whose answers are known: a domain router (domain d only to
 * expert d: n50 = 1 per domain, NMI(expert; domain) = 1), k' = k reproducing the full model's
 * perplexity, and the last layer's lens decoding exactly the model's final distribution. */
#include "analysis/analysis.h"
#include "analysis/analyze.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include "core/rng.h"
#include "lm_small.h"
#include "test.h"
#include <string.h>

/* B×T random tokens; sequence b is domain b % 2. */
static void batch_data(int32_t *tok, int32_t *tg, int32_t *dom, uint8_t *cls, int B, int T,
                       uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int32_t)rng_below(&r, 64), tg[i] = (int32_t)rng_below(&r, 64);
        dom[i] = (i / T) % 2, cls[i] = (uint8_t)(tok[i] % 3);
    }
}

TEST(analysis_domain_router_concentration) {
    LmModel m;
    test_small_lm(&m, "domain", 2, 1, 2);
    enum { B = 4, T = 16 };
    int32_t tok[B * T], tg[B * T], dom[B * T];
    uint8_t cls[B * T];
    batch_data(tok, tg, dom, cls, B, T, 1);
    lm_forward(&m, tok, tg, dom, B, T, 0);
    AnBatch b = {&m, tok, tg, dom, cls, B, T, B * T, 0, NULL};
    RoutingAcc r;
    SpecialiseAcc s;
    routing_init(&r, &m, 2, 1000);
    specialise_init(&s, &m, 2, 1000, 7);
    routing_accumulate(&r, &b), specialise_accumulate(&s, &b);
    for (int l = 0; l < r.L; l++) {
        RoutingStats a = routing_stats(&r, l, 0), all = routing_stats(&r, l, -1);
        CHECK(a.n50 == 1);
        CHECK_NEAR(a.max_share_tokens, 1, 1e-12);
        CHECK_NEAR(a.entropy, 0, 1e-12);
        CHECK_NEAR(all.entropy, log(2), 1e-12); /* half the tokens each */
        CHECK_NEAR(all.jain, 1, 1e-12);
        CHECK(all.dead == 0 && a.utilisation == 0.5);
        CHECK_NEAR(specialise_nmi(&s, l, 0, 0), 1, 1e-12);
        CHECK(specialise_nmi(&s, l, 0, 1) < 0.2); /* shuffled baseline near 0 */
        CHECK(r.counts[((long)l * 2 + 1) * 2 * 1 + 1] ==
              B * T / 2); /* domain 1 → expert 1, slot 0 */
    }
    CHECK(r.trace_n == B * T && r.trace_ids[(long)(T)*r.L * r.k] == 1); /* token T is domain 1 */
    routing_free(&r), specialise_free(&s);
    lm_free(&m);
}

TEST(analysis_kprime_reproduces_full) {
    LmModel m;
    test_small_lm(&m, "learned", 4, 2, 2); /* renorm = 0 in the preset */
    enum { B = 2, T = 16 };
    int32_t tok[B * T], tg[B * T], dom[B * T];
    uint8_t cls[B * T];
    batch_data(tok, tg, dom, cls, B, T, 2);
    lm_forward(&m, tok, tg, dom, B, T, 0);
    AnBatch b = {&m, tok, tg, dom, cls, B, T, B * T, 0, NULL};
    TopkAcc t;
    topk_init(&t, &m, 2, 1000);
    topk_accumulate_cosine(&t, &b);
    topk_accumulate_full(&t, &b);
    topk_accumulate_kprime(&t, &b);
    CHECK(topk_ppl(&t, 2, 0, -1) == topk_ppl(&t, 0, 0, -1)); /* bit-identical */
    CHECK(fabs(topk_ppl(&t, 1, 0, -1) - topk_ppl(&t, 0, 0, -1)) > 1e-9);
    for (int l = 0; l < t.L; l++)
        for (int v = 0; v < 3; v++) {
            double c = (t.cos_sum[(l * 2 + 0) * 3 + v] + t.cos_sum[(l * 2 + 1) * 3 + v]) / (B * T);
            CHECK(c > -1.0001 && c < 1.0001);
        }
    CHECK(m.route == NULL); /* the k' curve passes its own route: the model keeps none */
    topk_free(&t);
    /* k = 1: the top-1 expert is the whole mixture, every cosine is 1 */
    lm_free(&m);
    test_small_lm(&m, "learned", 4, 1, 1);
    lm_forward(&m, tok, tg, dom, B, T, 0);
    topk_init(&t, &m, 2, 0);
    topk_accumulate_cosine(&t, &b);
    for (int v = 0; v < 3; v++) CHECK_NEAR((t.cos_sum[v] + t.cos_sum[3 + v]) / (B * T), 1, 1e-6);
    topk_free(&t);
    lm_free(&m);
}

TEST(analysis_lens_last_layer_is_final) {
    LmModel m;
    test_small_lm(&m, "learned", 4, 1,
                  2); /* k = 1, no shared: last layer's r + g·o is the final residual */
    enum { B = 2, T = 16 };
    int32_t tok[B * T], tg[B * T], dom[B * T];
    uint8_t cls[B * T];
    batch_data(tok, tg, dom, cls, B, T, 3);
    lm_forward(&m, tok, tg, dom, B, T, 0);
    AnBatch b = {&m, tok, tg, dom, cls, B, T, B * T, 0, NULL};
    LensAcc z;
    lens_init(&z, &m, 8, B * T);
    lens_accumulate(&z, &b);
    CHECK(z.n == 8 && z.stride == 4);
    double kl_last = 0, n_last = 0, agree = 0, kl_first = 0;
    for (int e = 0; e < z.EZ; e++) {
        kl_last += z.kl[z.EZ + e], n_last += z.cnt[z.EZ + e], agree += z.agree[z.EZ + e];
        kl_first += z.kl[e];
    }
    CHECK(n_last == 8);
    CHECK_NEAR(kl_last, 0, 1e-5);
    CHECK(agree == 8);
    CHECK(kl_first > 1e-4);
    lens_free(&z);
    lm_free(&m);
}
