/* GGUF models through the LM layer code, without the oracle: a model made by moelens (random
 * weights), written by the test as a GGUF file of the family's layout, opened by lm_gguf_open and
 * run: its logits equal the float model's, bit for bit with F32 tensors (read in place) and to
 * float rounding with F16 matrices (the dequantise-by-tile path), whose float twin holds the same
 * f16-rounded values. Families: olmoe (full-width QK-norm, NEOX), llama (Mixtral: GQA, NORM RoPE,
 * renormalised top-k), qwen2moe (qkv biases, gated shared expert), qwen3moe (per-head QK-norm,
 * head_dim != d/heads), deepseek (leading dense layer, shared experts, weight scale). */
#include "core/error.h"
#include "core/mem.h"
#include "gguf_writer.h"
#include "model/lm_gguf.h"
#include "model/lm_open.h"
#include "nn/wmat.h"
#include "test.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { D = 64, NL = 2, NH = 4, V = 80, E = 4, K = 2, H = 32, CTX = 24 };

static void family_config(LmConfig *c, const char *fam) {
    lm_config_preset(c, "tiny");
    c->vocab_size = V, c->d_model = D, c->n_layer = NL, c->n_head = NH, c->n_kv_head = NH,
    c->seq_len = CTX;
    c->block = BLOCK_LLAMA, c->tied = 0, c->batch = 1, c->norm_eps = 1e-5f, c->rope_base = 10000.0f;
    c->rope_mode = ROPE_NEOX;
    c->moe.n_experts = E, c->moe.top_k = K, c->moe.hidden = H, c->moe.act = EXPERT_SWIGLU,
    c->moe.expert_bias = 0;
    c->moe.aux_lb_coef = c->moe.aux_z_coef = 0;
    if (!strcmp(fam, "olmoe")) c->qk_norm = 2;
    if (!strcmp(fam, "llama")) c->n_kv_head = 2, c->rope_mode = ROPE_NORM, c->moe.renorm = 1;
    if (!strcmp(fam, "qwen2moe"))
        c->qkv_bias = 1, c->moe.n_shared = 1, c->moe.shared_hidden = 48, c->moe.shared_gate = 1;
    if (!strcmp(fam, "qwen3moe"))
        c->qk_norm = 1, c->head_dim = 32, c->n_kv_head = 2, c->moe.renorm = 1;
    if (!strcmp(fam, "deepseek")) {
        c->first_dense = 1, c->dense_hidden = 96, c->rope_mode = ROPE_NORM;
        c->moe.n_shared = 1, c->moe.shared_hidden = 2 * H, c->moe.weight_scale = 1.5f;
    }
    lm_config_finalize(c);
}

/* Random values everywhere (norm weights around 1); with f16, matrices hold f16-exact values. */
static void randomise(LmModel *m, int f16) {
    Rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < m->n_tensors; i++) {
        ParamTensor *t = &m->tensors[i];
        int norm = strstr(t->name, "ln") || strstr(t->name, "_norm");
        rng_fill_normal(&r, t->p, t->n, norm ? 0.1f : 0.15f);
        for (long k = 0; k < t->n; k++) {
            if (norm) t->p[k] += 1.0f;
            if (f16 && t->ndim >= 2) t->p[k] = gguf_f16_to_f32(gw_f32_to_f16(t->p[k]));
        }
    }
}

