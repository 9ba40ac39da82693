/* The inference layout (a model without gradients: shared scratch, no attention probabilities,
 * forward-only MoE buffers) and lean scoring (lm_score_ids: one set of activations for every
 * layer) compute exactly what the training layout computes: same logits, same per-layer captures
 * (resid_mid, out, routing, expert outputs), same summed loss, bit for bit. */
#include "model/lm.h"
#include "model/lm_open.h"
#include "test.h"
#include <math.h>
#include <string.h>

static void config(LmConfig *c, int qk_norm) {
    lm_config_preset(c, "tiny");
    c->vocab_size = 97, c->d_model = 64, c->n_layer = 3, c->n_head = 4, c->n_kv_head = 2;
    c->seq_len = 80, c->block = BLOCK_LLAMA, c->qk_norm = qk_norm;
    c->moe.n_experts = 4, c->moe.top_k = 2, c->moe.hidden = 32, c->moe.act = EXPERT_SWIGLU;
    c->moe.n_shared = 1, c->moe.shared_hidden = 16;
    CHECK(lm_config_finalize(c) == 0);
}

static int same(const float *a, const float *b, long n) {
    return !memcmp(a, b, n * sizeof(float));
}

TEST(lm_infer_layout_matches_training) {
    for (int qk = 0; qk <= 2; qk += 2) {
        LmConfig c;
        config(&c, qk);
        LmModel tr, inf;
        CHECK(lm_create(&tr, &c, 1) == 0);
        CHECK(lm_create(&inf, &c, 0) == 0);
        const int T = 77, N = T, C = c.d_model, V = c.vocab_size;
        int32_t ids[80], tg[80];
        for (int t = 0; t < T; t++) ids[t] = (t * 31 + 7) % V;
        for (int t = 0; t < T; t++) tg[t] = t + 1 < T ? ids[t + 1] : -1;
        double l_tr = lm_forward(&tr, ids, tg, NULL, 1, T, 0);
        double l_in = lm_forward(&inf, ids, tg, NULL, 1, T, 0);
        CHECK(l_tr == l_in);
        CHECK(inf.acts[0].att == NULL && tr.acts[0].att != NULL);
        CHECK(same(tr.logits, inf.logits, (long)N * V));
        for (int l = 0; l < c.n_layer; l++) {
            const LayerActs *a = &tr.acts[l], *b = &inf.acts[l];
            CHECK_MSG(same(a->resid_mid, b->resid_mid, (long)N * C), "layer %d", l);
            CHECK_MSG(same(a->out, b->out, (long)N * C), "layer %d", l);
            CHECK(same(a->moe.expert_out, b->moe.expert_out, (long)N * a->moe.k * C));
            CHECK(same(a->moe.topk_w, b->moe.topk_w, (long)N * a->moe.k));
            CHECK(!memcmp(a->moe.topk_idx, b->moe.topk_idx, sizeof(int32_t) * N * a->moe.k));
            CHECK(l == 0 || b->resid_mid != inf.acts[0].resid_mid); /* captures are per layer */
        }
        /* lean scoring: two chunks of 40 and 37 tokens, the FFN and the output head over the whole
         * chunk (block 0: bit for bit) or in sub-blocks of 16 tokens (3 per chunk: OpenBLAS's
         * sgemm rounds a row differently with the number of rows in the call, so only within
         * float rounding, and the same on every run); then the captures come back */
        int32_t t1[40], t2[40];
        for (int t = 0; t < 40; t++) t1[t] = t + 1 < 40 ? ids[t + 1] : -1;
        for (int t = 0; t < 37; t++) t2[t] = t + 1 < 37 ? ids[40 + t + 1] : -1;
        double want = lm_forward(&tr, ids, t1, NULL, 1, 40, 0) +
                      lm_forward(&tr, ids + 40, t2, NULL, 1, 37, 0);
        const int saved = lm_ffn_block, grows = lm_ffn_block_grows;
        lm_ffn_block_grows = 0; /* exactly the blocks asked for */
        double first = 0;
        for (int i = 0; i < 3; i++) {
            int blk = i == 0 ? 0 : 16;
            lm_ffn_block = blk;
            double nll;
            long scored;
            CHECK(lm_score_ids(&inf, ids, T, 40, &nll, &scored) == 0);
            CHECK(scored == 39 + 36);
            if (blk == 0)
                CHECK_MSG(nll == want, "lean %.17g vs training layout %.17g", nll, want);
            else
                CHECK_MSG(fabs(nll - want) <= 1e-6 * want, "lean (FFN block 16) %.17g vs %.17g",
                          nll, want);
            if (i == 1) first = nll;
            if (i == 2) CHECK(nll == first); /* deterministic */
            CHECK(inf.lean == 0);
            CHECK(inf.ffn_block == blk);
            CHECK(inf.head_block == blk); /* logits for 16 rows at a time, not the chunk's 40 */
            lm_forward(&inf, ids, tg, NULL, 1, T, 0); /* back to the captures' layout */
            CHECK(inf.ffn_block == 0 && inf.head_block == 0);
        }
        /* whole chunks with the experts streamed in pieces of 3 rows (every expert split, a
         * piece's GEMM rounding as a sub-block's would): within float rounding */
        const int rows = moe_infer_rows;
        moe_infer_rows = 3, lm_ffn_block = 0;
        double nll;
        long scored;
        CHECK(lm_score_ids(&inf, ids, T, 40, &nll, &scored) == 0);
        CHECK_MSG(fabs(nll - want) <= 1e-6 * want, "lean (pieces of 3) %.17g vs %.17g", nll, want);
        moe_infer_rows = rows;
        lm_forward(&inf, ids, tg, NULL, 1, T, 0);
        lm_ffn_block = saved, lm_ffn_block_grows = grows;
        CHECK(inf.acts[1].resid_mid != inf.acts[0].resid_mid && inf.acts[1].moe.expert_out);
        lm_free(&tr);
        lm_free(&inf);
    }
}

