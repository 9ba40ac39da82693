/* ZEDA's group balance loss (Lv et al., arXiv 2605.18643; papers.md §6): experts fall into two
 * groups, the E real ones and the Z zero-output ones, and only the groups are balanced, not the
 * experts within a group. With w the zero group's weight the loss is least when a share
 * wZ/(wZ+E) of the routed slots go to zero experts (w = 2, Z = E/2: half). Value and gradient
 * follow the authors' grouped_load_balancing_loss_func:
 *   L = (E+wZ)/(k·N²) · (C_N·S_N/E + C_Z·S_Z/(wZ)),
 * C_G the top-k slots that went to group G (a count: no gradient), S_G = Σ_n Σ_{i∈G} softmax_i(n).
 */
#include "nn/moe_internal.h"

static double zero_weight(const MoeConfig *cfg) {
    return cfg->zero_weight > 0 ? cfg->zero_weight : 2.0;
}

/* Slots that went to each group. */
static void group_counts(const MoeConfig *cfg, const int32_t *counts, double *real, double *zero) {
    *real = *zero = 0;
    for (int e = 0; e < moe_ez(cfg); e++) *(e < cfg->n_experts ? real : zero) += counts[e];
}

/* The common factor (E+wZ)/(k·N²). */
static double scale_of(const MoeConfig *cfg, double rows, int k) {
    return (cfg->n_experts + zero_weight(cfg) * cfg->n_zero) / (k * rows * rows);
}

double moe_group_loss(const MoeConfig *cfg, const int32_t *counts, const double *psum, double rows,
                      int k) {
    if (cfg->n_zero <= 0 || rows <= 0) return 0;
    double cr, cz, sr = 0, sz = 0;
    group_counts(cfg, counts, &cr, &cz);
    for (int e = 0; e < moe_ez(cfg); e++) *(e < cfg->n_experts ? &sr : &sz) += psum[e];
    return scale_of(cfg, rows, k) *
           (cr * sr / cfg->n_experts + cz * sz / (zero_weight(cfg) * cfg->n_zero));
}

void moe_group_dsoftmax(double *c, const MoeConfig *cfg, const int32_t *counts, double rows, int k,
                        double coef) {
    if (cfg->n_zero <= 0 || coef == 0 || rows <= 0) return;
    const int E = cfg->n_experts;
    double cr, cz, s = coef * scale_of(cfg, rows, k);
    group_counts(cfg, counts, &cr, &cz);
    for (int e = 0; e < moe_ez(cfg); e++)
        c[e] += e < E ? s * cr / E : s * cz / (zero_weight(cfg) * cfg->n_zero);
}
