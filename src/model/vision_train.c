#include "model/vision_train.h"
#include "model/vision_pairs.h"
#include "stats/erank.h"
#include "stats/probe.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include "core/rng.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_SEED 0x5EEDu /* the probe sample is the same for every run on a set */
#define GATE_PERMS 1000    /* label shuffles for the gate summary's MI null */

/* Fisher–Yates permutation of idx[0..n) from a seeded stream. */
static int all_finite(const float *x, long n) {
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

static void shuffle(int32_t *idx, int n, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(&r, (uint32_t)i + 1);
        int32_t t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
}

static int32_t *indices_of_split(const ImageSet *set, int which, int *n) {
    int32_t *idx = ml_alloc(sizeof(int32_t) * (set->n + 1));
    *n = 0;
    for (int i = 0; i < set->n; i++)
        if (!set->split || set->split[i] == which) idx[(*n)++] = i;
    return idx;
}

/* The probe-split group of each image: its concept's fold group (or the concept); NULL when the
 * set names no concepts. */
static int32_t *probe_groups(const ImageSet *set, const int32_t *idx, int n) {
    if (!set->concept) return NULL;
    int32_t *g = ml_alloc(sizeof(int32_t) * (n + 1));
    for (int i = 0; i < n; i++) {
        int32_t c = set->concept[idx[i]];
        g[i] = set->fold_group && c >= 0 ? set->fold_group[c] : c;
    }
    return g;
}

/* probe_within over the fit (training) and the test (held-out) sample: -1 + ml_error on failure. */
static int probe_within_splits(VisionEval *ev, const ImageSet *set, const int32_t *tr,
                               const int32_t *te, const float *ff, const float *ft,
                               const int32_t *yf, const int32_t *yt, int D, int K) {
    const int32_t *idx[2] = {tr, te}, *y[2] = {yf, yt};
    const float *f[2] = {ff, ft};
    int n[2] = {ev->n_fit, ev->n_test};
    ProbeConfig pc = probe_default_config();
    for (int s = 0; s < 2; s++) {
        int32_t *g = probe_groups(set, idx[s], n[s]);
        ev->probe_within[s] = probe_within(f[s], y[s], g, n[s], D, K, &pc);
        ml_free(g);
        if (ev->probe_within[s] < 0) return -1;
    }
    return 0;
}

/* The cross-style probe with the training images alone: each training style family in turn is
 * left out of the fit and tested (probe_leave_group_out), as the held-out family is left out of
 * the training. -1 (no error) when the fit sample holds fewer than two families. */
static double probe_family_out(const ImageSet *set, const int32_t *tr, const float *ff,
                               const int32_t *yf, int n, int D, int K) {
    if (!set->style || set->n_styles < 2 || n < 1) return -1;
    int32_t *fam = imageset_style_families(set), *group = ml_alloc(sizeof(int32_t) * (n + 1));
    int several = 0;
    for (int i = 0; i < n; i++) {
        int s = set->style[tr[i]];
        group[i] = s >= 0 ? fam[s] : -1;
        several |= group[i] != group[0];
    }
    ProbeConfig pc = probe_default_config();
    double acc = several ? probe_leave_group_out(ff, yf, group, n, D, K, &pc) : -1;
    ml_free(fam), ml_free(group);
    return acc;
}

static float *gather(const ImageSet *set, const int32_t *idx, int n) {
    long img = (long)set->channels * set->size * set->size;
    float *x = ml_alloc_floats((size_t)n * img + 1);
    for (int i = 0; i < n; i++)
        memcpy(x + i * img, set->pixels + idx[i] * img, sizeof(float) * img);
    return x;
}

/* How much of the gate's input and logits differs between images (docs/vision.md). */
static void gate_collapse_measure(VisionModel *m, const float *x, int n, VisionEval *ev) {
    int Cs = vision_gate_dim(&m->cfg), E = m->cfg.n_experts;
    float *feat = ml_alloc_floats((size_t)n * Cs), *logits = ml_alloc_floats((size_t)n * E);
    vision_gate_inputs(m, x, n, feat, logits);
    ev->between_in = gate_between_share(feat, n, Cs);
    ev->between_logit = gate_between_share(logits, n, E);
    ml_free(feat), ml_free(logits);
}

int vision_evaluate(VisionModel *m, const ImageSet *set, VisionEval *ev) {
    memset(ev, 0, sizeof *ev);
    int ntr, nte;
    int32_t *tr = indices_of_split(set, IMAGESET_TRAIN, &ntr);
    int32_t *te = indices_of_split(set, IMAGESET_HELDOUT, &nte);
    shuffle(tr, ntr, PROBE_SEED);
    if (nte == 0) { /* no held-out split: hold out the second half of the training images */
        nte = ntr / 2, ntr -= nte;
        memcpy(te, tr + ntr, sizeof(int32_t) * nte);
    }
    shuffle(te, nte, PROBE_SEED + 1);
    int half = m->cfg.probe_images > 0 ? m->cfg.probe_images / 2 : set->n;
    ev->n_fit = ntr < half ? ntr : half, ev->n_test = nte < half ? nte : half;
    int D = m->cfg.readout, E = m->cfg.n_experts, k = m->cfg.top_k, K = set->n_classes[0];
    int rc = 0;
    if (ev->n_fit < 2 || ev->n_test < 1) {
        rc = ml_error("probe: need training and held-out images (got %d and %d)", ev->n_fit,
                      ev->n_test);
        goto done;
    }
    float *xf = gather(set, tr, ev->n_fit), *xt = gather(set, te, ev->n_test);
    float *ff = ml_alloc_floats((size_t)ev->n_fit * D),
          *ft = ml_alloc_floats((size_t)ev->n_test * D);
    int32_t *yf = ml_alloc(sizeof(int32_t) * ev->n_fit),
            *yt = ml_alloc(sizeof(int32_t) * ev->n_test);
    int32_t *chosen = ml_alloc(sizeof(int32_t) * ev->n_test * k);
    float *probs = ml_alloc_floats((size_t)ev->n_test * E);
    for (int i = 0; i < ev->n_fit; i++) yf[i] = set->labels[tr[i]];
    for (int i = 0; i < ev->n_test; i++) yt[i] = set->labels[te[i]];
    vision_embed(m, xf, ev->n_fit, ff, NULL, NULL);
    vision_embed(m, xt, ev->n_test, ft, probs, chosen);
    gate_summary(probs, chosen, ev->n_test, E, k, yt, K, GATE_PERMS, PROBE_SEED, &ev->gate_fixed);
    ev->gate = ev->gate_fixed;
    ev->adapted = m->cfg.gate_adapt && m->p.gate_run_mean;
    if (ev->adapted) { /* each split a domain of its own (AdaBN), for the probe too */
        vision_embed_adapted(m, xf, NULL, ev->n_fit, ff, NULL, NULL);
        vision_embed_adapted(m, xt, NULL, ev->n_test, ft, probs, chosen);
        gate_summary(probs, chosen, ev->n_test, E, k, yt, K, GATE_PERMS, PROBE_SEED, &ev->gate);
    }
    gate_collapse_measure(m, xt, ev->n_test, ev);
    ProbeConfig pc = probe_default_config();
    ev->probe_acc = probe_train_eval(ff, yf, ev->n_fit, ft, yt, ev->n_test, D, K, &pc);
    if (ev->probe_acc < 0 || probe_within_splits(ev, set, tr, te, ff, ft, yf, yt, D, K)) rc = -1;
    ev->probe_family_out = probe_family_out(set, tr, ff, yf, ev->n_fit, D, K);
    ev->readout_erank = effective_rank(ft, ev->n_test, D);
    ev->n_classes = K, ev->n_experts = E;
    ev->usage = ml_alloc(sizeof(double) * K * E);
    int *per_class = ml_alloc(sizeof(int) * K);
    for (int i = 0; i < ev->n_test; i++) {
        per_class[yt[i]]++;
        for (int j = 0; j < k; j++) ev->usage[yt[i] * E + chosen[i * k + j]] += 1;
    }
    for (int c = 0; c < K; c++)
        for (int e = 0; e < E; e++) ev->usage[c * E + e] /= per_class[c] ? per_class[c] : 1;
    ml_free(per_class), ml_free(xf), ml_free(xt), ml_free(ff), ml_free(ft);
    ml_free(yf), ml_free(yt), ml_free(chosen), ml_free(probs);
done:
    ml_free(tr), ml_free(te);
    return rc;
}

void vision_eval_free(VisionEval *ev) {
    ml_free(ev->usage);
    ev->usage = NULL;
}

static cJSON *gate_json(const VisionEval *ev, const GateSummary *g) {
    cJSON *o = cJSON_CreateObject();
    gate_summary_add_json(o, g);
    cJSON_AddNumberToObject(o, "between_in", ev->between_in);
    cJSON_AddNumberToObject(o, "between_logit", ev->between_logit);
    return o;
}

cJSON *vision_eval_json(const VisionEval *ev, int step) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", step);
    cJSON_AddNumberToObject(o, "probe_acc", ev->probe_acc);
    cJSON_AddNumberToObject(o, "probe_fit", ev->n_fit);
    cJSON_AddNumberToObject(o, "probe_test", ev->n_test);
    cJSON_AddNumberToObject(o, "probe_within_train", ev->probe_within[0]);
    cJSON_AddNumberToObject(o, "probe_within_heldout", ev->probe_within[1]);
    if (ev->probe_family_out >= 0)
        cJSON_AddNumberToObject(o, "probe_family_out", ev->probe_family_out);
    cJSON_AddNumberToObject(o, "readout_erank", ev->readout_erank);
    cJSON *u = cJSON_AddArrayToObject(o, "gate_usage");
    for (int c = 0; c < ev->n_classes; c++)
        cJSON_AddItemToArray(u,
                             cJSON_CreateDoubleArray(ev->usage + c * ev->n_experts, ev->n_experts));
    cJSON_AddItemToObject(o, "gate", gate_json(ev, &ev->gate));
    cJSON_AddStringToObject(o, "gate_stats",
                            ev->adapted ? "adapted to the held-out images" : "training");
    if (ev->adapted)
        cJSON_AddItemToObject(o, "gate_training_stats", gate_json(ev, &ev->gate_fixed));
    cJSON_AddBoolToObject(o, "gate_collapse", ev->gate.collapsed);
    if (ev->gate.collapsed) cJSON_AddStringToObject(o, "gate_collapse_reason", ev->gate.reason);
    return o;
}

