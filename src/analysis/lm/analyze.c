/* The driver: one forward (with targets) per batch of windows; every analysis reads that batch's
 * saved activations; the k' perplexity forwards come last because they overwrite them. */
#include "analysis/lm/analyze.h"
#include "analysis/lm/lens.h"
#include "analysis/lm/routing.h"
#include "analysis/lm/specialise.h"
#include "analysis/lm/topk.h"
#include "analysis/lm/docstats.h"
#include "analysis/lm/intervene.h"
#include "analysis/lm/prune_curve.h"
#include "analysis/lm/sensitivity.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include "dist/dist.h"
#include <stdio.h>
#include <string.h>

typedef struct {
    RoutingAcc routing;
    SpecialiseAcc spec;
    TopkAcc topk;
    LensAcc lens;
    PruneCurveAcc prune;
    DocAcc docs; /* per-document counts for bootstrap.json (docstats.h), beside the analyses */
} Accs;

/* What a streamed analysis's hooks see: the run and every accumulator. */
typedef struct {
    LmModel *m;
    const AnalyzeData *data;
    const AnalyzeOptions *o;
    const AnVocab *voc;
    long total; /* input tokens the stream feeds */
    Accs acc;
    const AnBatch *batch; /* the batch being forwarded (layer and head hooks) */
    int failed;           /* an init could not start (its error is the message) */
} Stream;

/* One analysis. Streamed ones (init != NULL) are fed every batch of the one forward per batch:
 * accumulate reads its saved activations; accumulate_late runs after every analysis's accumulate
 * (it may run forwards of its own, which overwrite them); finish runs once after the last batch
 * (forwards of its own too). Others (run) go once, after the stream (under mpirun: on rank 0). */
typedef struct {
    const char *name;
    unsigned bit; /* AN_* */
    void (*init)(Stream *s);
    /* while the batch's forward runs: each MoE layer's FFN rows, then each block of output rows'
     * next-token probabilities (lm_forward_observed: the model keeps one layer's activations) */
    void (*layer)(Stream *s, const LmFfnRows *rows);
    void (*head)(Stream *s, long row0, int n, const float *probs);
    void (*accumulate)(Stream *s, const AnBatch *b);
    void (*accumulate_late)(Stream *s, const AnBatch *b);
    void (*finish)(Stream *s);
    /* sharded over mpirun ranks (batches dealt out: batch g to rank g mod N): skip sees, with its
     * windows but no forward, each batch another rank runs; round runs on every rank after every
     * N consecutive batches (one per rank: per-token outputs go to rank 0 in window order);
     * reduce, after finish, merges every rank's statistics into rank 0's (into every rank's where
     * finish needs them). In one process round follows each batch and reduce is the identity. */
    void (*skip)(Stream *s, const AnBatch *b);
    void (*round)(Stream *s);
    void (*reduce)(Stream *s);
    int (*write)(Stream *s); /* rank 0 alone */
    void (*free)(Stream *s);
    /* analyze.json timing keys of accumulate, accumulate_late and finish (NULL: accumulate's
     * and accumulate_late's time is summed into "accumulate"; finish is always timed apart) */
    const char *seconds, *late_seconds, *finish_seconds;
    int (*run)(LmModel *m, const LmTok *tok, const AnalyzeData *data, const AnalyzeOptions *o,
               cJSON *meta);
} LmAnalysis;