/* Lean scoring of several windows with FFN sub-blocks runs the attention half a few windows at a
 * time (an FFN block's rows, at least one window: buffers of G·T rows, not B·T) and the final
 * norm per head block: the same summed loss as the training layout within float rounding
 * (OpenBLAS rounds a row differently with the rows in the call), every row's probabilities handed
 * to the observer, and memory flat in the batch. */
static void count_head_rows(void *ctx, long row0, int n, const float *probs) {
    long *next = ctx;
    CHECK(row0 == *next);
    *next += n;
}

TEST(lm_infer_windows_a_few_at_a_time) {
    /* {B, T, windows per group}: one window of 40 rows; groups of 2 windows of 8 (16 rows = the
     * FFN block), the last group one window */
    const int cases[2][3] = {{3, 40, 1}, {5, 8, 2}};
    for (int ci = 0; ci < 2; ci++) {
        const int B = cases[ci][0], T = cases[ci][1], G = cases[ci][2], N = B * T;
        LmConfig c;
        config(&c, 2);
        LmModel tr, inf;
        CHECK(lm_create(&tr, &c, 1) == 0);
        CHECK(lm_create(&inf, &c, 0) == 0);
        int32_t ids[120], tg[120];
        for (int i = 0; i < N; i++) ids[i] = (i * 37 + 11) % c.vocab_size;
        for (int i = 0; i < N; i++) tg[i] = i % T + 1 < T ? ids[i + 1] : -1;
        double want = lm_forward(&tr, ids, tg, NULL, B, T, 0);
        const int saved = lm_ffn_block, grows = lm_ffn_block_grows;
        lm_ffn_block = 16, lm_ffn_block_grows = 0;
        inf.lean = LM_LEAN_OBSERVED;
        long next = 0;
        double got = lm_forward_observed(&inf, &(LmObserver){NULL, count_head_rows, &next}, ids, tg,
                                         NULL, B, T);
        CHECK(inf.window_attn == G && next == N);
        CHECK_MSG(fabs(got - want) <= 1e-6 * want, "windows %d: %.17g vs training layout %.17g", G,
                  got, want);
        /* the q buffer holds G windows: k follows its G·T·qd floats (taken in turn) */
        const int qd = c.n_head * lm_head_dim(&c);
        CHECK(inf.acts[0].k == inf.acts[0].q + (long)G * T * qd);
        /* a growing block (the default): this small model's whole batch fits 32 MiB, so one
         * block, the same loss within float rounding */
        lm_ffn_block_grows = 1, next = 0;
        lm_free(&inf); /* a fresh layout */
        CHECK(lm_create(&inf, &c, 0) == 0);
        inf.lean = LM_LEAN_OBSERVED;
        got = lm_forward_observed(&inf, &(LmObserver){NULL, count_head_rows, &next}, ids, tg, NULL,
                                  B, T);
        CHECK(inf.ffn_block == 0 && next == N);
        CHECK_MSG(fabs(got - want) <= 1e-6 * want, "one block: %.17g vs %.17g", got, want);
        lm_ffn_block = saved, lm_ffn_block_grows = grows;
        lm_free(&tr);
        lm_free(&inf);
    }
}
