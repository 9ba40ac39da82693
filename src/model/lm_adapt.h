/* ZEDA's conversion of a trained MoE LM (Lv et al., arXiv 2605.18643; docs/zeda.md): every MoE
 * layer gains Z zero-output experts. The student is the original with its router grown from
 * E+Z0 to E+Z0+Z rows; it is then self-distilled against the frozen original (lm_train with a
 * teacher) under the group balance loss, so that a share of the routed slots moves to the
 * zero experts and that expert work is skipped. */
#pragma once
#include "model/lm.h"

/* The student's config: orig with n_zero += Z and the adaptation defaults (group loss α = 0.1,
 * w = 2, no Switch loss, lr orig/10, 300 steps). Refuses routers without learned logits. */
int lm_adapt_config(LmConfig *student, const LmConfig *orig, int Z);
/* --set may change training settings and the MoE losses, not the architecture: -1 + ml_error
 * naming the first changed key otherwise. */
int lm_adapt_check_arch(const LmConfig *student, const LmConfig *orig, int Z);
/* dst (created from student, gradients allocated) takes every tensor of src exactly; each grown
 * router's new rows are drawn per hidden dimension d from N(mean_d, sd_d) of the existing rows
 * (a sigmoid router's balancing bias likewise), from seed. */
int lm_adapt_grow(LmModel *dst, const LmModel *src, uint64_t seed);
