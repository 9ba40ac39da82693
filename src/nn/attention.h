/* Causal multi-head attention with grouped-query heads, plus rotary position embedding.
 * Layouts: q [B,T,NH,HD], k and v [B,T,NKV,HD] (NH % NKV == 0; head h reads kv head h/(NH/NKV)),
 * out [B,T,NH,HD], att [B,NH,T,T] (softmax probabilities, cached for backward; entries above the
 * diagonal are 0). Scale 1/sqrt(HD). Backward accumulates into dq, dk, dv. */
#pragma once

/* Queries are processed in blocks of ATTENTION_BLOCK rows; a block [r0,r1) needs keys [0,r1) only.
 */
#define ATTENTION_BLOCK 64
/* Row t of scaled scores → causal softmax over columns 0..t, zero for t < j < T (in place). */
void attention_causal_softmax_row(float *row, int t, int T);

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int B, int T, int NH, int NKV, int HD);
/* One (batch, head) pair bh = b·NH + h of attention_forward, block by block of query rows: its
 * probabilities go to probs [T, T] when keep_probs (att's slice, for the backward), else each
 * block's overwrite one scratch [ATTENTION_BLOCK, T] (inference). */
void attention_head_forward(float *out, float *probs, int keep_probs, const float *q,
                            const float *k, const float *v, int bh, int T, int NH, int NKV, int HD);
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, int B, int T, int NH,
                        int NKV, int HD);

/* Rotary position embedding, in place over x [B,T,H,HD], position of (b,t) = t + pos0.
 * ROPE_NORM rotates adjacent pairs (2i, 2i+1) (llama.cpp "norm": llama, deepseek);
 * ROPE_NEOX rotates (i, i+n_rot/2) (llama.cpp "neox": qwen2moe, qwen3moe, olmoe).
 * n_rot ≤ HD dims are rotated; theta_i = pos · base^(-2i/n_rot). Backward = inverse rotation. */
typedef enum { ROPE_NORM = 0, ROPE_NEOX = 1 } RopeMode;
void rope_forward(float *x, int B, int T, int H, int HD, int n_rot, float base, RopeMode mode,
                  int pos0);
void rope_backward(float *dx, int B, int T, int H, int HD, int n_rot, float base, RopeMode mode,
                   int pos0);