static void routing_init_s(Stream *s) {
    s->failed |= routing_init(&s->acc.routing, s->m, s->data->D, s->o->trace_tokens, s->o->out_dir);
}
static void routing_layer_s(Stream *s, const LmFfnRows *r) {
    routing_layer(&s->acc.routing, s->batch, r);
}
static void routing_acc_s(Stream *s, const AnBatch *b) {
    routing_accumulate(&s->acc.routing, b);
}
static void routing_round_s(Stream *s) {
    routing_round(&s->acc.routing);
}
static void routing_reduce_s(Stream *s) {
    routing_reduce(&s->acc.routing);
}
static int routing_write_s(Stream *s) {
    return routing_write(&s->acc.routing, s->o->out_dir, s->data->names);
}
static void routing_free_s(Stream *s) {
    routing_free(&s->acc.routing);
}
static void spec_init_s(Stream *s) {
    long kept = s->o->trace_tokens < s->total ? s->o->trace_tokens : s->total; /* ≤ the text */
    specialise_init(&s->acc.spec, s->m, s->data->D, kept, s->o->seed);
}
static void spec_layer_s(Stream *s, const LmFfnRows *r) {
    specialise_layer(&s->acc.spec, s->batch, r);
}
static void spec_acc_s(Stream *s, const AnBatch *b) {
    specialise_accumulate(&s->acc.spec, b);
}
static void spec_reduce_s(Stream *s) {
    specialise_reduce(&s->acc.spec);
}
static int spec_write_s(Stream *s) {
    return specialise_write(&s->acc.spec, s->o->out_dir, s->data->names);
}
static void spec_free_s(Stream *s) {
    specialise_free(&s->acc.spec);
}
static int window_len(const LmModel *m, const AnalyzeOptions *o);

static void topk_init_s(Stream *s) {
    topk_init(&s->acc.topk, s->m, s->data->D, s->o->kp_tokens, s->total,
              (long)s->o->batch * window_len(s->m, s->o));
}
static void topk_layer_s(Stream *s, const LmFfnRows *r) {
    topk_layer_cosine(&s->acc.topk, s->batch, r);
}
static void topk_acc_s(Stream *s, const AnBatch *b) {
    topk_accumulate_full(&s->acc.topk, b);
}
static void topk_late_s(Stream *s, const AnBatch *b) {
    topk_accumulate_kprime(&s->acc.topk, b);
}
static void topk_reduce_s(Stream *s) {
    topk_reduce(&s->acc.topk);
}
static int topk_write_s(Stream *s) {
    return topk_write(&s->acc.topk, s->o->out_dir, s->data->names);
}
static void topk_free_s(Stream *s) {
    topk_free(&s->acc.topk);
}
static void lens_init_s(Stream *s) {
    s->failed |= lens_init(&s->acc.lens, s->m, s->o->lens_tokens, s->total, s->o->out_dir);
}
static void lens_layer_s(Stream *s, const LmFfnRows *r) {
    lens_layer(&s->acc.lens, s->batch, r);
}
static void lens_head_s(Stream *s, long row0, int n, const float *probs) {
    lens_head(&s->acc.lens, s->batch, row0, n, probs);
}
static void lens_acc_s(Stream *s, const AnBatch *b) {
    lens_accumulate(&s->acc.lens, b);
}
static void lens_round_s(Stream *s) {
    lens_round(&s->acc.lens);
}
static void lens_reduce_s(Stream *s) {
    lens_reduce(&s->acc.lens);
}
static int lens_write_s(Stream *s) {
    return lens_write(&s->acc.lens, s->o->out_dir, s->voc);
}
static void lens_free_s(Stream *s) {
    lens_free(&s->acc.lens);
}
static void prune_init_s(Stream *s) {
    prune_curve_init(&s->acc.prune, s->m, s->data->D, window_len(s->m, s->o), s->o->prune_tokens);
}
static void prune_layer_s(Stream *s, const LmFfnRows *r) {
    prune_curve_layer(&s->acc.prune, s->batch, r);
}
static void prune_acc_s(Stream *s, const AnBatch *b) {
    prune_curve_batch(&s->acc.prune, b);
}
static void prune_finish_s(Stream *s) {
    prune_curve_run(&s->acc.prune, s->m);
}
static void prune_skip_s(Stream *s, const AnBatch *b) {
    prune_curve_skip(&s->acc.prune, b);
}
static void prune_reduce_s(Stream *s) {
    prune_curve_reduce(&s->acc.prune);
}
static int prune_write_s(Stream *s) {
    return prune_curve_write(&s->acc.prune, s->o->out_dir, s->data->names);
}
static void prune_free_s(Stream *s) {
    prune_curve_free(&s->acc.prune);
}
static int analyze_sensitivity(LmModel *m, const LmTok *tok, const AnalyzeData *data,
                               const AnalyzeOptions *o, cJSON *meta);

