/* Softmax cross-entropy over a vocabulary, fused. Targets < 0 are ignored (no loss, no grad). */
#pragma once
#include <stdint.h>

/* probs[N,V] = softmax(logits) (may alias logits); losses[n] = -log probs[n, targets[n]] (0 if
 * ignored). Returns the summed loss over non-ignored rows, in double. */
double xent_forward(float *probs, float *losses, const float *logits, const int32_t *targets, int N,
                    int V);
/* dlogits[N,V] = (probs - onehot(target)) * scale (written, not accumulated; may alias probs). */
void xent_backward(float *dlogits, const float *probs, const int32_t *targets, int N, int V,
                   float scale);
