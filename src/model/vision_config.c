/* VisionConfig: presets, key=value overrides, validation and the JSON stored in checkpoints. */
#include "core/error.h"
#include "core/mem.h"
#include "model/vision.h"
#include "data/augment.h"
#include "nn/moe_kinds.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_INT, K_FLOAT, K_U64, K_ROUTER } KeyType;
typedef struct {
    const char *name;
    KeyType type;
    size_t off;
} Key;

#define KEY(n, t)                                                                                  \
    { #n, t, offsetof(VisionConfig, n) }
static const Key KEYS[] = {
    KEY(in_ch, K_INT),          KEY(img, K_INT),
    KEY(stem_ch, K_INT),        KEY(n_experts, K_INT),
    KEY(top_k, K_INT),          KEY(expert_ch, K_INT),
    KEY(expert_blocks, K_INT),  KEY(readout, K_INT),
    KEY(proj_hidden, K_INT),    KEY(proj_dim, K_INT),
    KEY(groups, K_INT),         KEY(router, K_ROUTER),
    KEY(renorm, K_INT),         KEY(noise_std, K_FLOAT),
    KEY(aux_lb_coef, K_FLOAT),  KEY(aux_z_coef, K_FLOAT),
    KEY(cos_dim, K_INT),        KEY(tau, K_FLOAT),
    KEY(aug_crop_min, K_FLOAT), KEY(aug_flip, K_FLOAT),
    KEY(aug_jitter, K_FLOAT),   KEY(aug_strength, K_FLOAT),
    KEY(aug_grey, K_FLOAT),     KEY(aug_blur, K_FLOAT),
    KEY(batch, K_INT),          KEY(steps, K_INT),
    KEY(warmup, K_INT),         KEY(lr, K_FLOAT),
    KEY(weight_decay, K_FLOAT), KEY(seed, K_U64),
    KEY(eval_every, K_INT),     KEY(probe_images, K_INT),
    KEY(threads, K_INT),
};
#define N_KEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

/* tau, lr and aug_crop_min: measured on Fashion-MNIST (docs/vision.md, "Probe margin"). */
int vision_preset(VisionConfig *c, const char *name) {
    *c = (VisionConfig){.in_ch = 1,
                        .img = 28,
                        .stem_ch = 16,
                        .n_experts = 4,
                        .top_k = 2,
                        .expert_ch = 32,
                        .expert_blocks = 2,
                        .readout = 64,
                        .proj_hidden = 64,
                        .proj_dim = 64,
                        .groups = 4,
                        .router = ROUTER_LEARNED,
                        .renorm = 1,
                        .noise_std = 0,
                        .aux_lb_coef = 0.01f,
                        .aux_z_coef = 0.001f,
                        .cos_dim = 16,
                        .tau = 0.2f,
                        .aug_crop_min = 0.5f,
                        .aug_flip = 0.5f,
                        .aug_jitter = 0.8f,
                        .aug_strength = 0.5f,
                        .aug_grey = 0.2f,
                        .aug_blur = 0,
                        .batch = 64,
                        .steps = 500,
                        .warmup = 20,
                        .lr = 1e-3f,
                        .weight_decay = 1e-4f,
                        .seed = 1,
                        .eval_every = 100,
                        .probe_images = 4000,
                        .threads = 0};
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
        return 0;
    }
    return ml_error("--preset: expected tiny, small or study, got '%s'", name);
}

static int set_value(VisionConfig *c, const Key *k, const char *v) {
    char *end;
    errno = 0;
    void *at = (char *)c + k->off;
    if (k->type == K_ROUTER) {
        int r = moe_kind_parse(moe_router_names, v);
        if (r >= 0 && moe_router_is_scored((RouterKind)r)) return *(RouterKind *)at = r, 0;
        char names[128];
        moe_router_list(names, sizeof names, 1);
        return ml_error("router: expected %s, got '%s'", names, v);
    }
    if (k->type == K_FLOAT) {
        double d = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(d) || fabs(d) > FLT_MAX)
            return ml_error("%s: expected a finite single-precision number, got '%s'", k->name, v);
        *(float *)at = (float)d;
    } else if (k->type == K_U64) {
        unsigned long long u = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-')
            return ml_error("%s: expected an integer in 0..2^64-1, got '%s'", k->name, v);
        *(uint64_t *)at = u;
    } else {
        long long i = strtoll(v, &end, 10);
        if (errno || end == v || *end || i < INT_MIN || i > INT_MAX)
            return ml_error("%s: expected an integer, got '%s'", k->name, v);
        *(int *)at = (int)i;
    }
    return 0;
}

