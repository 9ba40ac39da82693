/* Vision checkpoints: safetensors with every parameter tensor by name, the config JSON in
 * __metadata__["config"], and the training state (AdamW moments as "_adam.m"/"_adam.v", the step
 * and the gate-noise RNG in metadata) so that --resume continues bit-identically. */
#include "core/error.h"
#include "core/mem.h"
#include "core/safetensors.h"
#include "model/vision.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vision_save(const VisionModel *m, const char *path) {
    SafeTensors st;
    st_init(&st);
    char *cfg = vision_config_to_json(&m->cfg);
    char step[32], rng[96];
    snprintf(step, sizeof step, "%d", m->step);
    snprintf(rng, sizeof rng, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, m->rng.s[0],
             m->rng.s[1], m->rng.s[2], m->rng.s[3]);
    st_set_meta(&st, "config", cfg);
    st_set_meta(&st, "step", step);
    st_set_meta(&st, "rng", rng);
    for (int t = 0; t < m->n_tensors; t++)
        st_add_f32(&st, m->tensors[t].name, m->tensors[t].p, m->tensors[t].shape,
                   m->tensors[t].ndim);
    int64_t n = m->n_params;
    st_add_f32(&st, "_adam.m", m->adam_m, &n, 1);
    st_add_f32(&st, "_adam.v", m->adam_v, &n, 1);
    int rc = st_write(&st, path);
    st_free(&st);
    ml_free(cfg);
    return rc;
}

int vision_load(VisionModel *m, const char *path) {
    SafeTensors st;
    if (st_open(&st, path) != 0) return -1;
    const char *cfg_json = st_meta(&st, "config");
    VisionConfig cfg;
    if (!cfg_json) {
        st_free(&st);
        return ml_error("%s: no \"config\" in __metadata__ (not a moelens vision checkpoint)",
                        path);
    }
    if (vision_config_from_json(&cfg, cfg_json) != 0 || vision_init(m, &cfg) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ml_errmsg());
        st_free(&st);
        return ml_error("%s: bad config: %s", path, msg);
    }
    int rc = 0;
    for (int t = 0; t < m->n_tensors && rc == 0; t++)
        rc = st_read_f32(&st, m->tensors[t].name, m->tensors[t].p, m->tensors[t].n);
    for (long i = 0; rc == 0 && i < m->n_params; i++)
        if (!isfinite(m->params[i]))
            rc = ml_error("%s: holds non-finite weights (a diverged run?)", path);
    if (rc == 0 && st_find(&st, "_adam.m")) {
        rc = st_read_f32(&st, "_adam.m", m->adam_m, m->n_params);
        if (rc == 0) rc = st_read_f32(&st, "_adam.v", m->adam_v, m->n_params);
        const char *step = st_meta(&st, "step"), *rng = st_meta(&st, "rng");
        if (rc == 0 && step) m->step = atoi(step);
        if (rc == 0 && rng && strlen(rng) == 64)
            for (int i = 0; i < 4; i++) {
                char part[17];
                memcpy(part, rng + 16 * i, 16);
                part[16] = 0;
                m->rng.s[i] = strtoull(part, NULL, 16);
            }
    }
    st_free(&st);
    if (rc != 0) vision_free(m);
    return rc;
}