/* metrics.jsonl: appended line by line (flushed); on resume, lines past the checkpoint's step are
 * dropped first (rewritten atomically), so the file always matches the model. */
static FILE *open_metrics(const char *path, int resume, int step) {
    if (resume && ml_file_exists(path)) {
        char *buf;
        size_t len;
        if (ml_read_file(path, &buf, &len) != 0) return NULL;
        AtomicFile af;
        if (afile_open(&af, path) != 0) return ml_free(buf), NULL;
        for (char *line = buf, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = 0;
            cJSON *o = cJSON_Parse(line);
            const cJSON *s = o ? cJSON_GetObjectItem(o, "step") : NULL;
            if (s && s->valuedouble <= step) afile_printf(&af, "%s\n", line);
            cJSON_Delete(o);
        }
        ml_free(buf);
        if (afile_commit(&af) != 0) return NULL;
    } else if (!resume) {
        if (ml_write_file_atomic(path, "", 0) != 0) return NULL;
    }
    FILE *f = fopen(path, "a");
    if (!f) ml_error("%s: cannot open for appending", path);
    return f;
}

static void write_line(FILE *f, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    fprintf(f, "%s\n", s);
    fflush(f);
    free(s);
    cJSON_Delete(o);
}

int vision_warn_collapse(const VisionEval *ev, int step, FILE *out) {
    if (!ev->gate.collapsed || step == 0) return 0;
    if (out)
        fprintf(out,
                "warning: train vision: gate collapse at step %d: %s (usage %.2f..%.2f, entropy "
                "%.2f of ln E); see docs/vision.md, \"Gate collapse\"\n",
                step, ev->gate.reason, ev->gate.usage_min, ev->gate.usage_max,
                ev->gate.entropy_frac);
    return 1;
}

