/* Causal attention for the inference path: attention_forward's arithmetic (the same GEMMs on the
 * same row blocks, the same softmax), but each thread keeps only one block of score rows
 * [ATT_BLOCK, T] instead of the whole [B, NH, T, T] probability tensor, which only the backward
 * pass needs. */
#pragma once

void lm_attention_infer(float *out, const float *q, const float *k, const float *v, int B, int T,
                        int NH, int NKV, int HD);
