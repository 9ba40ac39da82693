/* Gradients of a vision model's scalar outputs with respect to ONE input image, for synthesising
 * most exciting inputs (src/analysis/vision/synth.c). A separate single-image pass over the model's
 * parameters, so training's forward and backward stay as they are (they skip the stem's data
 * gradient): the same layers in the same order as vision.c (stem conv → group norm → ReLU →
 * max pool; gate on the global average; expert blocks → global average → readout).
 *
 * Objectives:
 *   VIN_GATE_LOGIT   f(x) = expert e's gate logit (learned or frozen random router);
 *   VIN_READOUT_NORM f(x) = ‖r_e(x)‖₂, expert e force-run (the dataset MEIs' readout score). */
#pragma once
#include "model/vision.h"

typedef enum { VIN_GATE_LOGIT, VIN_READOUT_NORM } VinObjective;

typedef struct VisionInputGrad VisionInputGrad;

/* Buffers for one image of m's size; NULL + ml_error when the router kind has no logit gradient
 * here (cosine: the synthesis of gate logits needs a learned or random router). */
VisionInputGrad *vinput_new(const VisionModel *m);
void vinput_free(VisionInputGrad *g);
/* Gate logits [E] of image x (C·S·S floats), for checking this pass against the model's own. */
void vinput_gate_logits(VisionInputGrad *g, const float *x, float *logits);
/* f(x) for objective `obj` of expert e; with dx non-NULL also ∂f/∂x (C·S·S floats, written). */
double vinput_value_grad(VisionInputGrad *g, VinObjective obj, int e, const float *x, float *dx);
