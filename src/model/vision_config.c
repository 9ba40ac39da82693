/* VisionConfig: presets, key=value overrides, validation and the JSON stored in checkpoints. */
#include "core/config_table.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "model/vision.h"
#include "data/augment.h"
#include "nn/moe_kinds.h"
#include <cjson/cJSON.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* One name per knob, shared with the LM config where the knob is the same (router_noise, aux_lb,
 * aux_z); the alias is the name older runs' config.json files carry. Rows: field, default, help
 * (VE: the value names before the default; VA: a renamed knob, its name first and the field's as
 * the alias). The defaults are the tiny preset; tau, lr and aug_crop_min were measured on
 * Fashion-MNIST (docs/vision.md, "Probe margin"). */
#define VI(n, d, h)                                                                                \
    { #n, CFG_INT, offsetof(VisionConfig, n), NULL, h, NULL, d }
#define VF(n, d, h)                                                                                \
    { #n, CFG_FLOAT, offsetof(VisionConfig, n), NULL, h, NULL, d }
#define VE(n, c, d, h)                                                                             \
    { #n, CFG_ENUM, offsetof(VisionConfig, n), c, h, NULL, d }
#define VA(name, f, d, h)                                                                          \
    { name, CFG_FLOAT, offsetof(VisionConfig, f), NULL, h, #f, d }

static const char *const gate_norm_names[] = {"none", "batch", "image", NULL};
static const char *const gate_source_names[] = {"relu", "conv", "both", NULL};

static const CfgField fields[] = {
    VI(in_ch, 1, "input channels (set from the data)"),
    VI(img, 28, "input side (set from the data)"),
    VI(stem_ch, 16, "stem channels"),
    VI(n_experts, 4, "experts E"),
    VI(top_k, 2, "experts chosen per image"),
    VI(expert_ch, 32, "expert conv width"),
    VI(expert_blocks, 2, "conv blocks per expert"),
    VI(readout, 64, "readout size D"),
    VI(proj_hidden, 64, "projection head hidden width"),
    VI(proj_dim, 64, "projection head output width"),
    VI(groups, 4, "group-norm groups"),
    VE(router, moe_router_names, ROUTER_LEARNED, "gate: learned | random (frozen) | cosine"),
    VI(renorm, 1, "renormalise the top-k weights to sum 1 (1/0)"),
    VA("router_noise", noise_std, 0, "noisy top-k: N(0, s^2) on the gate logits while training"),
    VA("aux_lb", aux_lb_coef, 0.01, "load-balance loss weight (after aux_lb_warmup)"),
    VA("aux_z", aux_z_coef, 0.001, "router z-loss weight"),
    {"router_noise_learned", CFG_INT, offsetof(VisionConfig, noise_learned), NULL,
     "Shazeer noisy top-k: noise sd softplus(W_noise x) learned per expert (learned router; 1/0)",
     NULL, 0},
    VA("aux_importance", aux_imp_coef, 0,
       "Shazeer importance loss weight: CV(sum over the batch of the combine weights)^2"),
    VA("aux_load", aux_load_coef, 0,
       "Shazeer load loss weight: CV(smooth top-k load)^2, P = Phi((clean - kth other noisy) / "
       "router_noise); needs router_noise > 0"),
    VE(route_choice, moe_choice_names, CHOICE_TOKEN,
       "token (each image takes its top-k experts) | expert (in training each expert takes its "
       "top c = capacity_factor*k*n/E images of the batch; evaluation routes by token choice)"),
    VF(capacity_factor, 0,
       "expert choice: images per expert = capacity_factor*k*n/E (0 = 1); token "
       "choice: per-expert capacity (0 = none)"),
    VI(cos_dim, 16, "cosine router projection size"),
    VE(gate_norm, gate_norm_names, GATE_NORM_BATCH,
       "gate input standardisation: batch (per feature across the batch; running statistics "
       "in evaluation) | image (per image across features) | none"),
    VE(gate_source, gate_source_names, GATE_SRC_BOTH,
       "stem features the gate pools: relu (block output) | conv (before group norm) | both"),
    VI(gate_blocks, 0,
       "conv blocks of the gate's own over the stem output (conv3x3 -> group norm -> ReLU, "
       "maxpool between); the gate pools the last one in place of the stem output (0: none)"),
    VI(gate_ch, 32, "width of the gate's conv blocks (with gate_blocks > 0)"),
    VF(gate_init_std, 0.02, "router weight init std"),
    VF(gate_lr_mult, 10.0, "gate learning rate = lr x this"),
    VI(aux_lb_warmup, 0, "steps over which the balance weight goes aux_lb_start -> aux_lb"),
    VF(aux_lb_start, 0, "balance weight at step 0 (with aux_lb_warmup > 0)"),
    VI(gate_adapt, 1,
       "evaluate/analyse held-out images with gate statistics re-estimated on them "
       "(AdaBN; gate_norm=batch) (1/0); eval.json reports both"),
    VF(gate_infomax, 1.0,
       "weight of the gate information loss mean H(p_i) - H(mean p): confident "
       "gates, spread over the experts (learned or random router)"),
    VF(gate_pair_mi, 0,
       "weight of the pair information loss -I(expert of view 1; expert of view 2): both views "
       "of an image (or both styles, with aug_pair_style) to one expert (learned or random "
       "router)"),
    VF(gate_style_mi, 0,
       "weight of the style information loss I(expert; drawing style) in the batch: every "
       "training style's images split alike over the experts (learned or random router; needs "
       "a set with styles)"),
    VF(tau, 0.2, "NT-Xent temperature"),
    VF(aug_crop_min, 0.5, "smallest random-crop area fraction"),
    VF(aug_flip, 0.5, "horizontal flip probability"),
    VF(aug_jitter, 0.8, "colour-jitter probability"),
    VF(aug_strength, 0.5, "colour-jitter strength"),
    VF(aug_grey, 0.2, "random greyscale probability"),
    VF(aug_blur, 0, "Gaussian blur probability"),
    VF(aug_pair_style, 0,
       "probability that a pair's second view shows the same concept in another training style "
       "(a cross-style positive; needs a set with concepts, e.g. the emoji set)"),
    VI(batch, 64, "images per step (2 views each)"),
    VI(steps, 500, "optimizer steps"),
    VI(warmup, 20, "learning-rate warmup steps"),
    VF(lr, 1e-3, "peak learning rate (AdamW)"),
    VF(weight_decay, 1e-4, "AdamW decoupled weight decay"),
    {"seed", CFG_U64, offsetof(VisionConfig, seed), NULL,
     "seed of initialisation, batches, augmentations", NULL, 1},
    VI(eval_every, 100, "evaluate every this many steps (0: only at the end)"),
    VI(probe_images, 4000, "images for the probe and gate summary (half fit, half held out)"),
    VI(threads, 0, "OpenMP threads (recorded)"),
};
static const CfgTable table = {fields, (int)(sizeof fields / sizeof fields[0])};

int vision_preset(VisionConfig *c, const char *name) {
    memset(c, 0, sizeof *c);
    cfg_defaults(c, &table); /* the tiny preset */
    if (!strcmp(name, "tiny")) return 0;
    if (!strcmp(name, "small")) {
        c->stem_ch = 32, c->n_experts = 8, c->top_k = 2, c->expert_ch = 64, c->readout = 128;
        c->proj_hidden = 128, c->proj_dim = 128, c->groups = 8, c->batch = 128, c->steps = 2000;
        c->eval_every = 250, c->probe_images = 10000;
        return 0;
    }
    if (!strcmp(name, "study")) {
        /* the Beyond Routing study: small's widths, batch 256; 0.605 CPU-s per step on the emoji
         * set, so 4,500 steps ≈ 23–28 min on 2 cores (docs/vision.md, "The study") */
        c->stem_ch = 32, c->n_experts = 8, c->top_k = 2, c->expert_ch = 64, c->readout = 128;
        c->proj_hidden = 128, c->proj_dim = 128, c->groups = 8, c->batch = 256, c->steps = 4500;
        c->warmup = 100, c->eval_every = 1500, c->probe_images = 4000;
        c->aug_pair_style = 0.5f; /* cross-style positives: docs/vision.md, "Cross-style pairs" */
        return 0;
    }
    return ml_error("--preset: expected tiny, small or study, got '%s'", name);
}

/* The gate is a scored router (learned, random, cosine): hash, domain and dense routers have no
 * logits to pool an image into. */
static int set_value(VisionConfig *c, const CfgField *f, const char *v) {
    if (cfg_set(c, f, v)) return -1;
    if (f->offset == offsetof(VisionConfig, router) && !moe_router_is_scored(c->router)) {
        char names[128];
        moe_router_list(names, sizeof names, 1);
        return ml_error("router: expected %s, got '%s'", names, v);
    }
    return 0;
}

int vision_config_set(VisionConfig *c, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq) return ml_error("--set: expected key=value, got '%s'", kv);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    const CfgField *f = cfg_find(&table, key);
    if (!f) return ml_error("--set: unknown key '%s' (see moelens train vision --help)", key);
    return set_value(c, f, eq + 1);
}

void vision_config_print_help(const VisionConfig *c) {
    cfg_print_help(&table, c);
}

/* Allowed ranges, as the LM config states its own (lm_config.c): checked for every source alike
 * (presets, --set, JSON, checkpoints); `above` makes the lower bound exclusive. */
static const CfgRange ranges[] = {
    {"n_experts", 1, 256, 0},
    {"expert_blocks", 1, 31, 0},
    {"stem_ch", 1, 4096, 0},
    {"expert_ch", 1, 4096, 0},
    {"readout", 1, 65536, 0},
    {"proj_hidden", 1, 65536, 0},
    {"proj_dim", 1, 65536, 0},
    {"groups", 1, 4096, 0},
    {"renorm", 0, 1, 0},
    {"router_noise", 0, FLT_MAX, 0},
    {"aux_lb", 0, FLT_MAX, 0},
    {"aux_z", 0, FLT_MAX, 0},
    {"router_noise_learned", 0, 1, 0},
    {"aux_importance", 0, FLT_MAX, 0},
    {"aux_load", 0, FLT_MAX, 0},
    {"route_choice", CHOICE_TOKEN, CHOICE_EXPERT, 0},
    {"capacity_factor", 0, 64, 0},
    {"cos_dim", 0, 65536, 0},
    {"gate_norm", GATE_NORM_NONE, GATE_NORM_IMAGE, 0},
    {"gate_source", GATE_SRC_RELU, GATE_SRC_BOTH, 0},
    {"gate_blocks", 0, CONV_CHAIN_MAX, 0},
    {"gate_ch", 1, 4096, 0},
    {"gate_init_std", 0, FLT_MAX, 0},
    {"gate_lr_mult", 0, FLT_MAX, 0},
    {"aux_lb_warmup", 0, INT_MAX, 0},
    {"gate_infomax", 0, FLT_MAX, 0},
    {"gate_pair_mi", 0, FLT_MAX, 0},
    {"gate_style_mi", 0, FLT_MAX, 0},
    {"tau", 0, FLT_MAX, 1},
    {"aug_crop_min", 0, 1, 1},
    {"aug_flip", 0, 1, 0},
    {"aug_jitter", 0, 1, 0},
    {"aug_strength", 0, 1.25, 0},
    {"aug_grey", 0, 1, 0},
    {"aug_blur", 0, 1, 0},
    {"aug_pair_style", 0, 1, 0},
    {"batch", 2, 4096, 0},
    {"steps", 0, INT_MAX, 0},
    {"warmup", 0, INT_MAX, 0},
    {"lr", 0, FLT_MAX, 1},
    {"weight_decay", 0, FLT_MAX, 0},
    {"eval_every", 0, INT_MAX, 0},
    {"probe_images", 0, INT_MAX, 0},
    {"threads", 0, INT_MAX, 0},
};

/* Ranges first (so the checks between fields below never divide by zero or shift too far). */
int vision_config_validate(const VisionConfig *c) {
    if (cfg_check_ranges(c, &table, ranges, (int)(sizeof ranges / sizeof ranges[0]))) return -1;
#define NEED(cond, ...)                                                                            \
    if (!(cond)) return ml_error(__VA_ARGS__)
    NEED(c->in_ch == 1 || c->in_ch == 3, "in_ch: expected 1 or 3, got %d", c->in_ch);
    NEED(c->img >= 4 && c->img % 2 == 0 && c->img <= 256,
         "img: expected an even side in [4,256], got %d", c->img);
    NEED((c->img / 2) >> (c->expert_blocks - 1) >= 1,
         "expert_blocks: %d blocks need a larger image than %d", c->expert_blocks, c->img);
    NEED(c->top_k >= 1 && c->top_k <= c->n_experts, "top_k: expected 1..n_experts (%d), got %d",
         c->n_experts, c->top_k);
    NEED(c->stem_ch % c->groups == 0 && c->expert_ch % c->groups == 0,
         "groups: %d must divide stem_ch (%d) and expert_ch (%d)", c->groups, c->stem_ch,
         c->expert_ch);
    NEED(c->gate_blocks == 0 || ((c->img / 2) >> (c->gate_blocks - 1) >= 1 &&
                                 (c->img / 2) % (1 << (c->gate_blocks - 1)) == 0),
         "gate_blocks: %d blocks need a larger image than %d", c->gate_blocks, c->img);
    NEED(c->gate_blocks == 0 || c->gate_ch % c->groups == 0, "groups: %d must divide gate_ch (%d)",
         c->groups, c->gate_ch);
    NEED(c->gate_blocks == 0 || c->gate_source != GATE_SRC_CONV,
         "gate_blocks: the gate's blocks feed the relu part of its input; expected gate_source "
         "relu or both, got conv");
    NEED(moe_router_is_scored(c->router), "router: expected learned, random or cosine");
    NEED(c->gate_infomax == 0 || c->router != ROUTER_COSINE,
         "gate_infomax: expected a learned or random router (set gate_infomax=0 for "
         "router=cosine)");
    NEED(c->gate_pair_mi == 0 || c->router != ROUTER_COSINE,
         "gate_pair_mi: expected a learned or random router (set gate_pair_mi=0 for "
         "router=cosine)");
    NEED(c->gate_style_mi == 0 || c->router != ROUTER_COSINE,
         "gate_style_mi: expected a learned or random router (set gate_style_mi=0 for "
         "router=cosine)");
    NEED(c->router != ROUTER_COSINE || c->cos_dim > 0,
         "cos_dim: expected > 0 for the cosine router");
    NEED(c->aux_load_coef == 0 || c->noise_std > 0 || c->noise_learned,
         "aux_load: expected router_noise > 0 or router_noise_learned=1 (the sd of the load "
         "estimator), got router_noise %g",
         c->noise_std);
    NEED(!c->noise_learned || c->router == ROUTER_LEARNED,
         "router_noise_learned: expected router=learned (W_noise sits beside its weights)");
    NEED(!c->noise_learned ||
             (c->gate_infomax == 0 && c->gate_pair_mi == 0 && c->gate_style_mi == 0),
         "router_noise_learned: expected gate_infomax=0, gate_pair_mi=0 and gate_style_mi=0 (the "
         "information losses' gradients do not reach W_noise)");
    NEED(c->aux_load_coef == 0 || c->route_choice == CHOICE_TOKEN,
         "aux_load: expected route_choice=token (with expert choice every expert takes exactly c "
         "images)");
#undef NEED
    return 0;
}

char *vision_config_to_json(const VisionConfig *c) {
    return cfg_json_text(&table, c, "vision", 0);
}

/* Keys this table does not know ("model", or a later version's) are passed over, so a newer
 * run's config still loads with its known keys. */
int vision_config_from_json(VisionConfig *c, const char *json) {
    cJSON *o = cJSON_Parse(json);
    if (!o) return ml_error("config: not valid JSON");
    const cJSON *model = cJSON_GetObjectItem(o, "model");
    if (!cJSON_IsString(model) || strcmp(model->valuestring, "vision")) {
        cJSON_Delete(o);
        return ml_error("config: expected \"model\": \"vision\"");
    }
    vision_preset(c, "tiny");
    /* checkpoints from before these keys existed: the gate they were trained with */
    c->gate_norm = GATE_NORM_NONE, c->gate_source = GATE_SRC_RELU, c->gate_lr_mult = 1;
    c->gate_infomax = 0, c->gate_adapt = 0;
    int r = cfg_from_json(c, &table, o, "config", 1);
    cJSON_Delete(o);
    return r ? -1 : vision_config_validate(c);
}

int vision_config_load_file(VisionConfig *c, const char *path) {
    char *buf;
    if (ml_read_file(path, &buf, NULL)) return -1;
    cJSON *o = cJSON_Parse(buf), *model = cJSON_DetachItemFromObject(o, "model");
    ml_free(buf);
    int r;
    if (!cJSON_IsObject(o))
        r = ml_error("%s: config is not a JSON object", path);
    else if (model && (!cJSON_IsString(model) || strcmp(model->valuestring, "vision")))
        r = ml_error("%s: expected \"model\": \"vision\"", path);
    else
        r = cfg_from_json(c, &table, o, path, 0) ? -1 : vision_config_validate(c);
    cJSON_Delete(model), cJSON_Delete(o);
    return r;
}

/* The relu part's width: the stem's channels, or the gate's blocks' when it has them. */
int vision_gate_relu_dim(const VisionConfig *c) {
    return c->gate_blocks > 0 ? c->gate_ch : c->stem_ch;
}

int vision_gate_dim(const VisionConfig *c) {
    int relu = c->gate_source == GATE_SRC_CONV ? 0 : vision_gate_relu_dim(c);
    return relu + (c->gate_source == GATE_SRC_RELU ? 0 : c->stem_ch);
}

MoeConfig vision_gate_config(const VisionConfig *c) {
    return (MoeConfig){.d_model = vision_gate_dim(c),
                       .n_experts = c->n_experts,
                       .top_k = c->top_k,
                       .hidden = 0,
                       .router = c->router,
                       .score = SCORE_SOFTMAX_TOPK,
                       .renorm = c->renorm,
                       .level = ROUTE_TOKEN,
                       .cos_dim = c->cos_dim,
                       .aux_lb_coef = c->aux_lb_coef,
                       .aux_z_coef = c->aux_z_coef,
                       .aux_imp_coef = c->aux_imp_coef,
                       .aux_load_coef = c->aux_load_coef,
                       .choice = (RouteChoice)c->route_choice,
                       .capacity_factor = c->capacity_factor,
                       .noise_std = c->noise_std,
                       .noise_learned = c->noise_learned,
                       .weight_scale = 1.0f,
                       .init_std = c->gate_init_std,
                       .seed = c->seed ^ 0x6A7Eull};
}

void vision_augment_config(const VisionConfig *c, AugmentConfig *a) {
    augment_default(a);
    a->scale_min = c->aug_crop_min, a->flip_p = c->aug_flip, a->jitter_p = c->aug_jitter;
    a->brightness = a->contrast = a->saturation = 0.8f * c->aug_strength;
    a->hue = 0.2f * c->aug_strength;
    a->grey_p = c->aug_grey, a->blur_p = c->aug_blur;
}
