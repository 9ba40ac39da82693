/* Information-maximising gate loss (the vision gate's content-routing term; docs/vision.md).
 *
 * For N rows of gate probabilities p_i = softmax(z_i) over E experts and the batch's mean gate
 * p̄ = (1/N) Σ_i p_i:
 *     L = (1/N) Σ_i H(p_i) − H(p̄)  = −I(image; expert) within the batch,   H(q) = −Σ_e q_e ln q_e.
 * Minimising it makes each image's gate confident (low H(p_i)) while the batch as a whole spreads
 * over the experts (high H(p̄)): the router must split the images by what differs between them
 * (Krause, Perona & Gomes 2010, "Discriminative clustering by regularized information
 * maximization"; the same quantity as IIC's objective with one view). Range [−ln E, 0]. */
#pragma once

/* L over probs [N, E] (rows sum to 1). */
double gate_infomax_forward(const float *probs, int N, int E);
/* dlogits[N, E] += coef · ∂L/∂z through the softmax (probs as in the forward). */
void gate_infomax_backward(float *dlogits, const float *probs, int N, int E, float coef);