int vision_config_set(VisionConfig *c, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq) return ml_error("--set: expected key=value, got '%s'", kv);
    for (int i = 0; i < N_KEYS; i++)
        if (strlen(KEYS[i].name) == (size_t)(eq - kv) && !strncmp(KEYS[i].name, kv, eq - kv))
            return set_value(c, &KEYS[i], eq + 1);
    return ml_error("--set: unknown key '%.*s' (see docs/vision.md)", (int)(eq - kv), kv);
}

int vision_config_validate(const VisionConfig *c) {
#define NEED(cond, ...)                                                                            \
    if (!(cond)) return ml_error(__VA_ARGS__)
    NEED(c->in_ch == 1 || c->in_ch == 3, "in_ch: expected 1 or 3, got %d", c->in_ch);
    NEED(c->img >= 4 && c->img % 2 == 0 && c->img <= 256,
         "img: expected an even side in [4,256], got %d", c->img);
    NEED(c->expert_blocks >= 1 && (c->img / 2) >> (c->expert_blocks - 1) >= 1,
         "expert_blocks: %d blocks need a larger image than %d", c->expert_blocks, c->img);
    NEED(c->n_experts >= 1 && c->n_experts <= 256, "n_experts: expected 1..256, got %d",
         c->n_experts);
    NEED(c->top_k >= 1 && c->top_k <= c->n_experts, "top_k: expected 1..n_experts (%d), got %d",
         c->n_experts, c->top_k);
    NEED(c->stem_ch > 0 && c->expert_ch > 0 && c->readout > 0 && c->proj_hidden > 0 &&
             c->proj_dim > 0,
         "widths (stem_ch, expert_ch, readout, proj_hidden, proj_dim) must be positive");
    NEED(c->groups > 0 && c->stem_ch % c->groups == 0 && c->expert_ch % c->groups == 0,
         "groups: %d must divide stem_ch (%d) and expert_ch (%d)", c->groups, c->stem_ch,
         c->expert_ch);
    NEED(moe_router_is_scored(c->router), "router: expected learned, random or cosine");
    NEED(c->tau > 0, "tau: expected > 0, got %g", c->tau);
    NEED(c->batch >= 2 && c->batch <= 4096, "batch: expected 2..4096 images, got %d", c->batch);
    NEED(c->steps >= 0 && c->warmup >= 0, "steps/warmup: expected ≥ 0");
    NEED(c->lr > 0, "lr: expected > 0, got %g", c->lr);
    NEED(c->noise_std >= 0, "noise_std: expected ≥ 0");
    NEED(c->aux_lb_coef >= 0 && c->aux_z_coef >= 0 && c->weight_decay >= 0,
         "aux_lb_coef, aux_z_coef, weight_decay: expected ≥ 0");
    NEED(c->eval_every >= 0 && c->probe_images >= 0 && c->threads >= 0 && c->cos_dim >= 0,
         "eval_every, probe_images, threads, cos_dim: expected ≥ 0");
    NEED(c->renorm == 0 || c->renorm == 1, "renorm: expected 0 or 1, got %d", c->renorm);
    NEED(c->stem_ch <= 4096 && c->expert_ch <= 4096 && c->readout <= 65536 &&
             c->proj_hidden <= 65536 && c->proj_dim <= 65536 && c->cos_dim <= 65536,
         "widths: expected at most 4096 channels and 65536 features");
    NEED(c->aug_crop_min > 0 && c->aug_crop_min <= 1, "aug_crop_min: expected in (0,1], got %g",
         c->aug_crop_min);
    NEED(c->aug_flip >= 0 && c->aug_flip <= 1 && c->aug_jitter >= 0 && c->aug_jitter <= 1 &&
             c->aug_grey >= 0 && c->aug_grey <= 1 && c->aug_blur >= 0 && c->aug_blur <= 1,
         "aug_flip/aug_jitter/aug_grey/aug_blur: expected probabilities in [0,1]");
    NEED(c->aug_strength >= 0 && c->aug_strength <= 1.25f,
         "aug_strength: expected in [0,1.25], got %g", c->aug_strength);
    NEED(c->router != ROUTER_COSINE || c->cos_dim > 0,
         "cos_dim: expected > 0 for the cosine router");
#undef NEED
    return 0;
}