/* The analyses, in the order they accumulate and write. Adding one: a row, its AN_* bit
 * (analyze.h), its accumulator in Accs, and a test on a constructed case (docs/architecture.md). */
static const LmAnalysis analyses[] = {
    {.name = "routing",
     .bit = AN_ROUTING,
     .init = routing_init_s,
     .layer = routing_layer_s,
     .accumulate = routing_acc_s,
     .round = routing_round_s, /* the trace, in window order */
     .reduce = routing_reduce_s,
     .write = routing_write_s,
     .free = routing_free_s},
    {.name = "specialise",
     .bit = AN_SPECIALISE,
     .init = spec_init_s,
     .layer = spec_layer_s,
     .accumulate = spec_acc_s,
     .reduce = spec_reduce_s,
     .write = spec_write_s,
     .free = spec_free_s},
    {.name = "topk",
     .bit = AN_TOPK,
     .init = topk_init_s,
     .layer = topk_layer_s,
     .accumulate = topk_acc_s,
     .accumulate_late = topk_late_s, /* k' forwards overwrite the batch's activations (and first
                                        reuse its losses: the only late row) */
     .late_seconds = "kprime_forwards",
     .reduce = topk_reduce_s,
     .write = topk_write_s,
     .free = topk_free_s},
    {.name = "lens",
     .bit = AN_LENS,
     .init = lens_init_s,
     .layer = lens_layer_s,
     .head = lens_head_s,
     .accumulate = lens_acc_s,
     .seconds = "lens",
     .round = lens_round_s, /* lens_tokens.csv rows, in window order */
     .reduce = lens_reduce_s,
     .write = lens_write_s,
     .free = lens_free_s},
    {.name = "sensitivity", .bit = AN_SENSITIVITY, .run = analyze_sensitivity},
    {.name = "prune",
     .bit = AN_PRUNE,
     .init = prune_init_s,
     .layer = prune_layer_s,
     .accumulate = prune_acc_s,
     .finish = prune_finish_s, /* forwards with experts masked, over the held-out windows */
     .finish_seconds = "prune_forwards",
     .skip = prune_skip_s, /* hold-out decisions follow the whole stream */
     .reduce = prune_reduce_s,
     .write = prune_write_s,
     .free = prune_free_s},
};
enum { AN_COUNT = (int)(sizeof analyses / sizeof analyses[0]) };
_Static_assert(AN_ALL == (AN_ROUTING | AN_SPECIALISE | AN_TOPK | AN_LENS), "AN_ALL: the streamed");

int analyze_parse_only(const char *list, unsigned *mask) {
    unsigned rows;
    if (an_parse_names(list, &analyses[0].name, sizeof analyses[0], AN_COUNT, &rows, "analysis"))
        return -1;
    *mask = 0;
    for (int i = 0; i < AN_COUNT; i++)
        if (rows & (1u << i)) *mask |= analyses[i].bit;
    return 0;
}

void analyze_names(char *buf, size_t cap) {
    an_list_names(buf, cap, &analyses[0].name, sizeof analyses[0], AN_COUNT);
}

void analyze_default_options(AnalyzeOptions *o) {
    memset(o, 0, sizeof *o);
    o->only = AN_ALL, o->batch = 8, o->max_tokens = 1 << 20, o->lens_tokens = 2048;
    o->kp_tokens = 32768, o->trace_tokens = 1 << 20, o->seed = 1234;
    o->mask_top = 10, o->sens_ppl_tokens = 65536, o->boot = 1000;
}

/* The analyze.json "seconds" key of hook h (0 accumulate, 1 accumulate_late, 2 finish), or NULL
 * when its time goes to "accumulate". */