static int evaluate_and_log(VisionModel *m, const ImageSet *set, FILE *metrics, VisionEval *keep,
                            int *warned) {
    VisionEval ev;
    if (vision_evaluate(m, set, &ev) != 0) return -1;
    if (!*warned) *warned = vision_warn_collapse(&ev, m->step, stderr);
    write_line(metrics, vision_eval_json(&ev, m->step));
    if (keep)
        *keep = ev;
    else
        vision_eval_free(&ev);
    return 0;
}

int vision_train(VisionModel *m, const ImageSet *set, const VisionTrainOpts *o) {
    const VisionConfig *c = &m->cfg;
    if (set->channels != c->in_ch || set->size != c->img)
        return ml_error("data: images are %d×%d×%d, the model expects %d×%d×%d", set->channels,
                        set->size, set->size, c->in_ch, c->img, c->img);
    char *ckpt = ml_path_join(o->out_dir, "model.safetensors");
    char *mpath = ml_path_join(o->out_dir, "metrics.jsonl");
    char *epath = ml_path_join(o->out_dir, "eval.json");
    int ntr, rc = 0;
    int32_t *train = indices_of_split(set, IMAGESET_TRAIN, &ntr);
    int32_t *perm = ml_alloc(sizeof(int32_t) * (ntr + 1)), batch_idx[4096], partner[4096];
    int32_t view_style[8192]; /* each view's drawing style, for gate_style_mi */
    float *views = ml_alloc_floats((size_t)m->max_views * c->in_ch * c->img * c->img);
    FILE *metrics = open_metrics(mpath, o->resume, m->step);
    long cur_epoch = -1;
    AugmentConfig aug;
    vision_augment_config(c, &aug);
    Progress prog;
    StylePairs pairs = {0};
    int warned = 0;
    if (!metrics || ntr < c->batch) {
        rc = metrics ? ml_error("data: %d training images, fewer than a batch (%d)", ntr, c->batch)
                     : -1;
        goto out;
    }
    if (c->aug_pair_style > 0 && style_pairs_build(&pairs, set, train, ntr) != 0) {
        rc = -1;
        goto out;
    }
    if (c->gate_style_mi > 0 && vision_style_labels_check(set) != 0) {
        rc = -1;
        goto out;
    }
    if (m->step == 0 && !o->resume && evaluate_and_log(m, set, metrics, NULL, &warned) != 0) {
        rc = -1;
        goto out;
    }
    if (!o->quiet) progress_start(&prog, "train vision", c->steps);
    double t0 = ml_now();
    int t0_step = m->step;
    while (m->step < c->steps) {
        if (o->stop && *o->stop) {
            rc = 1;
            break;
        }
        for (int b = 0; b < c->batch; b++) { /* image p of the stream: epoch p / ntr */
            long p = (long)m->step * c->batch + b, epoch = p / ntr;
            if (epoch != cur_epoch) {
                memcpy(perm, train, sizeof(int32_t) * ntr);
                shuffle(perm, ntr, c->seed * 1000003u + (uint64_t)epoch);
                cur_epoch = epoch;
            }
            batch_idx[b] = perm[p % ntr];
        }
        if (c->aug_pair_style > 0)
            style_pairs_draw(&pairs, set, batch_idx, partner, c->batch, c->aug_pair_style, c->seed,
                             (uint64_t)m->step);
        augment_pairs(views, set->pixels, batch_idx, c->aug_pair_style > 0 ? partner : NULL,
                      c->batch, c->in_ch, c->img, &aug, c->seed, (uint64_t)m->step);
        if (c->gate_style_mi > 0) { /* views 2k, 2k+1: the anchor and its partner */
            for (int k = 0; k < c->batch; k++) {
                view_style[2 * k] = set->style[batch_idx[k]];
                view_style[2 * k + 1] =
                    set->style[c->aug_pair_style > 0 ? partner[k] : batch_idx[k]];
            }
            m->view_label = view_style, m->n_view_labels = set->n_styles;
        }
        vision_forward(m, views, 2 * c->batch, 1, 1);
        if (!isfinite(m->loss)) {
            rc = ml_error("training diverged: loss %g at step %d (try a lower lr)", m->loss,
                          m->step);
            break;
        }
        vision_backward(m);
        m->view_label = NULL;                     /* the labels belong to this batch only */
        if (!all_finite(m->grads, m->n_params)) { /* not applied: model.safetensors stays good */
            rc = ml_error("training diverged at step %d: non-finite gradient; the step was not "
                          "applied, the last checkpoint is kept (try a lower lr)",
                          m->step + 1);
            break;
        }
        float lr = vision_lr(c, m->step + 1);
        vision_step(m);
        double el = ml_now() - t0, ips = el > 0 ? (m->step - t0_step) * c->batch / el : 0;
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "step", m->step);
        cJSON_AddNumberToObject(line, "loss", m->loss);
        cJSON_AddNumberToObject(line, "ntxent", m->ntxent);
        cJSON_AddNumberToObject(line, "top1", m->top1);
        cJSON_AddNumberToObject(line, "aux_lb", m->gate_acts.aux_lb);
        cJSON_AddNumberToObject(line, "aux_z", m->gate_acts.aux_z);
        if (c->gate_infomax > 0) cJSON_AddNumberToObject(line, "gate_infomax", m->infomax);
        if (c->gate_pair_mi > 0) cJSON_AddNumberToObject(line, "gate_pair_mi", m->pair_mi);
        if (c->gate_style_mi > 0) cJSON_AddNumberToObject(line, "gate_style_mi", m->style_mi);
        if (c->aux_imp_coef > 0)
            cJSON_AddNumberToObject(line, "aux_importance", m->gate_acts.aux_imp);
        if (c->aux_load_coef > 0) cJSON_AddNumberToObject(line, "aux_load", m->gate_acts.aux_load);
        cJSON_AddNumberToObject(line, "lr", lr);
        cJSON_AddNumberToObject(line, "images_per_s", ips);
        write_line(metrics, line);
        if (!o->quiet) {
            char extra[96];
            snprintf(extra, sizeof extra, "loss %.4f  %.0f img/s", m->loss, ips);
            progress_update(&prog, m->step, extra);
        }
        if (c->eval_every > 0 && m->step % c->eval_every == 0 && m->step < c->steps &&
            evaluate_and_log(m, set, metrics, NULL, &warned) != 0) {
            rc = -1;
            break;
        }
        if (o->ckpt_every > 0 && m->step % o->ckpt_every == 0 && vision_save(m, ckpt) != 0) {
            rc = -1;
            break;
        }
    }
    if (!o->quiet) progress_end(&prog, rc == 1 ? "stopped" : NULL);
    if (rc >= 0 && vision_save(m, ckpt) != 0) rc = -1;
    if (rc == 0) {
        VisionEval ev;
        if (evaluate_and_log(m, set, metrics, &ev, &warned) != 0)
            rc = -1;
        else {
            cJSON *o2 = vision_eval_json(&ev, m->step);
            char *s = cJSON_Print(o2);
            if (ml_write_file_atomic(epath, s, strlen(s)) != 0) rc = -1;
            free(s);
            cJSON_Delete(o2);
            vision_eval_free(&ev);
        }
    }
out:
    m->view_label = NULL; /* never left pointing at this frame */
    if (metrics) fclose(metrics);
    style_pairs_free(&pairs);
    ml_free(ckpt), ml_free(mpath), ml_free(epath), ml_free(train), ml_free(perm), ml_free(views);
    return rc;
}
