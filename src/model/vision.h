/* The vision model family: a sparsely-gated convolutional Mixture-of-Experts trained with SimCLR's
 * NT-Xent objective (docs/vision.md has the architecture and every formula).
 *
 *   x [B,C,S,S] → stem (conv3×3 → GN → ReLU → maxpool 2) → h [B,Cs,S/2,S/2]
 *   gate: GAP(h) [B,Cs], or GAP of the gate's own conv blocks over h (gate_blocks) → router
 *         (src/nn/moe.h routing half: learned / frozen random / cosine, softmax → top-k, optional
 *         noise, load-balance and z losses) → experts e_ij, weights w_ij
 *   expert e: nb blocks (conv3×3 → GN → ReLU, maxpool 2 between blocks) → GAP → linear → r_e [D]
 *   y_i = Σ_j w_ij · r_{e_ij}(h_i)                         (the representation: "readout")
 *   z_i = W2·ReLU(W1·y_i + b1) + b2                          (projection head)
 *   L = NT-Xent(z; τ) + aux_lb_coef·L_lb + aux_z_coef·L_z + gate_infomax·L_im
 *       + gate_pair_mi·L_pair     (L_pair = −I(expert of view 1; expert of view 2))
 *       + gate_style_mi·I(expert; drawing style of the view)
 *
 * Parameters, gradients, AdamW moments and activations are each one block allocated once. Only the
 * selected experts run on an image in training; analyses can force-run any expert on any image. */
#pragma once
#include "core/rng.h"
#include "nn/conv_chain.h"
#include "nn/moe.h"
#include "nn/ntxent.h"
#include "nn/param.h"
#include <stdint.h>

/* The gate reads g = GAP(stem output). Per image group norm + ReLU make every image's g nearly the
 * same positive vector, so the router's logits are dominated by that common part (docs/vision.md,
 * "Gate collapse"). GATE_NORM_BATCH standardises each feature across the batch (running
 * statistics in evaluation), GATE_NORM_IMAGE each image across its features. */
typedef enum { GATE_NORM_NONE, GATE_NORM_BATCH, GATE_NORM_IMAGE } GateNorm;
/* Which stem features the gate pools: the block's output h (after group norm, ReLU and pool), the
 * conv output before the group norm (it keeps each image's brightness and colour, which the norm
 * removes), or both side by side (router input 2·stem_ch). */
typedef enum { GATE_SRC_RELU, GATE_SRC_CONV, GATE_SRC_BOTH } GateSource;