static const char *timing_key(const LmAnalysis *a, int h) {
    return h == 0 ? a->seconds : h == 1 ? a->late_seconds : a->finish_seconds;
}

static int window_len(const LmModel *m, const AnalyzeOptions *o) {
    return o->seq > 0 && o->seq < m->cfg.seq_len ? o->seq : m->cfg.seq_len;
}

/* The analyses a stream runs, as lm_forward_observed's hooks. */
typedef struct {
    Stream *st;
    const LmAnalysis **run;
    int n_run;
    DocAcc *docs; /* the document bootstrap's counts, or NULL */
    /* seconds in each analysis's layer and head hooks during this batch's forward (the lens
     * decodes there): its own time, not the forward's; t_docs: the bootstrap's layer hook, all
     * batches */
    double t_obs[AN_COUNT], t_docs;
} Feed;

static void feed_layer(void *ctx, const LmFfnRows *rows) {
    Feed *f = ctx;
    for (int i = 0; i < f->n_run; i++) {
        if (!f->run[i]->layer) continue;
        double t1 = ml_now();
        f->run[i]->layer(f->st, rows);
        f->t_obs[f->run[i] - analyses] += ml_now() - t1;
    }
    if (!f->docs) return;
    double t1 = ml_now();
    docs_layer(f->docs, f->st->batch, rows);
    f->t_docs += ml_now() - t1;
}

static void feed_head(void *ctx, long row0, int n, const float *probs) {
    Feed *f = ctx;
    for (int i = 0; i < f->n_run; i++) {
        if (!f->run[i]->head) continue;
        double t1 = ml_now();
        f->run[i]->head(f->st, row0, n, probs);
        f->t_obs[f->run[i] - analyses] += ml_now() - t1;
    }
}

/* A batch this rank runs: its observed forward, then every accumulate and accumulate_late (their
 * seconds into t_hook); returns the forward's seconds. */
static double run_batch(Feed *f, const AnBatch *bt, double (*t_hook)[3]) {
    LmObserver obs = {feed_layer, feed_head, f};
    f->st->batch = bt;
    if (f->docs) docs_tokens(f->docs, bt);
    memset(f->t_obs, 0, sizeof f->t_obs);
    double t_docs = f->t_docs;
    double t1 = ml_now();
    lm_forward_observed(bt->m, &obs, bt->tokens, bt->targets, bt->domains, bt->B, bt->T);
    double t_fwd = ml_now() - t1;
    t_fwd -= f->t_docs - t_docs;
    for (int i = 0; i < AN_COUNT; i++) t_fwd -= f->t_obs[i], t_hook[i][0] += f->t_obs[i];
    for (int late = 0; late < 2; late++)
        for (int i = 0; i < f->n_run; i++) {
            const LmAnalysis *a = f->run[i];
            void (*hook)(Stream *, const AnBatch *) = late ? a->accumulate_late : a->accumulate;
            if (!hook) continue;
            t1 = ml_now();
            hook(f->st, bt);
            t_hook[a - analyses][late] += ml_now() - t1;
        }
    return t_fwd;
}

/* Every rank's statistics merged (analyses, bootstrap counts, the model's routed-expert count for
 * lm_mean_k): collectives, so every rank calls it; the identity in one process. */
static void reduce_all(Feed *f, LmModel *m) {
    for (int i = 0; i < f->n_run; i++)
        if (f->run[i]->reduce) f->run[i]->reduce(f->st);
    if (f->docs) docs_reduce(f->docs);
    double routed[2] = {m->routed_slots, m->routed_rows};
    dist_sum_f64(routed, 2);
    m->routed_slots = routed[0], m->routed_rows = routed[1];
}

/* analyze.json's tokens, window, domains and seconds per phase (t_fb: the forward's and the
 * document bootstrap's, -1 when it did not run). */
