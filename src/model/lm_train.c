#include "model/lm_train.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include "dist/dist.h"
#include "model/lm_dist.h"
#include "model/lm_distill.h"
#include "model/lm_io.h"
#include "model/lm_zero1.h"
#include "nn/optim.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    interrupted = sig;
}

/* Linear warm-up to the peak, then cosine decay to min_lr_frac · peak at the last step. */
static float lr_at(const LmConfig *c, int step) {
    if (step < c->warmup) return c->lr * (step + 1) / c->warmup;
    int span = c->steps - c->warmup;
    float progress = span > 0 ? (float)(step - c->warmup) / span : 1.0f;
    float min_lr = c->lr * c->min_lr_frac;
    return min_lr + 0.5f * (c->lr - min_lr) * (1.0f + cosf((float)M_PI * fminf(progress, 1.0f)));
}

/* Adds the last forward's routed top-k slots, and those that went to zero experts, of every MoE
 * layer (the share of expert work skipped). */
static void count_zero_slots(const LmModel *m, long *routed, long *zero) {
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const MoeConfig *f = &m->layer_ffn[l];
        if (f->router == ROUTER_DENSE) continue;
        for (int e = 0; e < f->n_experts + f->n_zero; e++) {
            *routed += m->acts[l].moe.counts[e];
            if (e >= f->n_experts) *zero += m->acts[l].moe.counts[e];
        }
    }
}

/* Expert-parallel storage: a rank left without a batch in the last round still runs one (window 0,
 * nothing scored, nothing counted), because its group's forwards exchange rows in lockstep. */
static void idle_forward(LmModel *m, const TokenShard *s, int T, int32_t *in, int32_t *tg,
                         int32_t *dom) {
    shard_window(s, 0, T, in, tg, dom);
    for (int t = 0; t < T; t++) tg[t] = -1;
    lm_forward(m, in, tg, dom, 1, T, 0);
}

int lm_evaluate(LmModel *m, const TokenShard *s, int B, int T, long max_windows, LmEval *out) {
    memset(out, 0, sizeof *out);
    long nw = shard_num_windows(s, T);
    if (max_windows > 0 && max_windows < nw) nw = max_windows; /* evaluated windows */
    if (nw <= 0) return ml_error("evaluation set has fewer than %d tokens", T + 1);
    out->n_domains = shard_num_domains(s) < LM_MAX_DOMAINS ? shard_num_domains(s) : LM_MAX_DOMAINS;
    int32_t *in = ml_alloc(sizeof(int32_t) * B * T), *tg = ml_alloc(sizeof(int32_t) * B * T);
    int32_t *dom = ml_alloc(sizeof(int32_t) * B * T);
    double total = 0;
    long all = shard_num_windows(s, T), rounds = (nw + B - 1) / B;
    if (m->ep_shards > 1) rounds = (rounds + dist_size() - 1) / dist_size() * dist_size();
    for (long w0 = 0; w0 < rounds * B; w0 += B) {
        if ((w0 / B) % dist_size() != dist_rank()) continue; /* data parallel: batches dealt out */
        if (w0 >= nw) {
            idle_forward(m, s, T, in, tg, dom);
            continue;
        }
        int b = (int)(nw - w0 < B ? nw - w0 : B);
        /* a subset is spread evenly over the split, so every domain is represented */
        for (int i = 0; i < b; i++)
            shard_window(s, (w0 + i) * all / nw, T, in + (long)i * T, tg + (long)i * T,
                         dom + (long)i * T);
        total += lm_forward(m, in, tg, dom, b, T, 0);
        count_zero_slots(m, &out->routed_slots, &out->zero_slots);
        for (long i = 0; i < (long)b * T; i++) {
            if (tg[i] < 0) continue;
            out->tokens++;
            int d = dom[i];
            if (d >= 0 && d < out->n_domains) {
                out->domain_loss[d] += m->losses[i];
                out->domain_tokens[d]++;
            }
        }
    }
    lm_dist_sum_eval(out, &total);
    out->loss = total / (out->tokens ? out->tokens : 1);
    for (int d = 0; d < out->n_domains; d++)
        if (out->domain_tokens[d]) out->domain_loss[d] /= out->domain_tokens[d];
    ml_free(in), ml_free(tg), ml_free(dom);
    return 0;
}

