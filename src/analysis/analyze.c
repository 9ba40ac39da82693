/* The driver: one forward (with targets) per batch of windows; every analysis reads that batch's
 * saved activations; the k' perplexity forwards come last because they overwrite them. */
#include "analysis/analyze.h"
#include "analysis/analysis.h"
#include "analysis/docstats.h"
#include "analysis/intervene.h"
#include "analysis/sensitivity.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/progress.h"
#include <stdio.h>
#include <string.h>

static const char *an_names[] = {"routing", "specialise", "topk", "lens", "sensitivity"};
enum { AN_COUNT = 5 };

int analyze_parse_only(const char *list, unsigned *mask) {
    *mask = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < AN_COUNT; i++)
            if (strlen(an_names[i]) == n && !strncmp(p, an_names[i], n))
                *mask |= 1u << i, found = 1;
        if (!found)
            return ml_error(
                "--only: unknown analysis '%.*s' (expected routing, specialise, topk, lens, "
                "sensitivity)",
                (int)n, p);
        p += n + (p[n] == ',');
    }
    return 0;
}

void analyze_default_options(AnalyzeOptions *o) {
    memset(o, 0, sizeof *o);
    o->only = AN_ALL, o->batch = 8, o->max_tokens = 1 << 20, o->lens_tokens = 2048;
    o->kp_tokens = 65536, o->trace_tokens = 1 << 20, o->seed = 1234;
    o->mask_top = 10, o->sens_ppl_tokens = 65536, o->boot = 1000;
}

typedef struct {
    RoutingAcc routing;
    SpecialiseAcc spec;
    TopkAcc topk;
    LensAcc lens;
    DocAcc docs;
} Accs;

/* Windows taken from a source: evenly spread, like lm_evaluate's subset. */
static long source_windows(const AnalyzeData *d, int s, int T, long budget) {
    long nw = an_src_windows(d, s, T);
    return budget > 0 && budget < nw ? budget : nw;
}

/* An id source's short last chunk is analysed (alone, as one batch) when every chunk is. */
static int source_tail(const AnalyzeData *d, int s, int T, long budget) {
    return budget <= 0 || budget > an_src_windows(d, s, T) ? an_src_tail(d, s, T) : 0;
}

static int window_len(const LmModel *m, const AnalyzeOptions *o) {
    return o->seq > 0 && o->seq < m->cfg.seq_len ? o->seq : m->cfg.seq_len;
}

/* The streamed analyses (AN_ALL): one forward per batch; adds tokens, domains and seconds per
 * phase to meta. */