typedef struct {
    /* architecture */
    int in_ch, img;       /* input channels and side (even) */
    int stem_ch;          /* stem conv channels */
    int n_experts, top_k; /* E experts, k chosen per image */
    int expert_ch;        /* channels of every expert conv */
    int expert_blocks;    /* conv blocks per expert (≥ 1) */
    int readout;          /* D: expert readout / representation size */
    int proj_hidden, proj_dim;
    int groups; /* group-norm groups (divides stem_ch and expert_ch) */
    /* gate (the MoE core's router options) */
    RouterKind router; /* ROUTER_LEARNED, ROUTER_RANDOM or ROUTER_COSINE */
    int renorm;        /* renormalise the k weights to sum 1 */
    float noise_std;   /* noisy top-k: N(0, σ²) on the gate logits while training */
    int noise_learned; /* Shazeer's noisy top-k: σ = softplus(W_noise·g) per expert, learned */
    float aux_lb_coef, aux_z_coef;
    float aux_imp_coef, aux_load_coef; /* Shazeer importance and load losses (nn/moe.h) */
    int route_choice;                  /* RouteChoice: token (top-k) or expert choice */
    float capacity_factor; /* expert choice: c = cf·k·n/E images per expert (0 = 1); token
                              choice: per-expert capacity (0 = none) */
    int cos_dim;
    int gate_norm;       /* GATE_NORM_*: standardise the gate's pooled stem features (see above) */
    int gate_source;     /* GATE_SRC_*: which stem features the gate pools */
    int gate_blocks;     /* conv blocks of the gate's own over the stem output h (0: none); with
                            them the relu part of the gate input is GAP(tower(h)) [gate_ch] */
    int gate_ch;         /* width of those blocks */
    float gate_init_std; /* router weight init std */
    float gate_lr_mult;  /* the gate's learning rate = lr × this */
    int aux_lb_warmup;   /* steps over which the balance weight falls from aux_lb_start */
    float aux_lb_start;  /* balance weight at step 0 (ramps linearly to aux_lb_coef) */
    float gate_infomax;  /* weight of −I(image; expert) in the batch (nn/gate_infomax.h) */
    float gate_pair_mi;  /* weight of −I(expert of view 1; expert of view 2) over the pairs */
    float gate_style_mi; /* weight of I(expert; drawing style) in the batch (view_label) */
    int gate_adapt;      /* evaluate/analyse each image domain with gate statistics re-estimated
                            on it (vision_embed_adapted; GATE_NORM_BATCH only) */
    /* objective and augmentations (SimCLR; see src/data/augment.h) */
    float tau;
    float aug_crop_min;   /* smallest crop area fraction */
    float aug_flip;       /* horizontal flip probability */
    float aug_jitter;     /* colour-jitter probability */
    float aug_strength;   /* jitter strength s: brightness/contrast/saturation 0.8s, hue 0.2s */
    float aug_grey;       /* random greyscale probability */
    float aug_blur;       /* Gaussian blur probability */
    float aug_pair_style; /* probability a pair's second view shows its concept in another
                             training style (vision_pairs.h; sets with concepts) */
    /* training */
    int batch; /* images per step (2·batch views) */
    int steps, warmup;
    float lr, weight_decay;
    uint64_t seed;
    int eval_every;   /* probe every this many steps (0: only at the end) */
    int probe_images; /* images for the probe (half train, half held out); 0 = all */
    int threads;      /* recorded for reproducibility (OpenMP threads of the run) */
} VisionConfig;

/* Presets "tiny" and "small"; -1 + ml_error for another name. in_ch/img are set from the data. */
int vision_preset(VisionConfig *cfg, const char *name);
/* Applies "key=value" (keys = the JSON names of vision_config_to_json). -1 + ml_error if bad. */
int vision_config_set(VisionConfig *cfg, const char *key_value);
int vision_config_validate(const VisionConfig *cfg);
/* One line per key to stdout: name, value in cfg, help text. */
void vision_config_print_help(const VisionConfig *cfg);
char *vision_config_to_json(const VisionConfig *cfg); /* ml_free it */
int vision_config_from_json(VisionConfig *cfg, const char *json);
/* `train vision --config FILE.json`: the file's keys over cfg (a run's config.json, or any subset
 * of its keys); "model", when present, must say "vision"; an unknown key is refused. */
int vision_config_load_file(VisionConfig *cfg, const char *path);
/* The augmentation settings of cfg. */
struct AugmentConfig;
void vision_augment_config(const VisionConfig *cfg, struct AugmentConfig *aug);
/* The router's input width: the relu part (stem_ch, or gate_ch with gate_blocks) and / or the
 * conv part (stem_ch), as gate_source says. */
int vision_gate_dim(const VisionConfig *cfg);
int vision_gate_relu_dim(const VisionConfig *cfg);
/* The gate's MoeConfig derived from the model config. */
MoeConfig vision_gate_config(const VisionConfig *cfg);

typedef struct {
    ConvBlockParams stem;
    MoeParams gate;
    ConvBlockParams *blocks;     /* [E · nb], expert e block b at e·nb + b */
    ConvBlockParams *gate_tower; /* [gate_blocks] the gate's own conv blocks */
    float **ro_w, **ro_b;        /* per expert: readout [D, expert_ch], [D] */
    float *p1_w, *p1_b, *p2_w, *p2_b;
    float *gate_run_mean, *gate_run_var; /* [stem_ch] GATE_NORM_BATCH running statistics (frozen) */
} VisionParams;

typedef struct VisionActs VisionActs; /* owned by vision.c */