/* ZEDA's routing metrics of a layer with zero experts: the share of top-k slots that went to
 * zero experts, the group loss, and the load violation of the real experts' counts c_e,
 * MaxVio = (max c − mean c)/mean c and AvgVio = mean |c − mean c|/mean c. */
static void add_zero_metrics(cJSON *o, const MoeActs *a, const MoeConfig *f) {
    const int E = f->n_experts;
    double real = 0, zero = 0, maxc = 0, dev = 0;
    for (int e = 0; e < E + f->n_zero; e++) *(e < E ? &real : &zero) += a->counts[e];
    double mean = real / E;
    for (int e = 0; e < E; e++) {
        maxc = a->counts[e] > maxc ? a->counts[e] : maxc;
        dev += fabs(a->counts[e] - mean);
    }
    cJSON_AddNumberToObject(o, "zero_ratio", zero / (real + zero > 0 ? real + zero : 1));
    cJSON_AddNumberToObject(o, "aux_group", a->aux_group);
    cJSON_AddNumberToObject(o, "max_vio", mean > 0 ? (maxc - mean) / mean : 0);
    cJSON_AddNumberToObject(o, "avg_vio", mean > 0 ? dev / E / mean : 0);
}

/* Per-layer expert load of the last forward: used fraction of experts, max share of tokens, dead.
 */
static cJSON *layer_load_json(const LmModel *m, int N, int *collapsed) {
    cJSON *arr = cJSON_CreateArray();
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const MoeConfig *f = &m->layer_ffn[l];
        if (f->router == ROUTER_DENSE) continue;
        const MoeActs *a = &m->acts[l].moe;
        int EZ = f->n_experts + f->n_zero, used = 0, maxc = 0;
        for (int e = 0; e < EZ; e++) {
            used += a->counts[e] > 0;
            if (a->counts[e] > maxc) maxc = a->counts[e];
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", l);
        cJSON_AddNumberToObject(o, "utilisation", (double)used / EZ);
        cJSON_AddNumberToObject(o, "max_share", (double)maxc / N);
        cJSON_AddNumberToObject(o, "dead", EZ - used);
        cJSON_AddNumberToObject(o, "aux_lb", a->aux_lb);
        cJSON_AddNumberToObject(o, "aux_z", a->aux_z);
        if (f->aux_imp_coef > 0) cJSON_AddNumberToObject(o, "aux_importance", a->aux_imp);
        if (f->aux_load_coef > 0) cJSON_AddNumberToObject(o, "aux_load", a->aux_load);
        if (f->n_zero > 0) add_zero_metrics(o, a, f);
        cJSON_AddItemToArray(arr, o);
        if (used <= f->top_k && EZ > f->top_k) collapsed[l] = 1;
    }
    return arr;
}

static void append_line(FILE *fp, cJSON *o) {
    if (!fp) { /* data-parallel ranks other than 0 write nothing */
        cJSON_Delete(o);
        return;
    }
    char *s = cJSON_PrintUnformatted(o);
    fprintf(fp, "%s\n", s);
    fflush(fp);
    free(s);
    cJSON_Delete(o);
}

static cJSON *eval_json(int step, const LmEval *ev, const TokenShard *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", step);
    cJSON_AddNumberToObject(o, "val_loss", ev->loss);
    cJSON_AddNumberToObject(o, "val_ppl", exp(ev->loss));
    cJSON_AddNumberToObject(o, "val_tokens", (double)ev->tokens);
    if (ev->zero_slots > 0)
        cJSON_AddNumberToObject(o, "skip_ratio", (double)ev->zero_slots / ev->routed_slots);
    cJSON *d = cJSON_AddObjectToObject(o, "val_domains");
    for (int i = 0; i < ev->n_domains; i++) {
        if (!ev->domain_tokens[i]) continue;
        cJSON *x = cJSON_AddObjectToObject(d, shard_domain_name(s, i));
        cJSON_AddNumberToObject(x, "loss", ev->domain_loss[i]);
        cJSON_AddNumberToObject(x, "ppl", exp(ev->domain_loss[i]));
        cJSON_AddNumberToObject(x, "tokens", (double)ev->domain_tokens[i]);
    }
    return o;
}

