/* moelens export (src/model/lm_export.c) without the oracle: a random-weight llama-style model is
 * exported and the GGUF file is opened by moelens' GGUF loader (model/lm_gguf.c, which reads
 * `llama` as llama.cpp does: NORM RoPE, softmax → top-k → renormalised): its logits equal the
 * model's. Covers GQA with NORM RoPE, NEOX RoPE (q/k rows permuted), a tied output, a dense
 * model, F16 matrices, and the olmoe architecture (qk_norm=2); the tokenizer metadata (tokens,
 * types, merges, ids) and the file's tokenizer encoding as the run's does; and each config
 * llama.cpp cannot express is refused with the option named. llama.cpp itself is checked by
 * tests/cli/export_gguf.sh. */
#include "core/error.h"
#include "core/mem.h"
#include "gguf/gguf_vocab.h"
#include "gguf/gguf_write.h"
#include "model/lm_export.h"
#include "model/lm_open.h"
#include "test.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { CTX = 20 };

static const char *text =
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away!\n"
    "Numbers 123 and 4567 appear, as do words like don't, we'll and it's.  Spaces   too.\n"
    "Le renard brun saute par-dessus le chien paresseux. Über Öl und Ähren: ein Satz.\n";

static Tokenizer *small_tokenizer(void) {
    Tokenizer *t = NULL;
    const char *texts[1] = {text};
    size_t lens[1] = {strlen(text)};
    BpeTrainOptions o = {.vocab_size = 300, .verbose = 0};
    CHECK(tokenizer_train(&t, texts, lens, 1, &o) == 0);
    return t;
}

static void base_config(LmConfig *c, int vocab) {
    lm_config_preset(c, "tiny");
    c->vocab_size = vocab, c->d_model = 64, c->n_layer = 2, c->n_head = 4, c->n_kv_head = 2;
    c->seq_len = CTX, c->batch = 1, c->block = BLOCK_LLAMA, c->tied = 0;
    c->rope_mode = ROPE_NORM, c->rope_base = 10000.0f, c->norm_eps = 1e-5f;
    c->moe.n_experts = 4, c->moe.top_k = 2, c->moe.hidden = 32, c->moe.act = EXPERT_SWIGLU;
    c->moe.score = SCORE_TOPK_SOFTMAX, c->moe.renorm = 1;
}

static void olmoe_config(LmConfig *c, int vocab) {
    base_config(c, vocab);
    c->qk_norm = 2, c->rope_mode = ROPE_NEOX, c->n_kv_head = c->n_head;
    c->moe.score = SCORE_SOFTMAX_TOPK, c->moe.renorm = 0;
}

/* Random weights (norms around 1); f16: matrices rounded to f16 so an F16 file holds them
 * exactly. */
static void randomise(LmModel *m, int f16) {
    Rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < m->n_tensors; i++) {
        ParamTensor *t = &m->tensors[i];
        int norm = t->ndim == 1;
        rng_fill_normal(&r, t->p, t->n, norm ? 0.1f : 0.2f);
        for (long k = 0; k < t->n; k++) {
            if (norm)
                t->p[k] += 1.0f;
            else if (f16 && !strstr(t->name, "router"))
                t->p[k] = gguf_f16_to_f32(gguf_f32_to_f16(t->p[k]));
        }
    }
}

/* Exports a model of config c, reopens the file, and returns max |Δlogit| / max |logit|. */
static double round_trip(LmConfig *c, Tokenizer *tok, int f16, const char *name) {
    CHECK(lm_config_finalize(c) == 0);
    LmModel m, g;
    CHECK(lm_create(&m, c, 0) == 0);
    randomise(&m, f16);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", test_tmpdir(), name);
    CHECK_MSG(lm_export_gguf(&m, tok, path, f16, name) == 0, "%s: %s", name, ml_errmsg());
    int ok = lm_open(path, &g, NULL, 0) == 0;
    CHECK_MSG(ok, "%s: %s", name, ml_errmsg());
    double rel = 1;
    if (ok) {
        CHECK(g.cfg.n_kv_head == c->n_kv_head && g.cfg.tied == c->tied &&
              g.cfg.seq_len == c->seq_len && g.cfg.moe_every == c->moe_every);
        int32_t ids[CTX];
        for (int t = 0; t < CTX; t++) ids[t] = (t * 37 + 11) % c->vocab_size;
        lm_forward(&m, ids, NULL, NULL, 1, CTX, 0);
        lm_forward(&g, ids, NULL, NULL, 1, CTX, 0);
        double md = 0, mx = 0;
        for (long i = 0; i < (long)CTX * c->vocab_size; i++) {
            md = fmax(md, fabs((double)m.logits[i] - g.logits[i]));
            mx = fmax(mx, fabs((double)m.logits[i]));
        }
        rel = md / mx;
        lm_free(&g);
    }
    lm_free(&m);
    return rel;
}

