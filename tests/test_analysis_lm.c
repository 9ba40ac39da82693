/* The LM analyses on constructed models whose answers are known: a domain router (domain d only to
 * expert d: n50 = 1 per domain, NMI(expert; domain) = 1), k' = k reproducing the full model's
 * perplexity, and the last layer's lens decoding exactly the model's final distribution. */
#include "analysis/lm/lens.h"
#include "analysis/lm/routing.h"
#include "analysis/lm/specialise.h"
#include "analysis/lm/topk.h"
#include "analysis/lm/analyze.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include "core/rng.h"
#include "lm_small.h"
#include "test.h"
#include <dirent.h>
#include <string.h>

/* A batch of B×T random tokens (B·T ≤ 64) over a model, as analyze hands it to the analyses. */
typedef struct {
    int32_t tok[64], tg[64], dom[64];
    uint8_t cls[64];
    AnBatch b;
} TestBatch;

/* Sequence b is domain b % 2, a token's class its id % 3; offset: the batch's first token's
 * index in the stream. */
static AnBatch *test_batch(TestBatch *t, LmModel *m, int B, int T, uint64_t seed, long offset) {
    CHECK(B * T <= 64);
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < B * T; i++) {
        t->tok[i] = (int32_t)rng_below(&r, 64), t->tg[i] = (int32_t)rng_below(&r, 64);
        t->dom[i] = (i / T) % 2, t->cls[i] = (uint8_t)(t->tok[i] % 3);
    }
    t->b = (AnBatch){m, t->tok, t->tg, t->dom, t->cls, B, T, B * T, offset, NULL};
    return &t->b;
}

/* The accumulators a test feeds (NULL: not fed). */
typedef struct {
    RoutingAcc *r;
    SpecialiseAcc *s;
    TopkAcc *t;
    LensAcc *z;
    const AnBatch *b;
} Feed;

static void feed_ffn(void *ctx, const LmFfnRows *rows) {
    Feed *f = ctx;
    if (f->r) routing_layer(f->r, f->b, rows);
    if (f->s) specialise_layer(f->s, f->b, rows);
    if (f->t) topk_layer_cosine(f->t, f->b, rows);
    if (f->z) lens_layer(f->z, f->b, rows);
}
static void feed_head(void *ctx, long row0, int n, const float *probs) {
    Feed *f = ctx;
    if (f->z) lens_head(f->z, f->b, row0, n, probs);
}

/* The batch forwarded as analyze forwards it (observed, one layer's activations kept), then
 * closed by each accumulator and handed on as one process's round (routing's trace rows, lens
 * rows). */
static void feed_batch(const AnBatch *b, Feed *f) {
    LmModel *m = b->m;
    int lean = m->lean;
    m->lean = LM_LEAN_OBSERVED;
    f->b = b;
    LmObserver obs = {feed_ffn, feed_head, f};
    lm_forward_observed(m, &obs, b->tokens, b->targets, b->domains, b->B, b->T);
    if (f->r) routing_accumulate(f->r, b);
    if (f->s) specialise_accumulate(f->s, b);
    if (f->t) topk_accumulate_full(f->t, b);
    if (f->z) lens_accumulate(f->z, b);
    if (f->r) routing_round(f->r);
    if (f->z) lens_round(f->z);
    m->lean = lean;
}

TEST(analysis_domain_router_concentration) {
    LmModel m;
    test_small_lm(&m, "domain", 2, 1, 2);
    enum { B = 4, T = 16 };
    TestBatch tb;
    const AnBatch *b = test_batch(&tb, &m, B, T, 1, 0);
    RoutingAcc r;
    SpecialiseAcc s;
    CHECK(routing_init(&r, &m, 2, 1000, test_tmpdir()) == 0);
    specialise_init(&s, &m, 2, 1000, 7);
    feed_batch(b, &(Feed){.r = &r, .s = &s});
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
    const char *names[2] = {"a", "b"};
    CHECK(routing_write(&r, test_tmpdir(), names) == 0);
    char *path = ml_path_join(test_tmpdir(), "trace_ids.npy");
    NpyArray ids;
    CHECK(npy_read(path, &ids) == 0);
    CHECK(r.trace_n == B * T && ids.shape[0] == B * T && ids.ndim == 3);
    CHECK(((int32_t *)ids.data)[(long)T * r.L * r.k] == 1); /* token T is domain 1 */
    npy_free(&ids), ml_free(path);
    routing_free(&r), specialise_free(&s);
    lm_free(&m);
}