static void stream_meta(cJSON *j, const Stream *st, const LmAnalysis **run, int n_run, long done,
                        int T, const double *t_fb, double (*t_hook)[3], double t0, double t_end) {
    double t_fwd = t_fb[0];
    cJSON_AddNumberToObject(j, "tokens", (double)done);
    cJSON_AddNumberToObject(j, "window", T);
    cJSON *dn = cJSON_AddArrayToObject(j, "domains");
    for (int d = 0; d < st->data->D; d++)
        cJSON_AddItemToArray(dn, cJSON_CreateString(st->data->names[d]));
    double t_acc = t_end - t0 - t_fwd; /* to the reduction's end, less the hooks timed apart */
    for (int i = 0; i < AN_COUNT; i++)
        for (int h = 0; h < 3; h++)
            if (timing_key(&analyses[i], h)) t_acc -= t_hook[i][h];
    cJSON *sec = cJSON_AddObjectToObject(j, "seconds");
    cJSON_AddNumberToObject(sec, "forward", t_fwd);
    cJSON_AddNumberToObject(sec, "accumulate", t_acc);
    for (int h = 0; h < 3; h++) /* the analyses that ran */
        for (int i = 0; i < n_run; i++) {
            const char *key = timing_key(run[i], h);
            if (key) cJSON_AddNumberToObject(sec, key, t_hook[run[i] - analyses][h]);
        }
    if (t_fb[1] >= 0) cJSON_AddNumberToObject(sec, "bootstrap", t_fb[1]);
    cJSON_AddNumberToObject(sec, "total", ml_now() - t0);
    cJSON_AddNumberToObject(j, "lens_tokens", (double)st->acc.lens.n);
    cJSON_AddNumberToObject(j, "kprime_tokens", (double)st->acc.topk.kp_done);
}

/* The streamed analyses (AN_ALL, AN_PRUNE): one observed forward per batch (the analyses reduce
 * each layer's rows as it goes, so memory does not grow with depth or batch); adds tokens,
 * domains and seconds per phase to meta. Under mpirun batch g goes to rank g mod N (each batch as
 * one process forms it, so every token's activations are the same), and rank 0 alone, the one
 * given an output folder (o->out_dir), writes. */