TEST(lm_export_logits_match) {
    Tokenizer *tok = small_tokenizer();
    if (!tok) return;
    const int V = tokenizer_vocab_size(tok);
    LmConfig c;
    base_config(&c, V); /* GQA, NORM RoPE, topk_softmax, untied, F32 */
    double r = round_trip(&c, tok, 0, "norm_f32");
    CHECK_MSG(r < 1e-6, "norm f32: rel %.3g", r);
    base_config(&c, V); /* NEOX RoPE via permuted q/k rows; tied; softmax_topk renormalised */
    c.rope_mode = ROPE_NEOX, c.tied = 1, c.moe.score = SCORE_SOFTMAX_TOPK, c.n_kv_head = 4;
    r = round_trip(&c, tok, 0, "neox_tied");
    CHECK_MSG(r < 1e-6, "neox tied: rel %.3g", r);
    base_config(&c, V); /* F16 matrices (f16-exact weights), NEOX, GQA */
    c.rope_mode = ROPE_NEOX;
    r = round_trip(&c, tok, 1, "neox_f16");
    CHECK_MSG(r < 1e-5, "neox f16: rel %.3g", r);
    base_config(&c, V); /* a dense llama: no MoE layer */
    c.moe_every = 0, c.dense_hidden = 48;
    r = round_trip(&c, tok, 0, "dense");
    CHECK_MSG(r < 1e-6, "dense: rel %.3g", r);
    olmoe_config(&c, V); /* olmoe: full-width QK-norm, NEOX natively, raw top-k weights */
    r = round_trip(&c, tok, 0, "olmoe");
    CHECK_MSG(r < 1e-6, "olmoe: rel %.3g", r);
    olmoe_config(&c, V);
    r = round_trip(&c, tok, 1, "olmoe_f16");
    CHECK_MSG(r < 1e-5, "olmoe f16: rel %.3g", r);
    tokenizer_free(tok);
}

TEST(lm_export_tokenizer_metadata) {
    Tokenizer *tok = small_tokenizer();
    if (!tok) return;
    const int V = tokenizer_vocab_size(tok), M = tokenizer_num_merges(tok);
    LmConfig c;
    base_config(&c, V);
    CHECK(lm_config_finalize(&c) == 0);
    LmModel m;
    CHECK(lm_create(&m, &c, 0) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.gguf", test_tmpdir());
    CHECK_MSG(lm_export_gguf(&m, tok, path, 0, "v") == 0, "%s", ml_errmsg());
    lm_free(&m);
    GgufFile *g;
    CHECK_MSG(gguf_open(&g, path) == 0, "%s", ml_errmsg());
    if (test_failed_now()) return tokenizer_free(tok);
    GgufStr *s;
    uint64_t n;
    CHECK(gguf_get_str_array(g, "tokenizer.ggml.tokens", &s, &n) == 0 && n == (uint64_t)V);
    for (int i = 0; i < V && !test_failed_now(); i++)
        CHECK(s[i].len == strlen(tokenizer_token_str(tok, i)) &&
              !memcmp(s[i].ptr, tokenizer_token_str(tok, i), s[i].len));
    CHECK(s[32].len == 2 && !memcmp(s[32].ptr, "Ġ", 2)); /* byte 0x20 as GPT-2 writes it */
    ml_free(s);
    CHECK(gguf_get_str_array(g, "tokenizer.ggml.merges", &s, &n) == 0 && n == (uint64_t)M);
    for (int i = 0; i < M && !test_failed_now(); i++)
        CHECK(!memcmp(s[i].ptr, tokenizer_merge_str(tok, i), s[i].len));
    ml_free(s);
    int32_t *types;
    CHECK(gguf_get_i32_array(g, "tokenizer.ggml.token_type", &types, &n) == 0 && n == (uint64_t)V);
    CHECK(types[0] == 1 && types[V - 2] == 1 && types[V - 1] == 3);
    ml_free(types);
    uint32_t eos, bos;
    int add_bos = 1;
    CHECK(!gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos) &&
          eos == (uint32_t)tokenizer_eot(tok));
    CHECK(!gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &bos) && bos == eos);
    CHECK(!gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos) && add_bos == 0);
    char *pre = NULL;
    CHECK(!gguf_get_strdup(g, "tokenizer.ggml.pre", &pre) && !strcmp(pre, "gpt-2"));
    ml_free(pre);
    /* the file's tokenizer encodes as the run's */
    GgufVocab *v;
    CHECK_MSG(gguf_vocab_load(&v, g) == 0, "%s", ml_errmsg());
    if (!test_failed_now()) {
        const char *probe = "The lazy fox's 4567 spaces   and Öl?\n\nnew words: zebra!";
        int32_t *a, *b;
        long na, nb;
        CHECK(tokenizer_encode(tok, probe, strlen(probe), &a, &na) == 0);
        CHECK(gguf_vocab_encode(v, probe, strlen(probe), &b, &nb) == 0);
        CHECK(na == nb && !memcmp(a, b, sizeof(int32_t) * na));
        ml_free(a), ml_free(b);
        gguf_vocab_free(v);
    }
    gguf_close(g);
    tokenizer_free(tok);
}