TEST(analysis_kprime_reproduces_full) {
    LmModel m;
    test_small_lm(&m, "learned", 4, 2, 2); /* renorm = 0 in the preset */
    enum { B = 2, T = 16 };
    TestBatch tb;
    const AnBatch *b = test_batch(&tb, &m, B, T, 2, 0);
    TopkAcc t;
    topk_init(&t, &m, 2, 1000, B * T, B * T);
    feed_batch(b, &(Feed){.t = &t});
    float main_losses[B * T];
    memcpy(main_losses, m.losses, sizeof main_losses);
    topk_accumulate_kprime(&t, b);
    CHECK(topk_ppl(&t, 2, 0, -1) == topk_ppl(&t, 0, 0, -1)); /* the main forward's, reused */
    /* which is what a k' = k forward of its own gives, bit for bit */
    MoeOverride own[4];
    for (int l = 0; l < m.cfg.n_layer; l++) own[l] = (MoeOverride){.k = 2, .renorm = 0};
    lm_forward_routed(&m, own, tb.tok, tb.tg, tb.dom, B, T, 0);
    CHECK(!memcmp(main_losses, m.losses, sizeof main_losses));
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
    topk_init(&t, &m, 2, 0, B * T, B * T);
    feed_batch(b, &(Feed){.t = &t});
    for (int v = 0; v < 3; v++) CHECK_NEAR((t.cos_sum[v] + t.cos_sum[3 + v]) / (B * T), 1, 1e-6);
    topk_free(&t);
    lm_free(&m);
}

