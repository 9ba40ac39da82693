#include "model/lm_io.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/safetensors.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void rng_to_text(const Rng *r, char *buf, size_t n) {
    snprintf(buf, n, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, r->s[0], r->s[1],
             r->s[2], r->s[3]);
}

static int rng_from_text(Rng *r, const char *s, const char *path) {
    if (!s || strlen(s) != 64) return ml_error("%s: training state lacks a valid RNG state", path);
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, s + 16 * i, 16);
        part[16] = 0;
        if (sscanf(part, "%" SCNx64, &r->s[i]) != 1) return ml_error("%s: bad RNG state", path);
    }
    return 0;
}

int lm_save(const LmModel *m, const char *path, const LmTrainState *state) {
    SafeTensors st;
    st_init(&st);
    char *cfg = lm_config_to_json(&m->cfg);
    st_set_meta(&st, "format", "moelens-lm-1");
    st_set_meta(&st, "config", cfg);
    ml_free(cfg);
    char name[128], buf[80];
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        st_add_f32(&st, t->name, t->p, t->shape, t->ndim);
    }
    if (state) {
        long off;
        for (int i = 0; i < m->n_tensors; i++) {
            const ParamTensor *t = &m->tensors[i];
            off = t->p - m->params_mem;
            snprintf(name, sizeof name, "adam.m.%s", t->name);
            st_add_f32(&st, name, m->m_mem + off, t->shape, t->ndim);
            snprintf(name, sizeof name, "adam.v.%s", t->name);
            st_add_f32(&st, name, m->v_mem + off, t->shape, t->ndim);
        }
        snprintf(buf, sizeof buf, "%d", state->step);
        st_set_meta(&st, "step", buf);
        rng_to_text(&state->data_rng, buf, sizeof buf);
        st_set_meta(&st, "data_rng", buf);
        rng_to_text(&m->noise_rng, buf, sizeof buf);
        st_set_meta(&st, "noise_rng", buf);
    }
    int r = st_write(&st, path);
    st_free(&st);
    return r;
}

static int load_tensors(LmModel *m, const SafeTensors *st, const char *path, int with_state) {
    char name[128];
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        if (st_read_f32(st, t->name, t->p, t->n)) return -1;
        long bad = 0;
        for (long k = 0; k < t->n; k++) bad += !isfinite(t->p[k]);
        if (bad) /* a diverged run's weights would evaluate to nan silently */
            return ml_error("%s: tensor '%s' holds %ld non-finite values (a diverged run?)", path,
                            t->name, bad);
        if (!with_state) continue;
        long off = t->p - m->params_mem;
        snprintf(name, sizeof name, "adam.m.%s", t->name);
        if (st_read_f32(st, name, m->m_mem + off, t->n)) return -1;
        snprintf(name, sizeof name, "adam.v.%s", t->name);
        if (st_read_f32(st, name, m->v_mem + off, t->n)) return -1;
    }
    return 0;
}

int lm_load(LmModel *m, const char *path, int with_grads, LmTrainState *state) {
    SafeTensors st;
    if (st_open(&st, path)) return -1;
    const char *fmt = st_meta(&st, "format"), *cfg_json = st_meta(&st, "config");
    LmConfig cfg;
    int r = -1;
    if (!fmt || strcmp(fmt, "moelens-lm-1") != 0 || !cfg_json) {
        ml_error("%s: not a moelens language-model checkpoint (no format/config metadata)", path);
        goto done;
    }
    lm_config_preset(&cfg, "tiny");
    if (lm_config_from_json(&cfg, cfg_json, path)) goto done;
    if (lm_config_finalize(&cfg)) {
        ml_error("%s: %s", path, ml_errmsg());
        goto done;
    }
    if (lm_create(m, &cfg, with_grads || state)) goto done;
    if (load_tensors(m, &st, path, state != NULL)) {
        lm_free(m);
        goto done;
    }
    if (state) {
        const char *step = st_meta(&st, "step");
        if (!step) {
            ml_error("%s: holds weights only (no training state): cannot resume from it", path);
            lm_free(m);
            goto done;
        }
        state->step = atoi(step);
        m->step = state->step;
        if (rng_from_text(&state->data_rng, st_meta(&st, "data_rng"), path) ||
            rng_from_text(&m->noise_rng, st_meta(&st, "noise_rng"), path)) {
            lm_free(m);
            goto done;
        }
    }
    r = 0;
done:
    st_free(&st);
    return r;
}

int lm_load_weights(LmModel *m, const char *path) {
    SafeTensors st;
    if (st_open(&st, path)) return -1;
    int r = load_tensors(m, &st, path, 0);
    st_free(&st);
    return r;
}