typedef struct {
    const char *kv, *named;
} Refusal;

/* Each change from the exportable config `make` gives is refused, the message naming its option
 * (and `family`, when given). */
static void check_refusals(void (*make)(LmConfig *, int), const char *family, const Refusal *r,
                           size_t n) {
    for (size_t i = 0; i < n; i++) {
        LmConfig c;
        make(&c, 300);
        CHECK(lm_config_set_kv(&c, r[i].kv) == 0);
        lm_config_finalize(&c);
        CHECK_MSG(lm_export_check(&c, NULL) == -1 && strstr(ml_errmsg(), r[i].named) &&
                      (!family || strstr(ml_errmsg(), family)),
                  "%s %s: '%s'", family ? family : "", r[i].kv, ml_errmsg());
    }
}

/* Each change from an exportable config is refused, naming its option. */
TEST(lm_export_refusals) {
    static const Refusal base[] = {
        {"block=gpt2", "block"},
        {"qk_norm=1", "qk_norm"},
        {"qkv_bias=1", "qkv_bias"},
        {"expert_act=gelu", "expert_act"},
        {"n_zero=2", "n_zero"},
        {"n_shared=1", "n_shared"},
        {"router=hash", "router"},
        {"router=cosine", "router"},
        {"routing=seq_causal", "routing"},
        {"capacity_factor=1.25", "capacity_factor"},
        {"score=sigmoid", "score"},
        {"weight_scale=2", "weight_scale"},
        {"first_dense=1", "first_dense"},
        {"moe_every=2", "moe_every"},
    };
    check_refusals(base_config, NULL, base, sizeof base / sizeof *base);
    static const Refusal olmoe[] = {
        {"rope_mode=norm", "rope_mode"},
        {"n_kv_head=2", "n_kv_head"},
        {"tied=1", "tied"},
        {"renorm=1", "renorm"},
        {"score=topk_softmax", "score"},
        {"moe_every=0", "moe_every"},
    };
    check_refusals(olmoe_config, "olmoe", olmoe, sizeof olmoe / sizeof *olmoe);
    LmConfig c;
    olmoe_config(&c, 300);
    lm_config_finalize(&c);
    CHECK(lm_export_check(&c, NULL) == 0 && !strcmp(lm_export_arch(&c), "olmoe"));
    base_config(&c, 300);
    c.moe.score = SCORE_SOFTMAX_TOPK, c.moe.renorm = 0;
    lm_config_finalize(&c);
    CHECK(lm_export_check(&c, NULL) == -1 && strstr(ml_errmsg(), "renorm"));
    c.moe.renorm = 1;
    CHECK(lm_export_check(&c, NULL) == 0);
    Tokenizer *tok = small_tokenizer();
    if (tok && tokenizer_vocab_size(tok) != 300)
        CHECK(lm_export_check(&c, tok) == -1 && strstr(ml_errmsg(), "vocab_size"));
    if (tok) tokenizer_free(tok);
}
