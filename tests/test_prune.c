/* Expert pruning (docs/gguf.md, "Pruning"): the freq / REAP ranking on a constructed routing with
 * a known answer, --keep parsing, and pruned GGUF files: keeping every expert leaves every tensor
 * byte-identical; a pruned file's logits equal the original's with the dropped experts' router
 * logits masked to -inf, bit for bit (softmax over the kept experts is then the same sum); bad
 * plans are refused with nothing written. */
#include "analysis/lm/prune_curve.h"
#include "analysis/lm/prune_rank.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/tokenizer.h"
#include "gguf/gguf_prune.h"
#include "lm_small.h"
#include "model/lm_export.h"
#include "model/lm_open.h"
#include "test.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* One MoE layer, E = 4, k = 2, C = 2, three tokens. Expert 0 is picked by every token with a
 * small weighted output; expert 3 once, large: freq keeps {0, 1}, REAP keeps {2, 3}. */
TEST(prune_rank_freq_and_reap_known_answer) {
    enum { E = 4, K = 2, C = 2, N = 3 };
    int32_t idx[N * K] = {0, 1, 0, 1, 0, 2};
    float w[N * K] = {0.5f, 0.5f, 0.6f, 0.4f, 0.3f, 0.7f};
    float out[N * K * C] = {1, 0, 0, 1, /* token 0: |o| 1, 1 */
                            0, 2, 2, 0, /* token 1: 2, 2 */
                            3, 4, 6, 8 /* token 2: 5, 10 */};
    MoeConfig f = {.d_model = C, .n_experts = E, .top_k = K, .router = ROUTER_LEARNED};
    LayerActs acts = {
        .moe = {.N = N, .EZ = E, .k = K, .topk_idx = idx, .topk_w = w, .expert_out = out}};
    LmModel m = {.layer_ffn = &f, .acts = &acts};
    m.cfg.n_layer = 1, m.cfg.d_model = C;
    PruneStats s;
    prune_stats_init(&s, &m);
    prune_stats_accumulate(&s, &m, NULL);
    /* expert 0: 0.5·1 + 0.6·2 + 0.3·5 = 3.2 over 3; 1: 0.5 + 0.8 = 1.3 over 2; 2: 7 over 1 */
    double want_reap[E] = {3.2 / 3, 1.3 / 2, 7.0, 0}, want_freq[E] = {3, 2, 1, 0};
    for (int e = 0; e < E; e++) {
        CHECK_NEAR(prune_saliency(&s, PRUNE_REAP, 0, e), want_reap[e], 1e-6);
        CHECK_NEAR(prune_saliency(&s, PRUNE_FREQ, 0, e), want_freq[e], 0);
    }
    int32_t kept[3];
    prune_rank(&s, PRUNE_FREQ, 0, 2, kept);
    CHECK(kept[0] == 0 && kept[1] == 1);
    prune_rank(&s, PRUNE_REAP, 0, 2, kept);
    CHECK(kept[0] == 0 && kept[1] == 2); /* 7 > 1.067 > 0.65 */
    prune_rank(&s, PRUNE_REAP, 0, 3, kept);
    CHECK(kept[0] == 0 && kept[1] == 1 && kept[2] == 2);
    uint8_t use[N] = {0, 0, 1}; /* only token 2: experts 0 and 2 */
    prune_stats_free(&s);
    prune_stats_init(&s, &m);
    prune_stats_accumulate(&s, &m, use);
    CHECK(s.tokens == 1 && s.count[0] == 1 && s.count[1] == 0 && s.count[2] == 1);
    prune_rank(&s, PRUNE_FREQ, 0, 1, kept); /* tie 0 / 2: the lower id */
    CHECK(kept[0] == 0);
    prune_stats_free(&s);
}

TEST(prune_keep_values) {
    int n = 0;
    CHECK(prune_parse_keep("0.5", 8, &n) == 0 && n == 4);
    CHECK(prune_parse_keep("1.0", 8, &n) == 0 && n == 8);
    CHECK(prune_parse_keep("1", 8, &n) == 0 && n == 1);
    CHECK(prune_parse_keep("8", 8, &n) == 0 && n == 8);
    CHECK(prune_parse_keep("0.01", 8, &n) == 0 && n == 1);
    const char *bad[] = {"0", "-1", "1.5", "9", "abc", "", "0.5x", "nan", "2.5", "inf"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_MSG(prune_parse_keep(bad[i], 8, &n) != 0, "'%s' accepted", bad[i]);
        CHECK_MSG(strstr(ml_errmsg(), "--keep: expected a fraction") != NULL, "%s", ml_errmsg());
    }
    CHECK(prune_criterion_parse("reap") == PRUNE_REAP && prune_criterion_parse("freq") == 0);
    CHECK(prune_criterion_parse("size") < 0 && strstr(ml_errmsg(), "'size'"));
}