static void write_model(const LmModel *m, const char *fam, const char *path, int f16) {
    const LmConfig *c = &m->cfg;
    const int hd = lm_head_dim(c), qd = c->n_head * hd, kvd = c->n_kv_head * hd;
    GgufWriter *w = gw_new();
    char k[128], n[96];
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", fam, s), k)
    gw_str(w, "general.architecture", fam);
    gw_u32(w, KEY("context_length"), CTX);
    gw_u32(w, KEY("embedding_length"), D);
    gw_u32(w, KEY("block_count"), NL);
    gw_u32(w, KEY("attention.head_count"), NH);
    gw_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_head);
    gw_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    gw_f32(w, KEY("rope.freq_base"), 10000.0f);
    gw_u32(w, KEY("expert_count"), E);
    gw_u32(w, KEY("expert_used_count"), K);
    if (c->head_dim != D / NH) gw_u32(w, KEY("attention.key_length"), (uint32_t)hd);
    if (!strcmp(fam, "qwen2moe")) gw_u32(w, KEY("expert_shared_feed_forward_length"), 48);
    if (!strcmp(fam, "deepseek")) {
        gw_u32(w, KEY("leading_dense_block_count"), 1);
        gw_u32(w, KEY("feed_forward_length"), 96);
        gw_u32(w, KEY("expert_shared_count"), 2);
        gw_f32(w, KEY("expert_weights_scale"), 1.5f);
    }
#undef KEY
    const LmParams *p = &m->params;
    gw_tensor(w, "token_embd.weight", p->wte, D, V, 1, f16);
    gw_tensor(w, "output.weight", p->lm_head, D, V, 1, f16);
    gw_tensor(w, "output_norm.weight", p->lnf_w, D, 1, 1, 0);
    for (int l = 0; l < NL; l++) {
        const LayerParams *L = &p->layers[l];
        const MoeParams *f = &L->ffn;
        const MoeConfig *fc = &m->layer_ffn[l];
#define T(s, x, a, b, e, h) (snprintf(n, sizeof n, "blk.%d." s, l), gw_tensor(w, n, x, a, b, e, h))
        T("attn_norm.weight", L->ln1_w, D, 1, 1, 0);
        T("ffn_norm.weight", L->ln2_w, D, 1, 1, 0);
        T("attn_q.weight", L->wq, D, qd, 1, f16);
        T("attn_k.weight", L->wk, D, kvd, 1, f16);
        T("attn_v.weight", L->wv, D, kvd, 1, f16);
        T("attn_output.weight", L->wo, qd, D, 1, f16);
        if (L->bq)
            T("attn_q.bias", L->bq, qd, 1, 1, 0), T("attn_k.bias", L->bk, kvd, 1, 1, 0),
                T("attn_v.bias", L->bv, kvd, 1, 1, 0);
        if (c->qk_norm) {
            T("attn_q_norm.weight", L->q_norm, c->qk_norm == 2 ? qd : hd, 1, 1, 0);
            T("attn_k_norm.weight", L->k_norm, c->qk_norm == 2 ? kvd : hd, 1, 1, 0);
        }
        if (fc->router == ROUTER_DENSE) {
            T("ffn_gate.weight", f->wg, D, fc->hidden, 1, f16);
            T("ffn_up.weight", f->wu, D, fc->hidden, 1, f16);
            T("ffn_down.weight", f->wd, fc->hidden, D, 1, f16);
            continue;
        }
        T("ffn_gate_inp.weight", f->router_w, D, E, 1, 0);
        T("ffn_gate_exps.weight", f->wg, D, H, E, f16);
        T("ffn_up_exps.weight", f->wu, D, H, E, f16);
        T("ffn_down_exps.weight", f->wd, H, D, E, f16);
        if (fc->n_shared) {
            T("ffn_gate_shexp.weight", f->swg, D, fc->shared_hidden, 1, f16);
            T("ffn_up_shexp.weight", f->swu, D, fc->shared_hidden, 1, f16);
            T("ffn_down_shexp.weight", f->swd, fc->shared_hidden, D, 1, f16);
        }
        if (fc->shared_gate) T("ffn_gate_inp_shexp.weight", f->shared_gate_w, D, 1, 1, 0);
#undef T
    }
    gw_write(w, path);
}

