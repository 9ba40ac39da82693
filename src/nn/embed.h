/* Token (+ optional learned position) embedding. tokens are [B,T] ids. */
#pragma once
#include <stdint.h>

/* out[B,T,C] = wte[tokens[b,t]] + (wpe ? wpe[t] : 0) */
void embed_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe, int B,
                   int T, int C);
/* dwte[tok] += dout ; dwpe[t] += dout (dwpe may be NULL) */
void embed_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens, int B,
                    int T, int C);