TEST(analysis_lens_last_layer_is_final) {
    LmModel m;
    test_small_lm(&m, "learned", 4, 1,
                  2); /* k = 1, no shared: last layer's r + g·o is the final residual */
    enum { B = 2, T = 16 };
    TestBatch tb;
    const AnBatch *b = test_batch(&tb, &m, B, T, 3, 0);
    LensAcc z;
    CHECK(lens_init(&z, &m, 8, B * T, NULL) == 0);
    feed_batch(b, &(Feed){.z = &z});
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

/* The routing trace of batches b0, b1 as today's full forward saw it (every layer's captures kept,
 * the FFN over the whole batch), cut at cap tokens: written with npy_write to dir/ref_NAME. */
static void reference_trace(LmModel *m, const AnBatch *bs, int nb, long cap, const char *dir) {
    int layers[64], L = an_moe_layers(m, layers), k = m->layer_ffn[layers[0]].top_k,
                    fb = lm_ffn_block;
    int32_t *ids = ml_alloc(sizeof(int32_t) * cap * L * k);
    float *w = ml_alloc(sizeof(float) * cap * L * k);
    long t = 0;
    lm_ffn_block = 0, m->lean = 0;
    for (int i = 0; i < nb; i++) {
        lm_forward(m, bs[i].tokens, bs[i].targets, bs[i].domains, bs[i].B, bs[i].T, 0);
        for (int n = 0; n < bs[i].N && t < cap; n++, t++)
            for (int l = 0; l < L; l++) {
                const MoeActs *a = &m->acts[layers[l]].moe;
                memcpy(ids + (t * L + l) * k, a->topk_idx + (long)n * a->k, sizeof(int32_t) * k);
                memcpy(w + (t * L + l) * k, a->topk_w + (long)n * a->k, sizeof(float) * k);
            }
    }
    lm_ffn_block = fb;
    int64_t shape[3] = {t, L, k};
    char *p = ml_path_join(dir, "ref_ids.npy");
    CHECK(npy_write(p, "<i4", shape, 3, ids) == 0);
    ml_free(p);
    p = ml_path_join(dir, "ref_weights.npy");
    CHECK(npy_write(p, "<f4", shape, 3, w) == 0);
    ml_free(p), ml_free(ids), ml_free(w);
}

static int same_file(const char *dir, const char *a, const char *b, double tol) {
    char *pa = ml_path_join(dir, a), *pb = ml_path_join(dir, b);
    NpyArray x, y;
    int ok = !npy_read(pa, &x) && !npy_read(pb, &y) && x.nbytes == y.nbytes && x.ndim == y.ndim &&
             !memcmp(x.shape, y.shape, sizeof(int64_t) * x.ndim);
    for (int64_t i = 0; ok && tol > 0 && i < x.nbytes / 4; i++)
        ok = fabsf(((float *)x.data)[i] - ((float *)y.data)[i]) <= tol;
    if (ok && tol == 0) { /* the bytes themselves, header included */
        char *ba, *bb;
        size_t la, lb;
        ok = !ml_read_file(pa, &ba, &la) && !ml_read_file(pb, &bb, &lb) && la == lb &&
             !memcmp(ba, bb, la);
        ml_free(ba), ml_free(bb);
    }
    npy_free(&x), npy_free(&y), ml_free(pa), ml_free(pb);
    return ok;
}

/* The trace analyze appends batch by batch while the forward runs (one layer's activations kept)
 * is today's: byte for byte with the FFN over the whole batch (--ffn-block 0), and the same experts
 * with weights within float rounding over FFN sub-blocks of 8 rows. Two batches, the cap cutting
 * the second. */
TEST(analysis_trace_streamed_equals_full_forward) {
    LmModel m;
    test_small_lm(&m, "learned", 4, 2, 3);
    enum { B = 2, T = 16, N = B * T };
    TestBatch tbs[2];
    AnBatch bs[2];
    for (int i = 0; i < 2; i++) bs[i] = *test_batch(&tbs[i], &m, B, T, 10 + i, (long)i * N);
    const long cap = N + N / 2;
    const char *names[2] = {"a", "b"};
    int fb = lm_ffn_block;
    for (int sub = 0; sub < 2; sub++) {
        lm_ffn_block = sub ? 8 : 0;
        char *dir = ml_path_join(test_tmpdir(), sub ? "trace_sub" : "trace_whole");
        CHECK(ml_mkdir_p(dir) == 0);
        RoutingAcc r;
        CHECK(routing_init(&r, &m, 2, cap, dir) == 0);
        for (int i = 0; i < 2; i++) feed_batch(&bs[i], &(Feed){.r = &r});
        CHECK(routing_write(&r, dir, names) == 0);
        routing_free(&r);
        reference_trace(&m, bs, 2, cap, dir);
        CHECK(same_file(dir, "trace_ids.npy", "ref_ids.npy", 0));
        CHECK(same_file(dir, "trace_weights.npy", "ref_weights.npy", sub ? 1e-6 : 0));
        ml_free(dir);
    }
    lm_ffn_block = fb;
    /* a run that stops before routing_write leaves nothing behind, not even the temp files */
    char *dir = ml_path_join(test_tmpdir(), "trace_dropped");
    CHECK(ml_mkdir_p(dir) == 0);
    RoutingAcc r;
    CHECK(routing_init(&r, &m, 2, cap, dir) == 0);
    feed_batch(&bs[0], &(Feed){.r = &r});
    routing_free(&r);
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; d && (e = readdir(d));) files += e->d_name[0] != '.';
    if (d) closedir(d);
    CHECK(files == 0);
    ml_free(dir);
    lm_free(&m);
}

/* The accumulators one rank of a sharded analyze keeps. */
typedef struct {
    RoutingAcc r;
    SpecialiseAcc s;
    TopkAcc t;
    LensAcc z;
} Share;

static void share_init(Share *x, LmModel *m, long cap, long total, long batch) {
    CHECK(routing_init(&x->r, m, 2, cap, NULL) == 0); /* no files: trace rows only counted */
    specialise_init(&x->s, m, 2, cap, 7);
    topk_init(&x->t, m, 2, cap, total, batch);
    CHECK(lens_init(&x->z, m, 5, total, NULL) == 0);
}

static void share_feed(Share *x, const AnBatch *b) {
    feed_batch(b, &(Feed){.r = &x->r, .s = &x->s, .t = &x->t, .z = &x->z});
    topk_accumulate_kprime(&x->t, b);
}

static void share_free(Share *x) {
    routing_free(&x->r), specialise_free(&x->s), topk_free(&x->t), lens_free(&x->z);
}