enum { PE = 8, PK = 2, PCTX = 16 };

/* A random llama (Mixtral layout) model with 8 experts, exported as GGUF (f16 matrices). */
static int exported_model(const char *path) {
    static const char text[] = "the cat sat on the mat; the dog ran to the cat and sat down.\n";
    const char *texts[1] = {text};
    size_t lens[1] = {sizeof text - 1};
    Tokenizer *tok = NULL;
    BpeTrainOptions o = {.vocab_size = 270, .verbose = 0};
    if (tokenizer_train(&tok, texts, lens, 1, &o)) return -1;
    LmConfig c;
    lm_config_preset(&c, "tiny");
    c.vocab_size = tokenizer_vocab_size(tok), c.d_model = 64, c.n_layer = 2, c.n_head = 4;
    c.n_kv_head = 4, c.seq_len = PCTX, c.batch = 1, c.block = BLOCK_LLAMA, c.tied = 0;
    c.rope_mode = ROPE_NORM, c.norm_eps = 1e-5f;
    c.moe.n_experts = PE, c.moe.top_k = PK, c.moe.hidden = 32, c.moe.act = EXPERT_SWIGLU;
    c.moe.score = SCORE_TOPK_SOFTMAX, c.moe.renorm = 1;
    LmModel m;
    if (lm_config_finalize(&c) || lm_create(&m, &c, 0)) return tokenizer_free(tok), -1;
    Rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < m.n_tensors; i++) {
        ParamTensor *t = &m.tensors[i];
        rng_fill_normal(&r, t->p, t->n, 0.3f);
        if (t->ndim == 1)
            for (long j = 0; j < t->n; j++) t->p[j] += 1.0f; /* norm weights around 1 */
    }
    int rc = lm_export_gguf(&m, tok, path, 1, "prune-test");
    lm_free(&m);
    tokenizer_free(tok);
    return rc;
}

static int same_tensors(const GgufFile *a, const GgufFile *b) {
    if (a->n_tensors != b->n_tensors) return 0;
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const GgufTensor *x = &a->tensors[i], *y = gguf_tensor(b, x->name);
        if (!y || x->type != y->type || memcmp(x->ne, y->ne, sizeof x->ne) ||
            x->nbytes != y->nbytes || memcmp(x->data, y->data, x->nbytes))
            return 0;
    }
    return 1;
}

/* Exports the test model as TMP/<tag>-src.gguf, opens it (NULL on failure) and names the
 * output TMP/<tag>-out.gguf. */
static GgufFile *source_file(const char *tag, char *src, char *out, size_t n) {
    snprintf(src, n, "%s/%s-src.gguf", test_tmpdir(), tag);
    snprintf(out, n, "%s/%s-out.gguf", test_tmpdir(), tag);
    GgufFile *g = NULL;
    CHECK_MSG(exported_model(src) == 0 && gguf_open(&g, src) == 0, "%s", ml_errmsg());
    return test_failed_now() ? NULL : g;
}

TEST(prune_gguf_keep_all_is_byte_identical) {
    char src[512], out[512];
    GgufFile *g = source_file("all", src, out, sizeof src), *p;
    if (!g) return;
    int32_t kept[2 * PE];
    for (int i = 0; i < 2 * PE; i++) kept[i] = i % PE;
    GgufPrunePlan plan = {PE, kept, 0, "reap"};
    CHECK_MSG(gguf_prune_write(g, &plan, out) == 0, "%s", ml_errmsg());
    CHECK(gguf_open(&p, out) == 0);
    if (test_failed_now()) return gguf_close(g);
    CHECK(same_tensors(g, p));
    uint32_t e = 0, k = 0;
    CHECK(!gguf_get_u32(p, "llama.expert_count", &e) && e == PE);
    CHECK(!gguf_get_u32(p, "llama.expert_used_count", &k) && k == PK);
    CHECK(p->n_kv == g->n_kv + 3); /* + criterion, source count, kept ids */
    gguf_close(p);
    gguf_close(g);
}