/* On resume, metrics lines past the checkpoint's step belong to the lost tail of the killed run:
 * drop them so the file reads as one uninterrupted run. */
static int truncate_metrics(const char *path, int step) {
    if (!ml_file_exists(path)) return 0;
    char *buf;
    size_t len;
    if (ml_read_file(path, &buf, &len)) return -1;
    AtomicFile af;
    if (afile_open(&af, path)) {
        ml_free(buf);
        return -1;
    }
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "step");
        int keep = cJSON_IsNumber(s) && s->valuedouble <= step;
        cJSON_Delete(o);
        if (keep) afile_printf(&af, "%s\n", line);
    }
    ml_free(buf);
    return afile_commit(&af);
}

static int copy_file(const char *from, const char *to) {
    char *buf;
    size_t len;
    if (ml_read_file(from, &buf, &len)) return -1;
    int r = ml_write_file_atomic(to, buf, len);
    ml_free(buf);
    return r;
}

/* run.json remembers where the run's data came from, so `moelens eval RUN` needs no --data. */
static int write_run_info(const LmTrainOptions *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "kind", "lm");
    cJSON_AddStringToObject(j, "data_dir", o->data_dir);
    char *s = cJSON_Print(j), *path = ml_path_join(o->out_dir, "run.json");
    int r = ml_write_file_atomic(path, s, strlen(s));
    free(s);
    ml_free(path);
    cJSON_Delete(j);
    return r;
}

typedef struct {
    LmModel model;
    TokenShard *train, *val;
    LmTrainState state;
    FILE *metrics;
    char *ckpt_path, *model_path;
    int32_t *inputs, *targets, *domains;
    int collapsed[256];
    int stop_after;
    LmZero1 zero1;            /* data parallel: optimizer state and work sharded over the ranks */
    DistTraffic step_traffic; /* bytes the last step handed to collectives (metrics) */
    int saved_step;           /* step of the checkpoint on disk; -1 before the first */
    char saved_text[32];
    int quiet;         /* no progress line */
    int distill;       /* the run folder holds a teacher: train by self-distillation */
    LmModel teacher;   /* frozen, inference only */
    double student_ce; /* distillation: the student's cross-entropy of the last step */
} Trainer;

static const char *last_checkpoint_text(Trainer *tr) {
    if (tr->saved_step < 0) return "none written yet";
    snprintf(tr->saved_text, sizeof tr->saved_text, "step %d", tr->saved_step);
    return tr->saved_text;
}

static int open_data(Trainer *tr, const LmTrainOptions *o, LmConfig *cfg) {
    char *p = ml_path_join(o->data_dir, "train.tokens");
    int r = shard_open(&tr->train, p);
    ml_free(p);
    if (r) return -1;
    p = ml_path_join(o->data_dir, "val.tokens");
    r = shard_open(&tr->val, p);
    ml_free(p);
    if (r) return -1;
    if (cfg->vocab_size != shard_vocab_size(tr->train)) {
        if (o->resume)
            return ml_error("%s: vocabulary %d differs from the run's %d", o->data_dir,
                            shard_vocab_size(tr->train), cfg->vocab_size);
        cfg->vocab_size = shard_vocab_size(tr->train);
    }
    if (shard_num_tokens(tr->train) <= cfg->seq_len || shard_num_tokens(tr->val) <= cfg->seq_len)
        return ml_error("%s: too few tokens for seq_len %d", o->data_dir, cfg->seq_len);
    return 0;
}

/* Only finite weights are saved: a run that blew up keeps its last good checkpoint. The count is
 * the same on every rank, so every rank takes the same branch. Rank 0 writes the files; under
 * expert-parallel storage the other ranks of its group send it their experts' slabs. */