static int analyze_stream(LmModel *m, const AnVocab *tok, const AnalyzeData *data,
                          const AnalyzeOptions *o, cJSON *meta) {
    int T = window_len(m, o), B = o->batch, D = data->D;
    int V = m->cfg.vocab_size;
    if (data->n_src < 1) return ml_error("analyze: no text to analyse");
    long per_src = o->max_tokens / data->n_src / T, total = 0;
    for (int s = 0; s < data->n_src; s++) {
        if (!data->ids && shard_vocab_size(data->src[s]) > V)
            return ml_error("analyze: data vocabulary exceeds the model's");
        long nw = source_windows(data, s, T, per_src > 0 ? per_src : 1);
        int tail = source_tail(data, s, T, per_src > 0 ? per_src : 1);
        if (nw <= 0 && !tail)
            return ml_error("analyze: source %d (%s) has fewer than %d tokens", s,
                            data->names[data->base[s]], data->ids ? 2 : T + 1);
        total += nw * T + tail;
    }
    /* token classes of each global domain, by the language its name implies */
    uint8_t *cls_tab = ml_alloc((size_t)D * V);
    for (int d = 0; d < D; d++)
        an_vocab_class_table(tok, token_lang_from_name(data->names[d]), cls_tab + (long)d * V, V);
    Accs a;
    routing_init(&a.routing, m, D, o->only & AN_ROUTING ? o->trace_tokens : 0);
    specialise_init(&a.spec, m, D, o->only & AN_SPECIALISE ? o->trace_tokens : 0, o->seed);
    topk_init(&a.topk, m, D, o->only & AN_TOPK ? o->kp_tokens : 0);
    lens_init(&a.lens, m, o->only & AN_LENS ? o->lens_tokens : 0, total);
    long n_units = 0, *unit_base = ml_alloc(sizeof(long) * (data->n_src + 1));
    for (int s = 0; s < data->n_src; s++)
        unit_base[s] = n_units, n_units += an_src_units(data, s, T);
    int boot = o->boot > 0 && (o->only & (AN_ROUTING | AN_SPECIALISE | AN_TOPK));
    docs_init(&a.docs, m, D, boot ? (int)n_units : 0, data->ids ? "chunk" : "document", o->boot,
              o->seed);
    if (boot && (o->only & AN_TOPK)) a.topk.docs = &a.docs;
    int32_t *units = ml_alloc(sizeof(int32_t) * B * T);
    int32_t *in = ml_alloc(sizeof(int32_t) * B * T), *tg = ml_alloc(sizeof(int32_t) * B * T);
    int32_t *dom = ml_alloc(sizeof(int32_t) * B * T);
    uint8_t *cls = ml_alloc((size_t)B * T);
    Progress pr;
    if (!o->quiet) progress_start(&pr, "analyze", total);
    double t_fwd = 0, t_kp = 0, t_lens = 0, t0 = ml_now();
    long done = 0;
    for (int s = 0; s < data->n_src; s++) {
        long budget = per_src > 0 ? per_src : 1, all = an_src_windows(data, s, T);
        long nw = source_windows(data, s, T, budget);
        int tail = source_tail(data, s, T, budget);
        /* batches of up to B full windows, then the short last chunk alone */
        long full_batches = (nw + B - 1) / B;
        for (long bi = 0; bi < full_batches + (tail > 0); bi++) {
            long w0 = bi * B;
            int b = 0, Tb = T;
            if (bi < full_batches) {
                b = (int)(nw - w0 < B ? nw - w0 : B);
                for (int i = 0; i < b; i++) {
                    long w = (w0 + i) * all / nw;
                    an_src_window(data, s, w, T, in + (long)i * T, tg + (long)i * T,
                                  dom + (long)i * T);
                    if (boot)
                        an_src_window_units(data, s, w, T, T, unit_base[s], units + (long)i * T);
                }
            } else {
                b = 1, Tb = an_src_window(data, s, all, T, in, tg, dom);
                if (boot) an_src_window_units(data, s, all, T, Tb, unit_base[s], units);
            }
            int N = b * Tb;
            for (int n = 0; n < N; n++) cls[n] = cls_tab[(long)dom[n] * V + in[n]];
            double t1 = ml_now();
            lm_forward(m, in, tg, dom, b, Tb, 0);
            t_fwd += ml_now() - t1;
            AnBatch bt = {m, in, tg, dom, cls, b, Tb, N, done, units};
            if (boot) docs_accumulate(&a.docs, &bt);
            if (o->only & AN_ROUTING) routing_accumulate(&a.routing, &bt);
            if (o->only & AN_SPECIALISE) specialise_accumulate(&a.spec, &bt);
            if (o->only & AN_TOPK)
                topk_accumulate_cosine(&a.topk, &bt), topk_accumulate_full(&a.topk, &bt);
            t1 = ml_now();
            if (o->only & AN_LENS) lens_accumulate(&a.lens, &bt);
            t_lens += ml_now() - t1;
            t1 = ml_now();
            if (o->only & AN_TOPK) topk_accumulate_kprime(&a.topk, &bt);
            t_kp += ml_now() - t1;
            done += N;
            if (!o->quiet) progress_update(&pr, done, NULL);
        }
    }
    if (!o->quiet) progress_end(&pr, NULL);
    double t_acc = ml_now() - t0 - t_fwd - t_kp - t_lens;
    int rc = 0;
    if (!rc && (o->only & AN_ROUTING)) rc = routing_write(&a.routing, o->out_dir, data->names);
    if (!rc && (o->only & AN_SPECIALISE)) rc = specialise_write(&a.spec, o->out_dir, data->names);
    if (!rc && (o->only & AN_TOPK)) rc = topk_write(&a.topk, o->out_dir, data->names);
    if (!rc && (o->only & AN_LENS)) rc = lens_write(&a.lens, o->out_dir, tok);
    if (!rc && boot) rc = docs_write(&a.docs, o->out_dir, data->names);
    if (!rc) {
        cJSON *j = meta;
        cJSON_AddNumberToObject(j, "tokens", (double)done);
        cJSON_AddNumberToObject(j, "window", T);
        cJSON *dn = cJSON_AddArrayToObject(j, "domains");
        for (int d = 0; d < D; d++) cJSON_AddItemToArray(dn, cJSON_CreateString(data->names[d]));
        cJSON *sec = cJSON_AddObjectToObject(j, "seconds");
        cJSON_AddNumberToObject(sec, "forward", t_fwd);
        cJSON_AddNumberToObject(sec, "accumulate", t_acc);
        cJSON_AddNumberToObject(sec, "lens", t_lens);
        cJSON_AddNumberToObject(sec, "kprime_forwards", t_kp);
        cJSON_AddNumberToObject(sec, "total", ml_now() - t0);
        cJSON_AddNumberToObject(j, "lens_tokens", (double)a.lens.n);
        cJSON_AddNumberToObject(j, "kprime_tokens", (double)a.topk.kp_done);
    }
    routing_free(&a.routing), specialise_free(&a.spec), topk_free(&a.topk), lens_free(&a.lens);
    docs_free(&a.docs), ml_free(units), ml_free(unit_base);
    ml_free(in), ml_free(tg), ml_free(dom), ml_free(cls), ml_free(cls_tab);
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

int analyze_lm(LmModel *m, const LmTok *tok, const AnalyzeData *data, const AnalyzeOptions *o) {
    int layers[64], L_moe = an_moe_layers(m, layers);
    if (L_moe == 0) return ml_error("analyze: the model has no MoE layer");
    if (ml_mkdir_p(o->out_dir)) return -1;
    cJSON *j = cJSON_CreateObject(), *ran = cJSON_AddArrayToObject(j, "analyses");
    for (int i = 0; i < AN_COUNT; i++)
        if (o->only & (1u << i)) cJSON_AddItemToArray(ran, cJSON_CreateString(an_names[i]));
    cJSON_AddNumberToObject(j, "moe_layers", L_moe);
    add_conventions(j, m, o);
    AnVocab voc;
    int rc = an_vocab_build(&voc, tok);
    if (rc) {
        cJSON_Delete(j);
        return -1;
    }
    if (o->only & AN_ALL) rc = analyze_stream(m, &voc, data, o, j);
    if (!rc && (o->only & AN_SENSITIVITY)) rc = analyze_sensitivity(m, tok, data, o, j);
    if (!rc) rc = an_write_json(o->out_dir, "analyze.json", j);
    cJSON_Delete(j);
    an_vocab_free(&voc);
    return rc;
}