/* Logits of MODEL on fixed tokens, with the experts absent from kept masked when kept != NULL. */
static float *logits_of(const char *path, const int32_t *kept, int n_keep) {
    LmModel m;
    if (lm_open(path, &m, NULL, 0)) return NULL;
    lm_alloc_acts(&m, 1, PCTX);
    float bias[2][PE];
    MoeOverride route[2] = {MOE_OVERRIDE_NONE, MOE_OVERRIDE_NONE};
    for (int l = 0; l < 2 && kept; l++) {
        for (int e = 0; e < PE; e++) bias[l][e] = -INFINITY;
        for (int j = 0; j < n_keep; j++) bias[l][kept[l * n_keep + j]] = 0;
        route[l].logit_bias = bias[l];
    }
    m.route = route;
    int32_t tok[PCTX];
    for (int t = 0; t < PCTX; t++) tok[t] = (t * 31 + 7) % m.cfg.vocab_size;
    lm_forward(&m, tok, NULL, NULL, 1, PCTX, 0);
    long n = (long)PCTX * m.cfg.vocab_size;
    float *x = ml_alloc_floats(n);
    memcpy(x, m.logits, sizeof(float) * n);
    lm_free(&m);
    return x;
}

TEST(prune_gguf_equals_masked_model) {
    char src[512], out[512];
    GgufFile *g = source_file("half", src, out, sizeof src);
    if (!g) return;
    int32_t kept[2 * 4] = {1, 2, 5, 7, 0, 3, 4, 6}; /* a different half in each block */
    GgufPrunePlan plan = {4, kept, 0, "freq"};
    CHECK_MSG(gguf_prune_write(g, &plan, out) == 0, "%s", ml_errmsg());
    gguf_close(g);
    float *want = logits_of(src, kept, 4), *got = logits_of(out, NULL, 0),
          *full = logits_of(src, NULL, 0);
    CHECK(want && got && full);
    if (want && got && full) {
        double md = 0, moved = 0;
        for (long i = 0; i < (long)PCTX * 270; i++)
            md = fmax(md, fabs(want[i] - got[i])), moved = fmax(moved, fabs(full[i] - got[i]));
        /* not bit-exact: the router's GEMM is 8 experts wide in one model and 4 in the other,
         * and BLAS may pick another kernel (another summation order) by width (seen: 3.6e-6 on
         * an AMD EPYC, 0 on an Intel Xeon) */
        CHECK_MSG(md <= 2e-5, "pruned vs masked logits differ by %g", md);
        CHECK_MSG(moved > 1e-3, "pruning changed nothing (%g): the test would not see a bug",
                  moved);
    }
    ml_free(want), ml_free(got), ml_free(full);
    GgufFile *p;
    CHECK(gguf_open(&p, out) == 0);
    if (test_failed_now()) return;
    const GgufTensor *t = gguf_tensor(p, "blk.1.ffn_down_exps.weight");
    CHECK(t && t->ne[2] == 4);
    int32_t *ids = NULL;
    uint64_t n = 0;
    CHECK(!gguf_get_i32_array(p, "moelens.prune.kept", &ids, &n) && n == 8 &&
          !memcmp(ids, kept, sizeof kept));
    ml_free(ids);
    gguf_close(p);
}