static int save_checkpoints(Trainer *tr) {
    long bad = lm_dist_count_nonfinite(&tr->model);
    if (bad)
        return ml_error("training diverged at step %d: %ld weights are not finite; not saved, "
                        "the last checkpoint (%s) is kept (lower lr?)",
                        tr->state.step, bad, last_checkpoint_text(tr));
    if (lm_dist_check_in_sync(&tr->model)) return -1;
    lm_zero1_gather_moments(&tr->zero1, &tr->model);
    int r = 0, writers = tr->model.ep_shards > 1 ? dist_ep_size() : 1;
    /* `|`: both files on every writer even if the first fails, or the group's senders would wait */
    if (dist_rank() < writers && (lm_save(&tr->model, tr->ckpt_path, &tr->state) |
                                  lm_save(&tr->model, tr->model_path, NULL)))
        r = -1;
    lm_zero1_release_moments(&tr->zero1, &tr->model);
    if (!r) tr->saved_step = tr->state.step;
    return r;
}

/* The frozen teacher of a distillation run: same vocabulary and context as the student. */
static int open_teacher(Trainer *tr, const LmTrainOptions *o) {
    char *path = ml_path_join(o->out_dir, LM_TEACHER_FILE);
    int r = 0;
    if (ml_file_exists(path)) {
        const LmConfig *c = &tr->model.cfg;
        r = lm_load(&tr->teacher, path, 0, NULL);
        tr->distill = r == 0;
        if (!r &&
            (tr->teacher.cfg.vocab_size != c->vocab_size || tr->teacher.cfg.seq_len < c->seq_len))
            r = ml_error("%s: teacher vocabulary %d / context %d do not fit the run's %d / %d",
                         path, tr->teacher.cfg.vocab_size, tr->teacher.cfg.seq_len, c->vocab_size,
                         c->seq_len);
        if (!r) lm_alloc_acts(&tr->teacher, c->batch, c->seq_len);
    }
    ml_free(path);
    return r;
}

/* Rank 0's part of starting a run: the run folder with its tokenizer, config, run.json and the
 * metrics file (truncated to the checkpoint's step on resume). */
static int write_run_files(Trainer *tr, const LmTrainOptions *o) {
    if (ml_mkdir_p(o->out_dir)) return -1;
    ml_remove_stale_tmp(o->out_dir);
    char *tok_from = ml_path_join(o->data_dir, LM_TOKENIZER_FILE),
         *tok_to = ml_path_join(o->out_dir, LM_TOKENIZER_FILE);
    int r = copy_file(tok_from, tok_to);
    ml_free(tok_from), ml_free(tok_to);
    if (r) return -1;
    char *json = lm_config_to_json(&tr->model.cfg),
         *cfg_path = ml_path_join(o->out_dir, "config.json");
    r = ml_write_file_atomic(cfg_path, json, strlen(json));
    ml_free(json), ml_free(cfg_path);
    if (r || write_run_info(o)) return -1;
    char *mpath = ml_path_join(o->out_dir, "metrics.jsonl");
    if (o->resume)
        r = truncate_metrics(mpath, tr->state.step);
    else
        r = ml_write_file_atomic(mpath, "", 0);
    tr->metrics = r ? NULL : fopen(mpath, "a");
    ml_free(mpath);
    if (!tr->metrics) return r ? -1 : ml_error("%s: cannot append metrics", o->out_dir);
    return 0;
}

/* Everything is checked (config, data, checkpoint, the split over ranks) before the run folder is
 * touched, so a refused run leaves nothing behind. */
