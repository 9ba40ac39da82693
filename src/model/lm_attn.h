/* Causal attention for the inference path: attention_forward's arithmetic (attention_head_forward:
 * the same GEMMs on the same row blocks, the same softmax), but each thread keeps only one block
 * of score rows [ATTENTION_BLOCK, T] instead of the whole [B, NH, T, T] probability tensor, which
 * only the backward pass needs. */
#pragma once

void lm_attention_infer(float *out, const float *q, const float *k, const float *v, int B, int T,
                        int NH, int NKV, int HD);