TEST(prune_gguf_refuses_bad_plans) {
    char src[512], out[512];
    GgufFile *g = source_file("bad", src, out, sizeof src);
    if (!g) return;
    int32_t one[2] = {3, 5}, unsorted[4] = {1, 0, 2, 3};
    struct {
        GgufPrunePlan plan;
        const char *msg;
    } cases[] = {
        {{1, one, 0, NULL}, "top-k 2 exceeds the 1 experts kept"},
        {{1, one, 3, NULL}, "top-k 3 exceeds"},
        {{2, unsorted, 0, NULL}, "block 0: kept expert list is not ascending"},
        {{0, one, 0, NULL}, "keeping 0 experts per block: expected 1..8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK(gguf_prune_write(g, &cases[i].plan, out) != 0);
        CHECK_MSG(strstr(ml_errmsg(), cases[i].msg) != NULL, "%s", ml_errmsg());
        CHECK(!ml_file_exists(out));
    }
    GgufPrunePlan top1 = {1, one, 1, NULL}; /* with --top-k 1 one expert is fine */
    CHECK_MSG(gguf_prune_write(g, &top1, out) == 0, "%s", ml_errmsg());
    gguf_close(g);
}

typedef struct {
    PruneCurveAcc *c;
    const AnBatch *b;
} CurveFeed;
static void curve_rows(void *ctx, const LmFfnRows *rows) {
    CurveFeed *f = ctx;
    prune_curve_layer(f->c, f->b, rows);
}

/* Four windows of 16 tokens, domains 0 1 0 1; each domain alternates, so the curve calibrates on
 * windows 0 and 1 and scores windows 2 and 3. */
static void curve_batch(LmModel *m, PruneCurveAcc *c, int32_t *tok, int32_t *tg, int32_t *dom) {
    enum { B = 4, T = 16 };
    for (int n = 0; n < B * T; n++)
        tok[n] = (n * 7 + 3) % 64, tg[n] = (n * 7 + 10) % 64, dom[n] = n / T % 2;
    prune_curve_init(c, m, 2, T, 1000);
    AnBatch b = {m, tok, tg, dom, NULL, B, T, B * T, 0, NULL};
    int lean = m->lean;
    m->lean = LM_LEAN_OBSERVED; /* as analyze forwards: the rows observed, not kept */
    lm_forward_observed(m, &(LmObserver){curve_rows, NULL, &(CurveFeed){c, &b}}, tok, tg, dom, B,
                        T);
    prune_curve_batch(c, &b);
    m->lean = lean;
    CHECK(c->stats.tokens == 2 * T && c->n_win == 2 && c->held == 2 * T);
    CHECK(c->n_counts == 2 && c->counts[0] == 3 && c->counts[1] == 2); /* E 4, k 2 */
}

/* Experts 2 and 3 masked by an intervention are never routed: pruning them costs exactly nothing,
 * under both criteria; the intervention's mask is back in place afterwards. */
TEST(prune_curve_unused_experts_cost_nothing) {
    LmModel m;
    test_small_lm(&m, "learned", 4, 2, 2);
    lm_alloc_acts(&m, 4, 16);
    float mask[4] = {0, 0, -INFINITY, -INFINITY};
    MoeOverride route[2] = {MOE_OVERRIDE_NONE, MOE_OVERRIDE_NONE}; /* the intervention */
    for (int l = 0; l < 2; l++) route[l].logit_bias = mask;
    m.route = route;
    int32_t tok[64], tg[64], dom[64];
    PruneCurveAcc c;
    curve_batch(&m, &c, tok, tg, dom);
    prune_curve_run(&c, &m);
    double full = prune_curve_ppl(&c, 0, -1, -1);
    CHECK(isfinite(full) && c.tok[0] == 16 && c.tok[1] == 16); /* windows 2 and 3 */
    for (int cr = 0; cr < PRUNE_N_CRITERIA; cr++)
        for (int i = 0; i < c.n_counts; i++)
            CHECK_MSG(prune_curve_ppl(&c, cr, i, -1) == full, "%s keep %d: %.9g vs %.9g",
                      prune_criterion_name(cr), c.counts[i], prune_curve_ppl(&c, cr, i, -1), full);
    CHECK(m.route == route && route[0].logit_bias == mask && route[1].logit_bias == mask);
    prune_curve_free(&c);
    lm_free(&m);
}

/* Without a mask, keeping 2 of 4 scores the held windows as the model with the other two experts'
 * logits at -inf does, and differs from the full model. */
TEST(prune_curve_matches_a_masked_forward) {
    LmModel m;
    test_small_lm(&m, "learned", 4, 2, 2);
    lm_alloc_acts(&m, 4, 16);
    int32_t tok[64], tg[64], dom[64], kept[2];
    PruneCurveAcc c;
    curve_batch(&m, &c, tok, tg, dom);
    prune_curve_run(&c, &m);
    float bias[2][4];
    MoeOverride route[2] = {MOE_OVERRIDE_NONE, MOE_OVERRIDE_NONE};
    for (int l = 0; l < 2; l++) {
        prune_rank(&c.stats, PRUNE_REAP, l, 2, kept);
        for (int e = 0; e < 4; e++) bias[l][e] = -INFINITY;
        bias[l][kept[0]] = bias[l][kept[1]] = 0;
        route[l].logit_bias = bias[l];
    }
    double nll = lm_forward_routed(&m, route, tok + 32, tg + 32, NULL, 2, 16,
                                   0); /* windows 2, 3 as one batch */
    CHECK(prune_curve_ppl(&c, PRUNE_REAP, 1, -1) == exp(nll / 32));
    CHECK(fabs(prune_curve_ppl(&c, PRUNE_REAP, 1, -1) - prune_curve_ppl(&c, 0, -1, -1)) > 1e-6);
    prune_curve_free(&c);
    lm_free(&m);
}

/* A hash router ignores logits: the curve is refused rather than drawn flat. */
TEST(prune_curve_refuses_hash_routers) {
    LmModel m;
    test_small_lm(&m, "hash", 4, 2, 1);
    PruneCurveAcc c;
    prune_curve_init(&c, &m, 1, 16, 1000);
    const char *names[1] = {"x"};
    CHECK(prune_curve_write(&c, test_tmpdir(), names) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "hash or domain router") != NULL, "%s", ml_errmsg());
    prune_curve_free(&c);
    lm_free(&m);
}
