/* Linear probe: multinomial logistic regression on frozen features, the standard read-out of how
 * linearly decodable a representation is (SimCLR's evaluation; per-expert separability).
 * Features are standardised with the training rows' mean and std; the model is
 *   p(y|x) = softmax(W·x̃ + b),  loss = mean_n −log p(y_n|x_n) + (l2/2)‖W‖²,
 * fitted by full-batch Adam from W = 0 for a fixed number of iterations: deterministic (no random
 * draws at all, so no seed is needed) and independent of the thread count. */
#pragma once
#include <stdint.h>

typedef struct {
    float l2;  /* ridge strength (default 1e-3) */
    int iters; /* Adam iterations (default 300) */
    float lr;  /* Adam step (default 0.05) */
} ProbeConfig;

typedef struct {
    int D, K;
    float *W, *b;   /* [K, D], [K] on standardised features */
    float *mu, *sd; /* [D] standardisation */
} Probe;

ProbeConfig probe_default_config(void);
/* Fits on X [n, D] with labels y in [0, K). -1 + ml_error on bad labels or n = 0. */
int probe_fit(Probe *p, const float *X, const int32_t *y, int n, int D, int K,
              const ProbeConfig *cfg);
/* pred[n] = argmax class. */
void probe_predict(const Probe *p, const float *X, int n, int32_t *pred);
/* Fraction of rows classified correctly. */
double probe_accuracy(const Probe *p, const float *X, const int32_t *y, int n);
void probe_free(Probe *p);
/* Fit on (Xtr, ytr), return held-out accuracy on (Xte, yte); -1 on error. */
double probe_train_eval(const float *Xtr, const int32_t *ytr, int ntr, const float *Xte,
                        const int32_t *yte, int nte, int D, int K, const ProbeConfig *cfg);
/* A probe within one sample X [n, D]: the rows whose group is even fit it and the odd ones test it,
 * so no group (e.g. a concept drawn in several styles) is on both sides and a group's other
 * renderings cannot simply be recognised; groups NULL: the first half fits, the second tests.
 * Returns the test accuracy; -1 + ml_error when a side is empty or a label is out of range. */
double probe_within(const float *X, const int32_t *y, const int32_t *groups, int n, int D, int K,
                    const ProbeConfig *cfg);
/* Leave one group out: for each group g present (ids >= 0; rows with id -1 sit out), a probe fitted
 * on every row of another group is tested on g's rows; returns the mean of those accuracies (each
 * group counts once). Used with the drawing style as the group, it asks how well the readout
 * transfers to a style it was not fitted on, using the training styles alone. -1 + ml_error with
 * fewer than 2 groups. */
double probe_leave_group_out(const float *X, const int32_t *y, const int32_t *groups, int n, int D,
                             int K, const ProbeConfig *cfg);