static int prepare_run(Trainer *tr, const LmConfig *cfg_in, const LmTrainOptions *o) {
    tr->ckpt_path = ml_path_join(o->out_dir, "checkpoint.safetensors");
    tr->model_path = ml_path_join(o->out_dir, "model.safetensors");
    tr->saved_step = -1;
    LmConfig cfg = *cfg_in;
    /* --ep G without --zero1: each rank holds its own experts alone (ZeRO-1 blocks the whole
     * parameter vector, so with it every rank keeps every expert) */
    if (lm_dist_start_ep(o->ep)) return -1;
    int shards = o->ep > 1 && !o->zero1 ? o->ep : 1, shard = dist_ep_rank();
    if (o->resume) {
        if (!ml_file_exists(tr->ckpt_path))
            return ml_error("%s: no checkpoint.safetensors to resume from", o->out_dir);
        if (lm_load_shard(&tr->model, tr->ckpt_path, 1, &tr->state, shards, shard)) return -1;
        tr->saved_step = tr->state.step;
        if (o->steps_override > 0) tr->model.cfg.steps = o->steps_override;
        cfg = tr->model.cfg;
        if (open_data(tr, o, &cfg)) return -1;
    } else {
        LmConfig check = cfg; /* refuse a bad config before opening (large) data */
        if (lm_config_finalize(&check) || open_data(tr, o, &cfg) || lm_config_finalize(&cfg) ||
            lm_create_shard(&tr->model, &cfg, 1, shards, shard))
            return -1;
        rng_seed(&tr->state.data_rng, cfg.seed + 1);
    }
    if (lm_dist_check(&tr->model.cfg) || lm_dist_check_ep(&tr->model, o->ep)) return -1;
    if (open_teacher(tr, o)) return -1;
    if (dist_rank() == 0 && write_run_files(tr, o)) return -1;
    lm_dist_sync_params(&tr->model);
    const LmConfig *c = &tr->model.cfg;
    lm_alloc_acts(&tr->model, c->batch, c->seq_len);
    tr->inputs = ml_alloc(sizeof(int32_t) * c->batch * c->seq_len);
    tr->targets = ml_alloc(sizeof(int32_t) * c->batch * c->seq_len);
    tr->domains = ml_alloc(sizeof(int32_t) * c->batch * c->seq_len);
    return 0;
}

static void close_run(Trainer *tr) {
    if (tr->metrics) fclose(tr->metrics);
    if (tr->train) shard_close(tr->train);
    if (tr->val) shard_close(tr->val);
    lm_free(&tr->model);
    if (tr->distill) lm_free(&tr->teacher);
    ml_free(tr->ckpt_path), ml_free(tr->model_path);
    ml_free(tr->inputs), ml_free(tr->targets), ml_free(tr->domains);
}

/* Clips the global gradient norm and applies AdamW to every trainable tensor (zero1: to this
 * rank's block of them, then the blocks are gathered). */
static double optimizer_step(LmModel *m, int step, const LmZero1 *z) {
    const LmConfig *c = &m->cfg;
    double norm = lm_zero1_grad_norm(z, m);
    if (!isfinite(norm)) return norm; /* not applied: the caller stops the run */
    if (c->grad_clip > 0 && norm > c->grad_clip)
        scale_inplace(m->grads_mem, m->n_params, (float)(c->grad_clip / norm));
    AdamW opt = {c->lr, c->beta1, c->beta2, c->adam_eps, c->weight_decay};
    float lr = lr_at(c, step);
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        if (t->frozen) continue;
        lm_zero1_adamw(z, m, t, &opt, step + 1, lr);
    }
    lm_zero1_gather_params(z, m);
    for (int l = 0; l < c->n_layer; l++)
        if (m->layer_ffn[l].score == SCORE_SIGMOID)
            moe_update_balance_bias(&m->params.layers[l].ffn, &m->acts[l].moe, &m->layer_ffn[l]);
    return norm;
}

/* One optimizer step over grad_accum micro-batches; returns the mean training loss. A
 * non-finite loss or gradient norm leaves the weights as they were. Data parallel: every rank
 * samples the whole batch (one data stream, as one process) and runs its share of the sequences;
 * the loss is normalised by the whole batch's targets, so the summed gradients are the
 * single-process ones. */