static int analyze_stream(LmModel *m, const AnVocab *tok, const AnalyzeData *data,
                          const AnalyzeOptions *o, cJSON *meta) {
    int T = window_len(m, o), B = o->batch, D = data->D;
    int V = m->cfg.vocab_size;
    if (data->n_src < 1) return ml_error("analyze: no text to analyse");
    long per_src = o->max_tokens / data->n_src / T, total = 0, n_batches = 0;
    long budget = per_src > 0 ? per_src : 1; /* windows per source */
    for (int s = 0; s < data->n_src; s++) {
        if (!data->ids && shard_vocab_size(data->src[s]) > V)
            return ml_error("analyze: data vocabulary exceeds the model's");
        AnSrcPlan q = an_src_plan(data, s, T, B, budget);
        if (q.nw <= 0 && !q.tail)
            return ml_error("analyze: source %d (%s) has fewer than %d tokens", s,
                            data->names[data->base[s]], data->ids ? 2 : T + 1);
        total += q.nw * T + q.tail, n_batches += q.batches;
    }
    /* token classes of each global domain, by the language its name implies */
    uint8_t *cls_tab = ml_alloc((size_t)D * V);
    for (int d = 0; d < D; d++)
        an_vocab_class_table(tok, token_lang_from_name(data->names[d]), cls_tab + (long)d * V, V);
    Stream st = {.m = m, .data = data, .o = o, .voc = tok, .total = total}; /* acc zeroed */
    const LmAnalysis *run[AN_COUNT];
    int n_run = 0, need_skip = 0;
    for (int i = 0; i < AN_COUNT; i++)
        if ((o->only & analyses[i].bit) && analyses[i].init) run[n_run++] = &analyses[i];
    for (int i = 0; i < n_run; i++) run[i]->init(&st), need_skip |= run[i]->skip != NULL;
    if (st.failed) {
        for (int i = 0; i < n_run; i++) run[i]->free(&st);
        ml_free(cls_tab);
        return -1;
    }
    /* the document bootstrap: every token's unit (document, or chunk of an id source) */
    long n_units = 0, *unit_base = ml_alloc(sizeof(long) * (data->n_src + 1));
    for (int s = 0; s < data->n_src; s++)
        unit_base[s] = n_units, n_units += an_src_units(data, s, T);
    int boot = o->boot > 0 && (o->only & (AN_ROUTING | AN_SPECIALISE | AN_TOPK));
    docs_init(&st.acc.docs, m, D, boot ? (int)n_units : 0, data->ids ? "chunk" : "document",
              o->boot, o->seed);
    if (boot && (o->only & AN_TOPK)) st.acc.topk.docs = &st.acc.docs;
    AnBatchBufs f = {ml_alloc(sizeof(int32_t) * B * T), ml_alloc(sizeof(int32_t) * B * T),
                     ml_alloc(sizeof(int32_t) * B * T), ml_alloc(sizeof(int32_t) * B * T)};
    AnBatchBufs skipped = {f.in, f.tg, f.dom, NULL}; /* another rank's batch: no units needed */
    Feed feed = {&st, run, n_run, boot ? &st.acc.docs : NULL, {0}, 0};
    int lean = m->lean;
    m->lean = LM_LEAN_OBSERVED;         /* one layer's activations, whatever the depth and batch */
    double t_hook[AN_COUNT][3] = {{0}}; /* accumulate, accumulate_late, finish */
    uint8_t *cls = ml_alloc((size_t)B * T);
    const int S = dist_size(), R = dist_rank(), show = !o->quiet && R == 0;
    Progress pr;
    if (show) progress_start(&pr, "analyze", total);
    double t_fwd = 0, t0 = ml_now();
    long done = 0, g = 0; /* tokens and batches of the whole stream so far, every rank's */
    for (int s = 0; s < data->n_src; s++) {
        AnSrcPlan q = an_src_plan(data, s, T, B, budget);
        for (long bi = 0; bi < q.batches; bi++, g++) {
            int b, Tb, own = g % S == R;
            an_batch_shape(&q, bi, &b, &Tb);
            if (own || need_skip) an_fill_batch(data, s, &q, bi, unit_base[s], own ? &f : &skipped);
            AnBatch bt = {m, f.in, f.tg, f.dom, cls, b, Tb, b * Tb, done, f.units};
            if (own) {
                for (int n = 0; n < bt.N; n++) cls[n] = cls_tab[(long)f.dom[n] * V + f.in[n]];
                t_fwd += run_batch(&feed, &bt, t_hook);
            }
            for (int i = 0; i < n_run && !own; i++)
                if (run[i]->skip) run[i]->skip(&st, &bt);
            done += bt.N;
            if ((g + 1) % S == 0 || g + 1 == n_batches) /* a round: one batch per rank */
                for (int i = 0; i < n_run; i++)
                    if (run[i]->round) run[i]->round(&st);
            if (show && own) progress_update(&pr, done, NULL);
        }
    }
    if (show) progress_end(&pr, NULL);
    for (int i = 0; i < n_run; i++) {
        if (!run[i]->finish) continue;
        double t1 = ml_now();
        run[i]->finish(&st);
        t_hook[run[i] - analyses][2] += ml_now() - t1;
    }
    m->lean = lean;
    reduce_all(&feed, m);
    double t_end = ml_now();
    int rc = 0;
    for (int i = 0; i < n_run && !rc && o->out_dir; i++) rc = run[i]->write(&st);
    double t_boot = ml_now();
    if (!rc && boot && o->out_dir) rc = docs_write(&st.acc.docs, o->out_dir, data->names);
    t_boot = boot ? ml_now() - t_boot + feed.t_docs : -1;
    if (!rc && o->out_dir)
        stream_meta(meta, &st, run, n_run, done, T, (double[]){t_fwd, t_boot}, t_hook, t0, t_end);
    for (int i = 0; i < n_run; i++) run[i]->free(&st);
    docs_free(&st.acc.docs), ml_free(unit_base);
    ml_free(f.in), ml_free(f.tg), ml_free(f.dom), ml_free(f.units), ml_free(cls), ml_free(cls_tab);
    return rc;
}