/* max |a - b| / max |a| over the logits of one forward of both models. */
static double compare(LmModel *ref, LmModel *gm, int *same_routes) {
    int32_t tok[CTX];
    for (int t = 0; t < CTX; t++) tok[t] = (t * 37 + 11) % V;
    lm_forward(ref, tok, NULL, NULL, 1, CTX, 0);
    lm_forward(gm, tok, NULL, NULL, 1, CTX, 0);
    double md = 0, mx = 0;
    for (long i = 0; i < (long)CTX * V; i++) {
        md = fmax(md, fabs((double)ref->logits[i] - gm->logits[i]));
        mx = fmax(mx, fabs((double)ref->logits[i]));
    }
    *same_routes = 1;
    for (int l = 0; l < NL; l++)
        if (memcmp(ref->acts[l].moe.topk_idx, gm->acts[l].moe.topk_idx,
                   sizeof(int32_t) * CTX * ref->acts[l].moe.k))
            *same_routes = 0;
    return md / mx;
}

static void check_family(const char *fam, int f16) {
    LmConfig c;
    family_config(&c, fam);
    LmModel ref, gm;
    CHECK(lm_create(&ref, &c, 0) == 0);
    randomise(&ref, f16);
    char path[512];
    snprintf(path, sizeof path, "%s/%s%s.gguf", test_tmpdir(), fam, f16 ? "-f16" : "");
    write_model(&ref, fam, path, f16);
    int ok = lm_open(path, &gm, NULL, 0) == 0;
    CHECK_MSG(ok, "%s: %s", fam, ml_errmsg());
    if (!ok) return lm_free(&ref);
    CHECK_MSG(gm.cfg.qk_norm == c.qk_norm && gm.cfg.rope_mode == c.rope_mode &&
                  gm.cfg.moe.renorm == c.moe.renorm && lm_head_dim(&gm.cfg) == lm_head_dim(&c) &&
                  gm.cfg.n_kv_head == c.n_kv_head && gm.cfg.first_dense == c.first_dense &&
                  gm.cfg.moe.n_shared == c.moe.n_shared &&
                  gm.cfg.moe.shared_hidden == c.moe.shared_hidden && gm.cfg.qkv_bias == c.qkv_bias,
              "%s: config from the metadata differs", fam);
    int same;
    double rel = compare(&ref, &gm, &same);
    if (f16)
        CHECK_MSG(rel < 1e-5, "%s f16: relative logit difference %g", fam, rel);
    else
        CHECK_MSG(rel == 0.0, "%s f32: relative logit difference %g (expected bit-identical)", fam,
                  rel);
    CHECK_MSG(same, "%s: routing differs", fam);
    lm_free(&gm);
    lm_free(&ref);
}

static const char *const families[] = {"olmoe", "llama", "qwen2moe", "qwen3moe", "deepseek"};

TEST(lm_gguf_f32_equals_float_model) {
    for (int i = 0; i < 5; i++) check_family(families[i], 0);
}

TEST(lm_gguf_f16_tiles_equal_float_model) {
    int keep = wref_tile_floats;
    wref_tile_floats =
        7 * D; /* tiles of 7 rows (or one row of the down projections): many, ragged */
    for (int i = 0; i < 5; i++) check_family(families[i], 1);
    wref_tile_floats = keep;
}

TEST(lm_gguf_errors_name_the_problem) {
    LmConfig c;
    family_config(&c, "olmoe");
    LmModel ref, gm;
    CHECK(lm_create(&ref, &c, 0) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/gpt9.gguf", test_tmpdir());
    write_model(&ref, "gpt9", path, 0);
    CHECK(lm_open(path, &gm, NULL, 0) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "architecture 'gpt9'") != NULL, "%s", ml_errmsg());
    /* a file without the expert count */
    GgufWriter *w = gw_new();
    gw_str(w, "general.architecture", "qwen3moe");
    float x[D * V];
    memset(x, 0, sizeof x);
    gw_tensor(w, "token_embd.weight", x, D, V, 1, 0);
    snprintf(path, sizeof path, "%s/nokey.gguf", test_tmpdir());
    gw_write(w, path);
    CHECK(lm_open(path, &gm, NULL, 0) != 0);
    CHECK_MSG(strstr(ml_errmsg(), "qwen3moe.") != NULL && strstr(ml_errmsg(), "missing") != NULL,
              "%s", ml_errmsg());
    lm_free(&ref);
}