static double train_step(Trainer *tr, int step, double *gnorm) {
    LmModel *m = &tr->model;
    const LmConfig *c = &m->cfg;
    int B = c->batch, T = c->seq_len, b0, Bs;
    lm_dist_slice(B, &b0, &Bs);
    const long off = (long)b0 * T;
    double loss = 0;
    tr->student_ce = 0;
    lm_zero_grads(m);
    lm_dist_share(m, 1);
    for (int micro = 0; micro < c->grad_accum; micro++) {
        /* the gradients are final, and their sums can start, only in the last micro-batch */
        m->grad_hook = micro + 1 == c->grad_accum ? lm_zero1_grad_hook(&tr->zero1) : NULL;
        shard_sample_batch(tr->train, &tr->state.data_rng, B, T, tr->inputs, tr->targets,
                           tr->domains);
        const int32_t *in = tr->inputs + off, *tg = tr->targets + off;
        double sum = lm_forward(m, in, tg, tr->domains + off, Bs, T, 1);
        long n = lm_count_targets(tr->targets, (long)B * T);
        float scale = 1.0f / ((float)n * c->grad_accum);
        if (tr->distill) { /* the same share of the batch through the frozen teacher */
            tr->student_ce += sum / n / c->grad_accum;
            lm_forward(&tr->teacher, in, tg, tr->domains + off, Bs, T, 0);
            sum = lm_distill_kl(m->logits, tr->teacher.logits, tg, Bs * T, c->vocab_size, scale);
            lm_backward_dlogits(m, in, Bs, T, 1.0f / c->grad_accum);
        } else {
            lm_backward(m, in, tg, Bs, T, scale, 1.0f / c->grad_accum);
        }
        loss += sum / n / c->grad_accum;
    }
    m->grad_hook = NULL;
    lm_dist_share(m, 0);
    dist_sum_f64(&loss, 1); /* the loss and the norm are global: every rank decides alike */
    if (tr->distill) dist_sum_f64(&tr->student_ce, 1);
    lm_zero1_reduce_grads(&tr->zero1, m);
    *gnorm = isfinite(loss) ? optimizer_step(m, step, &tr->zero1) : NAN;
    return loss;
}

static void log_step(Trainer *tr, int step, double loss, double gnorm, double dt) {
    LmModel *m = &tr->model;
    const LmConfig *c = &m->cfg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", step + 1);
    cJSON_AddNumberToObject(o, "loss", loss);
    if (tr->distill) cJSON_AddNumberToObject(o, "student_ce", tr->student_ce);
    cJSON_AddNumberToObject(o, "lr", lr_at(c, step));
    cJSON_AddNumberToObject(o, "grad_norm", gnorm);
    cJSON_AddNumberToObject(o, "tokens_per_s", (double)c->batch * c->seq_len * c->grad_accum / dt);
    cJSON_AddNumberToObject(o, "aux", lm_aux_loss(m));
    if (dist_size() > 1) { /* per rank, see docs/scale.md */
        cJSON_AddNumberToObject(o, "comm_reduced_bytes", tr->step_traffic.reduced);
        cJSON_AddNumberToObject(o, "comm_alltoall_bytes", tr->step_traffic.alltoall);
        cJSON_AddNumberToObject(o, "comm_s", tr->step_traffic.seconds);
        cJSON_AddNumberToObject(o, "rank_params", (double)m->n_params); /* rank 0's, held */
    }
    int collapsed[256] = {0};
    cJSON_AddItemToObject(o, "experts", layer_load_json(m, c->batch * c->seq_len, collapsed));
    for (int l = 0; l < c->n_layer && l < 256; l++)
        if (collapsed[l] && !tr->collapsed[l] && step >= c->warmup) {
            tr->collapsed[l] = 1;
            ml_warn("router collapse in layer %d at step %d: only top_k=%d experts receive tokens",
                    l, step + 1, m->layer_ffn[l].top_k);
        }
    append_line(tr->metrics, o);
}

static int evaluate_and_log(Trainer *tr, int step, LmEval *ev) {
    const LmConfig *c = &tr->model.cfg;
    if (lm_evaluate(&tr->model, tr->val, c->batch, c->seq_len, (long)c->eval_batches * c->batch,
                    ev))
        return -1;
    append_line(tr->metrics, eval_json(step, ev, tr->val));
    return 0;
}

