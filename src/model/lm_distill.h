/* Self-distillation of a language model against a frozen teacher (ZEDA stage 1): the loss is the
 * per-token KL divergence KL(p_teacher ‖ p_student) of the next-token distributions. */
#pragma once
#include <stdint.h>

/* probs[N,V] holds the student's softmax on entry and scale·∂/∂logits of Σ_n KL_n on exit
 * (= scale·(p_S − p_T)); teacher[N,V] the teacher's softmax. Rows whose target is < 0 are not
 * scored (gradient 0). Returns Σ_n KL_n over scored rows (nats). */
double lm_distill_kl(float *probs, const float *teacher, const int32_t *targets, int N, int V,
                     float scale);
