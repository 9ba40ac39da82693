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

/* Pair information loss (the cross-view half of IIC: Ji, Henriques & Vedaldi 2019, "Invariant
 * information clustering"). Rows 2k and 2k+1 are two views of one image (NT-Xent's layout); their
 * symmetrised joint gate distribution over B = N/2 pairs is
 *     P_ab = (1/2B) Σ_k (p_2k,a p_2k+1,b + p_2k+1,a p_2k,b),   marginal m_a = Σ_b P_ab,
 *     L = −I(expert of view 1; expert of view 2) = −Σ_ab P_ab ln(P_ab / (m_a m_b)).
 * Minimising it routes both views of an image (two crops, or two styles of one concept with
 * aug_pair_style) to the same expert while the pairs spread over the experts. Range [−ln E, 0]. */
double gate_pair_mi_forward(const float *probs, int N, int E);
/* dlogits[N, E] += coef · ∂L/∂z through the softmax; N must be even. */
void gate_pair_mi_backward(float *dlogits, const float *probs, int N, int E, float coef);

/* Label information loss: how much the gate says about a known label of each row (the vision
 * gate's drawing style, gate_style_mi), to be minimised so that the router splits every label's
 * rows alike. With labels l_i ∈ [0, K), the label's share π_l = N_l / N and its mean gate
 * p̄_l = (1/N_l) Σ_{i: l_i = l} p_i,
 *     L = I(expert; label) = H(p̄) − Σ_l π_l H(p̄_l)   (≥ 0; 0 when every label's mean gate is p̄).
 * Rows with a label outside [0, K) are left out. */
double gate_label_mi_forward(const float *probs, const int *labels, int N, int E, int K);
/* dlogits[N, E] += coef · ∂L/∂z through the softmax. */
void gate_label_mi_backward(float *dlogits, const float *probs, const int *labels, int N, int E,
                            int K, float coef);