/* Routing sensitivity on the pairs file (texts up to the model's seq_len), with the perplexity
 * cost of masking over the text set when there is one. */
static int analyze_sensitivity(LmModel *m, const LmTok *tok, const AnalyzeData *data,
                               const AnalyzeOptions *o, cJSON *meta) {
    if (!o->pairs) return ml_error("analyze: sensitivity needs a pairs file (--pairs FILE)");
    SensPairs pairs;
    if (sens_pairs_load(&pairs, o->pairs, tok, m->cfg.seq_len)) return -1;
    SensOptions so = {o->mask_top, o->sens_ppl_tokens, window_len(m, o), o->batch, o->quiet};
    SensResult r;
    int rc = sensitivity_run(m, &pairs, data, &so, &r);
    if (!rc) rc = sensitivity_write(&r, &pairs, o->out_dir, o->pairs);
    if (!rc) {
        cJSON_AddNumberToObject(meta, "sensitivity_pairs", r.n);
        cJSON *sec = cJSON_GetObjectItem(meta, "seconds");
        if (!sec) sec = cJSON_AddObjectToObject(meta, "seconds");
        cJSON_AddNumberToObject(sec, "sensitivity", r.seconds);
        sensitivity_free(&r);
    }
    sens_pairs_free(&pairs);
    return rc;
}

/* What analyze.json says about the model: its routing convention per MoE layer (score order,
 * renorm, weight scale), shared experts (reported apart: never routed experts) and the routing
 * intervention applied. */
static void add_conventions(cJSON *j, const LmModel *m, const AnalyzeOptions *o) {
    if (o->model_path) cJSON_AddStringToObject(j, "model", o->model_path);
    int layers[64], L = an_moe_layers(m, layers);
    const MoeConfig *f = &m->layer_ffn[layers[0]];
    /* the model's own k and renorm, not an intervention's */
    const cJSON *iv = o->intervention;
    int k = cJSON_GetObjectItem(iv, "model_top_k")
                ? cJSON_GetObjectItem(iv, "model_top_k")->valueint
                : f->top_k;
    int own_renorm = cJSON_GetObjectItem(iv, "model_renorm")
                         ? cJSON_GetObjectItem(iv, "model_renorm")->valueint
                         : f->renorm;
    cJSON *c = cJSON_AddObjectToObject(j, "routing_convention");
    char *arch = NULL;
    if (m->gguf && !gguf_get_strdup(m->gguf, "general.architecture", &arch))
        cJSON_AddStringToObject(c, "architecture", arch);
    ml_free(arch);
    cJSON_AddStringToObject(c, "score", intervene_score_name(f->score));
    cJSON_AddNumberToObject(c, "top_k", k);
    cJSON_AddNumberToObject(c, "routed_experts", f->n_experts);
    cJSON_AddNumberToObject(c, "zero_experts", f->n_zero);
    cJSON_AddNumberToObject(c, "shared_experts", f->n_shared);
    cJSON_AddBoolToObject(c, "shared_gate", f->shared_gate);
    int renorm = f->score == SCORE_TOPK_SOFTMAX ? 1 : own_renorm;
    cJSON_AddNumberToObject(c, "renorm", renorm);
    cJSON_AddNumberToObject(c, "weight_scale", f->weight_scale > 0 ? f->weight_scale : 1);
    char d[256];
    snprintf(d, sizeof d, "%s; top-%d of %d routed experts%s, weights %s%s",
             f->score == SCORE_TOPK_SOFTMAX ? "top-k of the logits, softmax over the k picked"
             : f->score == SCORE_SIGMOID    ? "sigmoid scores, top-k (with balance bias)"
                                            : "softmax over all experts, then top-k",
             k, f->n_experts, f->n_shared ? " plus always-on shared expert(s), reported apart" : "",
             renorm ? "renormalised to sum 1" : "raw probabilities",
             f->score == SCORE_TOPK_SOFTMAX ? " (always)" : "");
    cJSON_AddStringToObject(c, "description", d);
    int first_moe = layers[0];
    cJSON_AddNumberToObject(c, "first_moe_layer", first_moe);
    int mixed = 0;
    for (int l = 1; l < L; l++) {
        const MoeConfig *g = &m->layer_ffn[layers[l]];
        mixed |= g->score != f->score || g->top_k != f->top_k || g->renorm != f->renorm ||
                 g->n_shared != f->n_shared || g->n_experts != f->n_experts;
    }
    cJSON_AddBoolToObject(c, "same_in_every_moe_layer", !mixed);
    if (o->intervention)
        cJSON_AddItemToObject(j, "intervention", cJSON_Duplicate(o->intervention, 1));
}