/* Four batches dealt out over two ranks as `mpirun -np 2 moelens analyze` deals them (0 and 2 to
 * one, 1 and 3 to the other), with every cap cutting the stream mid-way: each subsample is picked
 * by global position, so the two shares add up to one process's stream (what the reductions sum):
 * counts exactly, the kept tokens at their positions, the same trace rows, k' batches and lens
 * decodes. */
TEST(analysis_shares_add_up_to_one_stream) {
    LmModel m;
    test_small_lm(&m, "learned", 4, 2, 2);
    enum { B = 2, T = 16, N = B * T, NB = 4 };
    TestBatch tbs[NB];
    AnBatch bs[NB];
    for (int i = 0; i < NB; i++) bs[i] = *test_batch(&tbs[i], &m, B, T, 20 + i, (long)i * N);
    /* trace and kept tokens end inside batch 2; k': stride 4N·N/cap = 1.6N, multiples 0, 1.6N
     * and 3.2N, so batches 0, 1 and 3 (the last one too: the sample spans the stream) */
    const long cap = 2 * N + N / 2;
    Share one, sh[2];
    share_init(&one, &m, cap, NB * N, N), share_init(&sh[0], &m, cap, NB * N, N);
    share_init(&sh[1], &m, cap, NB * N, N);
    for (int i = 0; i < NB; i++) share_feed(&one, &bs[i]), share_feed(&sh[i % 2], &bs[i]);
    const RoutingAcc *r = &one.r, *r0 = &sh[0].r, *r1 = &sh[1].r;
    for (long i = 0; i < (long)r->L * 2 * r->EZ * r->k; i++)
        CHECK(r0->counts[i] + r1->counts[i] == r->counts[i]);
    for (long i = 0; i < (long)r->L * r->EZ * r->EZ; i++)
        CHECK(r0->cooc[i] + r1->cooc[i] == r->cooc[i]);
    CHECK(r->trace_n == cap && r0->trace_n + r1->trace_n == cap);
    const SpecialiseAcc *s = &one.s, *s0 = &sh[0].s, *s1 = &sh[1].s;
    CHECK(s->n == cap && s0->n + s1->n == cap);
    for (long p = 0; p < cap; p++) { /* each kept token filled by the share that ran it alone */
        CHECK((s0->cls[p] | s1->cls[p]) == s->cls[p] && (s0->dom[p] | s1->dom[p]) == s->dom[p]);
        for (int l = 0; l < s->L; l++)
            CHECK((s0->top1[p * s->L + l] | s1->top1[p * s->L + l]) == s->top1[p * s->L + l]);
    }
    for (long i = 0; i < (long)s->L * s->EZ * 2; i++)
        CHECK(s0->by_dom[i] + s1->by_dom[i] == s->by_dom[i]);
    const TopkAcc *t = &one.t, *t0 = &sh[0].t, *t1 = &sh[1].t;
    CHECK(t->kp_done == 3 * N && t0->kp_done == N && t1->kp_done == 2 * N);
    for (int d = 0; d < 2; d++) {
        CHECK(t0->tok[d] + t1->tok[d] == t->tok[d]);
        CHECK_NEAR(t0->nll_full[d] + t1->nll_full[d], t->nll_full[d], 1e-9 * t->nll_full[d]);
        for (int v = 0; v < 2 * t->k; v++)
            CHECK_NEAR(t0->nll_k[v * 2 + d] + t1->nll_k[v * 2 + d], t->nll_k[v * 2 + d],
                       1e-9 * t->nll_k[v * 2 + d]);
    }
    const LensAcc *z = &one.z, *z0 = &sh[0].z, *z1 = &sh[1].z;
    CHECK(z->stride == 25 && z->n == 5 && z0->n == 3 && z1->n == 2); /* 0 25 | 50 | 75 | 100 */
    CHECK(z0->rows_len + z1->rows_len == z->rows_len && z0->top1_n + z1->top1_n == z->top1_n);
    for (long i = 0; i < (long)z->L * z->EZ; i++) CHECK(z0->cnt[i] + z1->cnt[i] == z->cnt[i]);
    share_free(&one), share_free(&sh[0]), share_free(&sh[1]);
    lm_free(&m);
}
