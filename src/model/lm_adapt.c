#include "model/lm_adapt.h"
#include "core/error.h"
#include "core/mem.h"
#include <math.h>
#include <string.h>

int lm_adapt_config(LmConfig *student, const LmConfig *orig, int Z) {
    if (Z <= 0) return ml_error("adapt: --zero-experts must be positive, got %d", Z);
    if (orig->moe.router != ROUTER_LEARNED)
        return ml_error("adapt: zero experts are routed by a learned router; the run's router is "
                        "not 'learned'");
    *student = *orig;
    student->moe.n_zero += Z;
    student->moe.aux_group_coef = 0.1f; /* the paper's α and w */
    student->moe.zero_weight = 2.0f;
    student->moe.aux_lb_coef = 0; /* Switch over E+Z would pull the zero share to Z/(E+Z) */
    student->lr = orig->lr / 10;
    student->steps = 300, student->warmup = 30, student->eval_every = 100;
    student->ckpt_every = 100;
    return 0;
}

/* The architecture part of a config as JSON: training settings and MoE losses blanked. */
static char *arch_json(const LmConfig *c, int n_zero) {
    LmConfig a = *c;
    a.moe.n_zero = n_zero;
    a.moe.aux_lb_coef = a.moe.aux_z_coef = a.moe.aux_group_coef = a.moe.zero_weight = 0;
    a.moe.noise_std = a.moe.jitter = a.moe.bias_rate = 0;
    a.batch = a.steps = a.grad_accum = a.warmup = a.eval_every = a.eval_batches = 0;
    a.ckpt_every = a.log_every = 0, a.seed = 0;
    a.lr = a.min_lr_frac = a.weight_decay = a.beta1 = a.beta2 = a.adam_eps = a.grad_clip = 0;
    return lm_config_to_json(&a);
}

int lm_adapt_check_arch(const LmConfig *student, const LmConfig *orig, int Z) {
    char *s = arch_json(student, 0), *o = arch_json(orig, 0);
    int same = !strcmp(s, o);
    ml_free(s), ml_free(o);
    if (student->moe.n_zero != orig->moe.n_zero + Z)
        return ml_error("adapt: n_zero is set by --zero-experts, not --set");
    if (!same)
        return ml_error("adapt: --set may change training settings and the MoE losses only, not "
                        "the model's architecture");
    return 0;
}

static const ParamTensor *find_tensor(const LmModel *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

/* dst = src's rows, then rows drawn column by column from N(mean, sd) of src's rows. */
static void grow_rows(float *dst, const float *src, long rows, long new_rows, long cols, Rng *rng) {
    memcpy(dst, src, (size_t)rows * cols * sizeof(float));
    for (long c = 0; c < cols; c++) {
        double s = 0, ss = 0;
        for (long r = 0; r < rows; r++) s += src[r * cols + c];
        double mean = s / rows;
        for (long r = 0; r < rows; r++)
            ss += (src[r * cols + c] - mean) * (src[r * cols + c] - mean);
        double sd = rows > 1 ? sqrt(ss / (rows - 1)) : 0;
        for (long r = rows; r < new_rows; r++)
            dst[r * cols + c] = (float)(mean + sd * rng_normal(rng));
    }
}

int lm_adapt_grow(LmModel *dst, const LmModel *src, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < dst->n_tensors; i++) {
        const ParamTensor *d = &dst->tensors[i], *s = find_tensor(src, d->name);
        if (!s) return ml_error("adapt: the original has no tensor '%s'", d->name);
        if (s->n == d->n) {
            memcpy(d->p, s->p, d->n * sizeof(float));
        } else if (s->ndim == d->ndim && s->shape[0] < d->shape[0] &&
                   s->n / s->shape[0] == d->n / d->shape[0]) { /* a router: more rows */
            long cols = d->n / d->shape[0];
            grow_rows(d->p, s->p, s->shape[0], d->shape[0], cols, &rng);
        } else {
            return ml_error("adapt: tensor '%s' has %ld values in the original, %ld in the student",
                            d->name, s->n, d->n);
        }
    }
    return 0;
}