static int analyze_into(LmModel *m, const LmTok *tok, const AnalyzeData *data,
                        const AnalyzeOptions *o, int L_moe) {
    cJSON *j = cJSON_CreateObject(), *ran = cJSON_AddArrayToObject(j, "analyses");
    for (int i = 0; i < AN_COUNT; i++)
        if (o->only & analyses[i].bit)
            cJSON_AddItemToArray(ran, cJSON_CreateString(analyses[i].name));
    cJSON_AddNumberToObject(j, "moe_layers", L_moe);
    add_conventions(j, m, o);
    AnVocab voc;
    int rc = an_vocab_build(&voc, tok);
    if (rc) {
        cJSON_Delete(j);
        return -1;
    }
    if (o->only & (AN_ALL | AN_PRUNE)) rc = analyze_stream(m, &voc, data, o, j);
    cJSON *ivj = cJSON_GetObjectItem(j, "intervention");
    if (!rc && ivj && m->routed_rows > 0) /* experts run per token under the intervention */
        cJSON_AddNumberToObject(ivj, "mean_k", lm_mean_k(m));
    for (int i = 0; i < AN_COUNT && !rc && o->out_dir; i++) /* rank 0 alone: no collectives */
        if ((o->only & analyses[i].bit) && analyses[i].run)
            rc = analyses[i].run(m, tok, data, o, j);
    if (!rc && o->out_dir) rc = an_write_json(o->out_dir, "analyze.json", j);
    cJSON_Delete(j);
    an_vocab_free(&voc);
    return rc;
}

typedef struct {
    LmModel *m;
    const LmTok *tok;
    const AnalyzeData *data;
    const AnalyzeOptions *o;
    int L_moe;
} AnalyzeJob;

static int write_analysis(const char *dir, void *ctx) {
    AnalyzeJob *j = ctx;
    AnalyzeOptions in_dir = *j->o;
    in_dir.out_dir = dir;
    return analyze_into(j->m, j->tok, j->data, &in_dir, j->L_moe);
}

/* The analyses go into a fresh temporary folder that replaces o->out_dir only when all of them
 * are written: a killed or failed analyze leaves the previous analysis whole. Under mpirun rank 0
 * alone writes; the other ranks run their share of the stream with no output folder. */
int analyze_lm(LmModel *m, const LmTok *tok, const AnalyzeData *data, const AnalyzeOptions *o) {
    int layers[64], L_moe = an_moe_layers(m, layers);
    if (L_moe == 0) return ml_error("analyze: the model has no MoE layer");
    AnalyzeJob job = {m, tok, data, o, L_moe};
    if (dist_rank() == 0) return ml_dir_write(o->out_dir, write_analysis, &job);
    AnalyzeOptions no_dir = *o;
    no_dir.out_dir = NULL;
    return analyze_into(m, tok, data, &no_dir, L_moe);
}