char *vision_config_to_json(const VisionConfig *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", "vision");
    for (int i = 0; i < N_KEYS; i++) {
        const void *at = (const char *)c + KEYS[i].off;
        switch (KEYS[i].type) {
        case K_INT:
            cJSON_AddNumberToObject(o, KEYS[i].name, *(const int *)at);
            break;
        case K_FLOAT:
            cJSON_AddNumberToObject(o, KEYS[i].name, *(const float *)at);
            break;
        case K_ROUTER:
            cJSON_AddStringToObject(o, KEYS[i].name, moe_router_name(*(const RouterKind *)at));
            break;
        case K_U64: { /* as a string: JSON numbers lose 64-bit integers */
            char buf[32];
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)at);
            cJSON_AddStringToObject(o, KEYS[i].name, buf);
        } break;
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = ml_strdup(s);
    free(s);
    return out;
}

int vision_config_from_json(VisionConfig *c, const char *json) {
    cJSON *o = cJSON_Parse(json);
    if (!o) return ml_error("config: not valid JSON");
    const cJSON *model = cJSON_GetObjectItem(o, "model");
    if (!cJSON_IsString(model) || strcmp(model->valuestring, "vision")) {
        cJSON_Delete(o);
        return ml_error("config: expected \"model\": \"vision\"");
    }
    vision_preset(c, "tiny");
    for (int i = 0; i < N_KEYS; i++) {
        const cJSON *it = cJSON_GetObjectItem(o, KEYS[i].name);
        if (!it) continue;
        char buf[400];
        if (cJSON_IsString(it))
            snprintf(buf, sizeof buf, "%s", it->valuestring);
        else if (!cJSON_IsNumber(it)) {
            cJSON_Delete(o);
            return ml_error("config: %s: expected a number or string", KEYS[i].name);
        } else if (KEYS[i].type == K_FLOAT)
            snprintf(buf, sizeof buf, "%.17g", it->valuedouble);
        else if (it->valuedouble != floor(it->valuedouble)) { /* 2.7 is refused, not rounded */
            ml_error("config: %s: expected an integer, got %.17g", KEYS[i].name, it->valuedouble);
            cJSON_Delete(o);
            return -1;
        } else
            snprintf(buf, sizeof buf, "%.0f", it->valuedouble);
        if (set_value(c, &KEYS[i], buf) != 0) {
            cJSON_Delete(o);
            return -1;
        }
    }
    cJSON_Delete(o);
    return vision_config_validate(c);
}

MoeConfig vision_gate_config(const VisionConfig *c) {
    return (MoeConfig){.d_model = c->stem_ch,
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
                       .noise_std = c->noise_std,
                       .weight_scale = 1.0f,
                       .init_std = 0.02f,
                       .seed = c->seed ^ 0x6A7Eull};
}

void vision_augment_config(const VisionConfig *c, AugmentConfig *a) {
    augment_default(a);
    a->scale_min = c->aug_crop_min, a->flip_p = c->aug_flip, a->jitter_p = c->aug_jitter;
    a->brightness = a->contrast = a->saturation = 0.8f * c->aug_strength;
    a->hue = 0.2f * c->aug_strength;
    a->grey_p = c->aug_grey, a->blur_p = c->aug_blur;
}
