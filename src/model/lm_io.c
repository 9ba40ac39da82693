#include "model/lm_io.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/safetensors.h"
#include "dist/dist.h"
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

/* One tensor of the file: a parameter tensor's weights or one of its AdamW moments. */
typedef struct {
    char name[128];
    const ParamTensor *t;
    const float *data; /* this rank's part (a slab when t->slabs > 1) */
} Entry;

/* The file's tensors in order (weights, then both moments of each tensor); returns the count. */
static int list_entries(const LmModel *m, int with_state, Entry *e) {
    int n = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        e[n] = (Entry){.t = t, .data = t->p};
        snprintf(e[n++].name, sizeof e->name, "%s", t->name);
    }
    for (int i = 0; with_state && i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        long off = t->p - m->params_mem;
        e[n] = (Entry){.t = t, .data = m->m_mem + off};
        snprintf(e[n++].name, sizeof e->name, "adam.m.%s", t->name);
        e[n] = (Entry){.t = t, .data = m->v_mem + off};
        snprintf(e[n++].name, sizeof e->name, "adam.v.%s", t->name);
    }
    return n;
}

/* Expert-parallel storage: the group's first rank writes the file, each sliced tensor's slabs
 * fetched from their ranks one at a time (one slab of scratch, never a whole tensor); the other
 * ranks of the group send theirs. A failed open still takes part, so no rank waits in vain. */
static int write_slabs(const SafeTensors *st, const Entry *e, const char *path) {
    const int root = dist_ep_rank() == 0;
    long most = 0;
    for (int i = 0; i < st->n; i++)
        if (e[i].t->slabs > 1 && e[i].t->n > most) most = e[i].t->n; /* the scratch: one slab */
    AtomicFile af;
    int ok = !root || st_write_header(st, &af, path) == 0;
    float *buf = root ? ml_alloc_floats(most) : NULL;
    for (int i = 0; i < st->n; i++) {
        const ParamTensor *t = e[i].t;
        for (int q = 0; q < t->slabs; q++) {
            dist_ep_slab_to_root(e[i].data, buf, t->n, q);
            if (root && ok) afile_write(&af, q ? buf : e[i].data, (size_t)t->n * sizeof(float));
        }
    }
    ml_free(buf);
    if (!root) return 0;
    return ok ? afile_commit(&af) : -1;
}

int lm_save(const LmModel *m, const char *path, const LmTrainState *state) {
    SafeTensors st;
    st_init(&st);
    char *cfg = lm_config_to_json(&m->cfg);
    st_set_meta(&st, "format", "moelens-lm-1");
    st_set_meta(&st, "config", cfg);
    ml_free(cfg);
    Entry *e = ml_alloc(sizeof *e * 3 * (m->n_tensors + 1));
    int n = list_entries(m, state != NULL, e);
    for (int i = 0; i < n; i++) { /* the whole tensor's shape: slabs stack along dim 0 */
        int64_t shape[4];
        memcpy(shape, e[i].t->shape, sizeof shape);
        shape[0] *= e[i].t->slabs;
        st_add_f32(&st, e[i].name, e[i].data, shape, e[i].t->ndim);
    }
    if (state) {
        char buf[80];
        snprintf(buf, sizeof buf, "%d", state->step);
        st_set_meta(&st, "step", buf);
        rng_to_text(&state->data_rng, buf, sizeof buf);
        st_set_meta(&st, "data_rng", buf);
        rng_to_text(&m->noise_rng, buf, sizeof buf);
        st_set_meta(&st, "noise_rng", buf);
    }
    int r = m->ep_shards > 1 ? write_slabs(&st, e, path) : st_write(&st, path);
    ml_free(e);
    st_free(&st);
    return r;
}

/* t's values (or a moment of it) from the file's tensor `name`: its slab when sliced. */
static int read_part(const SafeTensors *st, const char *name, float *dst, const ParamTensor *t) {
    return st_read_f32_part(st, name, dst, t->n * t->slabs, t->n * t->slab, t->n);
}

static int load_tensors(LmModel *m, const SafeTensors *st, const char *path, int with_state) {
    char name[128];
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        if (read_part(st, t->name, t->p, t)) return -1;
        long bad = 0;
        for (long k = 0; k < t->n; k++) bad += !isfinite(t->p[k]);
        if (bad) /* a diverged run's weights would evaluate to nan silently */
            return ml_error("%s: tensor '%s' holds %ld non-finite values (a diverged run?)", path,
                            t->name, bad);
        if (!with_state) continue;
        long off = t->p - m->params_mem;
        snprintf(name, sizeof name, "adam.m.%s", t->name);
        if (read_part(st, name, m->m_mem + off, t)) return -1;
        snprintf(name, sizeof name, "adam.v.%s", t->name);
        if (read_part(st, name, m->v_mem + off, t)) return -1;
    }
    return 0;
}

int lm_load(LmModel *m, const char *path, int with_grads, LmTrainState *state) {
    return lm_load_shard(m, path, with_grads, state, 1, 0);
}

int lm_load_shard(LmModel *m, const char *path, int with_grads, LmTrainState *state, int shards,
                  int shard) {
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
    if (lm_create_shard(m, &cfg, with_grads || state, shards, shard)) goto done;
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