static int train_loop(Trainer *tr) {
    LmModel *m = &tr->model;
    const LmConfig *c = &m->cfg;
    Progress pr;
    const int show = dist_rank() == 0 && !tr->quiet; /* data parallel: rank 0 alone reports */
    if (show) progress_start(&pr, "train", c->steps);
    char extra[160] = "";
    LmEval ev = {0};
    double loss_avg = 0;
    int first = tr->state.step;
    for (int step = first; step < c->steps; step++) {
        double t0 = ml_now(), gnorm;
        DistTraffic c0 = dist_traffic();
        double loss = train_step(tr, step, &gnorm);
        DistTraffic c1 = dist_traffic();
        tr->step_traffic = (DistTraffic){c1.reduced - c0.reduced, c1.alltoall - c0.alltoall,
                                         c1.seconds - c0.seconds};
        if (!isfinite(loss) || !isfinite(gnorm))
            return ml_error("training diverged at step %d: %s is %g; the step was not applied, "
                            "the last checkpoint (%s) is kept (lower lr?)",
                            step + 1, isfinite(loss) ? "gradient norm" : "loss",
                            isfinite(loss) ? gnorm : loss, last_checkpoint_text(tr));
        tr->state.step = m->step = step + 1;
        double dt = ml_now() - t0;
        loss_avg = step == first ? loss : 0.9 * loss_avg + 0.1 * loss; /* smoothed for display */
        if (dist_rank() == 0 && ((step + 1) % c->log_every == 0 || step + 1 == c->steps))
            log_step(tr, step, loss, gnorm, dt);
        int last = step + 1 == c->steps;
        if ((c->eval_every > 0 && (step + 1) % c->eval_every == 0) || last) {
            if (evaluate_and_log(tr, step + 1, &ev)) return -1;
        }
        if (tr->stop_after > 0 && step + 1 - first >= tr->stop_after) interrupted = SIGINT;
        /* A signal to any rank stops them all at this step: decided once, from the summed flags,
         * so a signal landing later in the step cannot send one rank alone into a collective. */
        double stop = interrupted != 0;
        dist_sum_f64(&stop, 1);
        if ((c->ckpt_every > 0 && (step + 1) % c->ckpt_every == 0) || last || stop > 0)
            if (save_checkpoints(tr)) return -1;
        snprintf(extra, sizeof extra, "loss %.4f  %.0f tok/s", loss_avg,
                 c->batch * c->seq_len * c->grad_accum / dt);
        if (show) progress_update(&pr, step + 1, extra);
        if (stop > 0) {
            if (dist_rank() == 0)
                fprintf(stderr,
                        "\ninterrupted at step %d: checkpoint saved; continue with --resume\n",
                        step + 1);
            return 130;
        }
    }
    if (first >= c->steps) { /* nothing left to train: report where the run stands */
        if (evaluate_and_log(tr, c->steps, &ev) || save_checkpoints(tr)) return -1;
    }
    snprintf(extra, sizeof extra, "val loss %.4f  ppl %.2f", ev.loss, exp(ev.loss));
    if (show) progress_end(&pr, extra);
    return 0;
}

int lm_train(const LmConfig *cfg, const LmTrainOptions *opt) {
    Trainer tr;
    memset(&tr, 0, sizeof tr);
    interrupted = 0;
    struct sigaction sa = {0}, old, old_usr1;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    sigaction(SIGUSR1, &sa,
              &old_usr1); /* mpirun forwards SIGUSR1 to every rank; SIGINT it does not */
    tr.stop_after = opt->stop_after;
    tr.quiet = opt->quiet;
    int r = prepare_run(&tr, cfg, opt);
    if (r == 0) lm_zero1_start(&tr.zero1, &tr.model, opt->zero1, tr.model.cfg.grad_overlap);
    if (r == 0) r = train_loop(&tr);
    lm_zero1_end(&tr.zero1);
    sigaction(SIGINT, &old, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    close_run(&tr);
    return r;
}