typedef struct {
    VisionConfig cfg;
    MoeConfig gate_cfg;
    long n_params;
    float *params, *grads, *adam_m, *adam_v;
    VisionParams p, g;
    ParamTensor *tensors;
    int n_tensors;
    int max_views; /* images one forward can take (2·batch) */
    VisionActs *acts;
    MoeActs gate_acts;         /* gate probabilities, chosen experts, weights of the last forward */
    float *readout;            /* [max_views, D] y of the last forward */
    float *expert_readout;     /* [max_views·k, D] r of each chosen (image, rank), see slot_of */
    int32_t *slot_of;          /* [max_views·k]: row of expert_readout for (image i, rank j) */
    float loss, ntxent, top1;  /* of the last forward with loss */
    float infomax;             /* unweighted gate information loss of the last forward */
    float pair_mi;             /* unweighted pair information loss of the last forward */
    float style_mi;            /* unweighted I(expert; view label) of the last forward */
    const int32_t *view_label; /* [max_views] each view's label (its drawing style) for
                                  gate_style_mi, or NULL; set by the caller before a forward */
    int n_view_labels;         /* labels lie in [0, n_view_labels) */
    int step;                  /* optimizer steps taken */
    Rng rng;                   /* gate noise stream */
    const MoeOverride *gate_override; /* routing intervention for every forward (e.g. a logit bias
                                         forcing a collapse in tests), or NULL */
} VisionModel;

/* Allocates everything for cfg (validated) and initialises parameters from cfg->seed. */
int vision_init(VisionModel *m, const VisionConfig *cfg);
void vision_free(VisionModel *m);

/* Forward over n ≤ max_views images x [n, C, S, S]. With views != 0, rows 2k/2k+1 are two views
 * and the NT-Xent loss is computed (m->loss); train != 0 draws gate noise. Fills m->readout,
 * gate_acts, expert_readout. */
void vision_forward(VisionModel *m, const float *x, int n, int views, int train);
/* Backward of the last forward (views and loss required): grads are zeroed then filled. */
void vision_backward(VisionModel *m);
/* One AdamW step with the scheduled learning rate (linear warmup, cosine decay). */
void vision_step(VisionModel *m);
float vision_lr(const VisionConfig *cfg, int step);

/* Representations in eval mode for n images (any n; chunked): readout [n, D] (may be NULL),
 * gate probabilities [n, E] and chosen experts [n, k] (may be NULL). */
void vision_embed(VisionModel *m, const float *x, int n, float *readout, float *probs,
                  int32_t *chosen);
/* The gate's view of n images in eval mode: pooled stem features [n, vision_gate_dim] before the
 * gate normalisation and router logits [n, E] (either may be NULL); for measuring collapse. */
void vision_gate_inputs(VisionModel *m, const float *x, int n, float *feat, float *logits);
/* GATE_NORM_BATCH: sets the gate's running statistics to the exact mean and (unbiased) variance of
 * the pooled stem features of n images in eval mode ("precise" statistics: training keeps a
 * momentum average over augmented views, whose statistics differ from clean images'). Returns 0,
 * or -1 + ml_error when the gate has no running statistics or n < 2. */
int vision_gate_calibrate(VisionModel *m, const float *x, int n);
/* vision_embed, but with cfg.gate_adapt (and GATE_NORM_BATCH) the gate's statistics are first
 * re-estimated on each domain's images (dom[i] ∈ [0, 64), NULL = one domain) by
 * vision_gate_calibrate, as batch norm is adapted to a new domain (AdaBN, Li et al. 2016); the
 * model's own statistics are restored afterwards. Domains of fewer than 2 images keep them. */
void vision_embed_adapted(VisionModel *m, const float *x, const int32_t *dom, int n, float *readout,
                          float *probs, int32_t *chosen);
/* The balance-loss weight at a step (aux_lb_start → aux_lb_coef over aux_lb_warmup steps). */
float vision_aux_lb(const VisionConfig *cfg, int step);
/* Force-runs expert e on n images (whatever the gate says): out [n, D]. */
void vision_expert_readouts(VisionModel *m, int e, const float *x, int n, float *out);

/* Checkpoint: safetensors with every parameter, config JSON in __metadata__["config"], plus the
 * optimizer moments, step and RNG state (so a resumed run continues bit-identically). */
int vision_save(const VisionModel *m, const char *path);
/* Loads a checkpoint written by vision_save into a fresh model (vision_init'd from its config). */
int vision_load(VisionModel *m, const char *path);
