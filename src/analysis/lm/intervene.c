/* Routing interventions: parsing, validation against a model, application (intervene.h). */
#include "analysis/lm/intervene.h"
#include "core/error.h"
#include "core/mem.h"
#include "nn/moe_kinds.h"
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every option and its help (--top-k's help is the caller's: eval and analyze say more). */
static const struct {
    const char *name, *arg, *help;
} options[] = {
    {"--top-k", "K (or --route-k K)", NULL},
    {"--route-k", "K", NULL},
    {"--renorm", "0|1", "raw or renormalised combine weights (default: the model's)"},
    {"--mask", "L:E[,L:E...]", "router logit of expert E in block L set to -inf"},
    {"--router-bias", "L:E=V[,...]", "add V to that router logit"},
    {"--route-p", "P",
     "top-p routing: of the k picks, the fewest whose router mass\n"
     "reaches P (0 < P <= 1); the others are not computed"},
    {"--route-min", "M",
     "skip picks after the first whose router mass is below M\n"
     "(0 < M < 1); records mean_k, the experts run per token"},
};
enum { N_OPTIONS = (int)(sizeof options / sizeof options[0]) };

void intervene_print_help(FILE *f) {
    for (int i = 0; i < N_OPTIONS; i++) {
        if (!options[i].help) continue;
        char head[64];
        snprintf(head, sizeof head, "%s %s", options[i].name, options[i].arg);
        fprintf(f, "  %-26s  ", head);
        for (const char *c = options[i].help; *c; c++) { /* continuation lines under the text */
            if (*c == '\n')
                fprintf(f, "\n%30s", "");
            else
                fputc(*c, f);
        }
        fputc('\n', f);
    }
}

void intervene_init(Intervention *iv) {
    memset(iv, 0, sizeof *iv);
    iv->renorm = -1;
}

void intervene_free(Intervention *iv) {
    ml_free(iv->terms), ml_free(iv->bias), ml_free(iv->route);
    intervene_init(iv);
}

int intervene_is_option(const char *opt) {
    for (int i = 0; i < N_OPTIONS; i++)
        if (!strcmp(opt, options[i].name)) return 1;
    return 0;
}

int intervene_active(const Intervention *iv) {
    return iv->top_k > 0 || iv->renorm >= 0 || iv->n_terms > 0 || iv->top_p > 0 || iv->min_p > 0;
}

/* A router mass in (0, 1] (or, with open_top, in (0, 1)). */
static int parse_mass(const char *opt, const char *value, int open_top, double *out) {
    char *end;
    errno = 0;
    double x = strtod(value, &end);
    if (end == value || *end || errno || !(x > 0) || x > 1 || (open_top && x == 1))
        return ml_error("%s: expected a router mass in (0, 1%c, got '%s'", opt,
                        open_top ? ')' : ']', value);
    *out = x;
    return 0;
}

static int parse_int(const char *s, char **end, int *v) {
    if (!(*s >= '0' && *s <= '9')) return -1;
    errno = 0;
    long x = strtol(s, end, 10);
    if (errno || x > 1000000) return -1;
    *v = (int)x;
    return 0;
}

static void add_term(Intervention *iv, int l, int e, float v) {
    if (iv->n_terms == iv->cap) {
        int cap = iv->cap ? 2 * iv->cap : 8;
        InterventionTerm *t = ml_alloc(sizeof *t * cap);
        if (iv->n_terms) memcpy(t, iv->terms, sizeof *t * iv->n_terms);
        ml_free(iv->terms);
        iv->terms = t, iv->cap = cap;
    }
    iv->terms[iv->n_terms++] = (InterventionTerm){l, e, v};
}

/* "L:E[,L:E...]" (with_value 0) or "L:E=V[,...]" (with_value 1). */
static int parse_terms(Intervention *iv, const char *opt, const char *value, int with_value) {
    const char *want = with_value ? "L:E=V[,L:E=V...]" : "L:E[,L:E...]";
    const char *p = value;
    if (!*p) return ml_error("%s: expected %s, got an empty value", opt, want);
    while (*p) {
        char *end;
        int l, e;
        float v = -INFINITY;
        if (parse_int(p, &end, &l) || *end != ':' || parse_int(end + 1, &end, &e))
            return ml_error("%s: expected %s (non-negative integers), got '%s'", opt, want, value);
        if (with_value) {
            if (*end != '=') return ml_error("%s: expected %s, got '%s'", opt, want, value);
            char *vend;
            errno = 0;
            double x = strtod(end + 1, &vend);
            /* 1e39 is finite as a double but inf as a float: it would act as a mask */
            if (vend == end + 1 || errno || !isfinite(x) || fabs(x) > FLT_MAX)
                return ml_error(
                    "%s: expected a finite number (single precision) after '=', got '%s'", opt,
                    value);
            v = (float)x, end = vend;
        }
        if (*end && *end != ',') return ml_error("%s: expected %s, got '%s'", opt, want, value);
        add_term(iv, l, e, v);
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p) return ml_error("%s: trailing ',' in '%s'", opt, value);
    }
    return 0;
}

int intervene_parse(Intervention *iv, const char *opt, const char *value) {
    if (!strcmp(opt, "--top-k") || !strcmp(opt, "--route-k")) {
        char *end;
        if (parse_int(value, &end, &iv->top_k) || *end || iv->top_k < 1)
            return ml_error("%s: expected a positive integer (experts per token), got '%s'", opt,
                            value);
        return 0;
    }
    if (!strcmp(opt, "--renorm")) {
        if (strcmp(value, "0") && strcmp(value, "1"))
            return ml_error("--renorm: expected 0 (raw weights) or 1 (renormalised), got '%s'",
                            value);
        iv->renorm = value[0] - '0';
        return 0;
    }
    if (!strcmp(opt, "--route-p")) return parse_mass(opt, value, 0, &iv->top_p);
    if (!strcmp(opt, "--route-min")) return parse_mass(opt, value, 1, &iv->min_p);
    if (!strcmp(opt, "--mask")) return parse_terms(iv, opt, value, 0);
    if (!strcmp(opt, "--router-bias")) return parse_terms(iv, opt, value, 1);
    return ml_error("%s: not a routing intervention option", opt);
}

const char *intervene_score_name(int score) {
    return moe_score_name((ScoreOrder)score);
}

static int is_moe(const MoeConfig *f) {
    return f->router != ROUTER_DENSE;
}
static int has_logits(const MoeConfig *f) {
    return moe_router_is_scored(f->router);
}

/* Everything checked before the model is touched: one error naming the option. */
static int validate(const Intervention *iv, const LmModel *m) {
    int nl = m->cfg.n_layer, any = 0;
    for (int l = 0; l < nl; l++) {
        const MoeConfig *f = &m->layer_ffn[l];
        if (!is_moe(f)) continue;
        any = 1;
        int ez = f->n_experts + f->n_zero, k = iv->top_k ? iv->top_k : f->top_k;
        if (iv->top_k > ez)
            return ml_error("--top-k: %d exceeds layer %d's %d experts", iv->top_k, l, ez);
        if (iv->renorm == 0 && f->score == SCORE_TOPK_SOFTMAX)
            return ml_error("--renorm 0: layer %d weights its experts by a softmax over the k "
                            "picked logits (always normalised); raw weights do not exist there",
                            l);
        int masked = 0;
        for (int i = 0; i < iv->n_terms; i++) {
            const InterventionTerm *t = &iv->terms[i];
            if (t->layer != l || !isinf(t->value)) continue;
            int dup = 0;
            for (int j = 0; j < i; j++)
                dup |= iv->terms[j].layer == l && iv->terms[j].expert == t->expert &&
                       isinf(iv->terms[j].value);
            masked += !dup;
        }
        if (ez - masked < k)
            return ml_error("--mask: layer %d would keep %d unmasked experts, fewer than its "
                            "top-k %d",
                            l, ez - masked, k);
    }
    if (!any) return ml_error("routing interventions: the model has no MoE layer");
    for (int l = 0; l < nl && (iv->top_p > 0 || iv->min_p > 0); l++)
        if (is_moe(&m->layer_ffn[l]) && !has_logits(&m->layer_ffn[l]))
            return ml_error("%s: layer %d routes by a fixed rule (hash/domain): no router mass",
                            iv->top_p > 0 ? "--route-p" : "--route-min", l);
    for (int i = 0; i < iv->n_terms; i++) {
        const InterventionTerm *t = &iv->terms[i];
        const char *opt = isinf(t->value) ? "--mask" : "--router-bias";
        if (t->layer >= nl)
            return ml_error("%s: layer %d out of range 0..%d", opt, t->layer, nl - 1);
        const MoeConfig *f = &m->layer_ffn[t->layer];
        if (!is_moe(f)) return ml_error("%s: layer %d is a dense FFN (no router)", opt, t->layer);
        if (!has_logits(f))
            return ml_error("%s: layer %d routes by a fixed rule (hash/domain): no router logits",
                            opt, t->layer);
        int ez = f->n_experts + f->n_zero;
        if (t->expert >= ez)
            return ml_error("%s: expert %d out of range 0..%d in layer %d", opt, t->expert, ez - 1,
                            t->layer);
    }
    return 0;
}

int intervene_apply(Intervention *iv, LmModel *m, int B, int T) {
    if (validate(iv, m)) return -1;
    int nl = m->cfg.n_layer, first = 1;
    iv->n_layer = nl, iv->ez = 0;
    for (int l = 0; l < nl; l++) {
        const MoeConfig *f = &m->layer_ffn[l];
        if (!is_moe(f)) continue;
        if (first) iv->model_top_k = f->top_k, iv->model_renorm = f->renorm, first = 0;
        if (f->n_experts + f->n_zero > iv->ez) iv->ez = f->n_experts + f->n_zero;
    }
    ml_free(iv->bias), iv->bias = NULL;
    if (iv->n_terms) {
        iv->bias = ml_alloc_floats((long)nl * iv->ez);
        for (int i = 0; i < iv->n_terms; i++)
            iv->bias[(long)iv->terms[i].layer * iv->ez + iv->terms[i].expert] += iv->terms[i].value;
    }
    ml_free(iv->route);
    iv->route = ml_alloc(sizeof(MoeOverride) * (nl ? nl : 1));
    for (int l = 0; l < nl; l++) {
        iv->route[l] = MOE_OVERRIDE_NONE;
        if (!is_moe(&m->layer_ffn[l])) continue;
        iv->route[l] = (MoeOverride){.k = iv->top_k,
                                     .renorm = iv->renorm,
                                     .logit_bias = iv->bias ? iv->bias + (long)l * iv->ez : NULL,
                                     .top_p = (float)iv->top_p,
                                     .min_p = (float)iv->min_p};
    }
    m->route = iv->route;
    lm_alloc_acts(m, B, T); /* the MoE buffers hold the route's k */
    return 0;
}

cJSON *intervene_json(const Intervention *iv) {
    if (!intervene_active(iv)) return NULL;
    cJSON *j = cJSON_CreateObject();
    if (iv->top_k) cJSON_AddNumberToObject(j, "top_k", iv->top_k);
    if (iv->renorm >= 0) cJSON_AddNumberToObject(j, "renorm", iv->renorm);
    if (iv->top_p > 0) cJSON_AddNumberToObject(j, "route_p", iv->top_p);
    if (iv->min_p > 0) cJSON_AddNumberToObject(j, "route_min", iv->min_p);
    cJSON *mask = cJSON_AddArrayToObject(j, "mask"),
          *bias = cJSON_AddArrayToObject(j, "router_bias");
    for (int i = 0; i < iv->n_terms; i++) {
        const InterventionTerm *t = &iv->terms[i];
        if (isinf(t->value)) {
            char s[32];
            snprintf(s, sizeof s, "%d:%d", t->layer, t->expert);
            cJSON_AddItemToArray(mask, cJSON_CreateString(s));
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "layer", t->layer);
            cJSON_AddNumberToObject(o, "expert", t->expert);
            cJSON_AddNumberToObject(o, "value", t->value);
            cJSON_AddItemToArray(bias, o);
        }
    }
    if (iv->n_layer) {
        cJSON_AddNumberToObject(j, "model_top_k", iv->model_top_k);
        cJSON_AddNumberToObject(j, "model_renorm", iv->model_renorm);
    }
    if (iv->mean_k > 0) cJSON_AddNumberToObject(j, "mean_k", iv->mean_k);
    return j;
}

void intervene_describe(const Intervention *iv, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "routing intervention:");
#define ADD(...)                                                                                   \
    if (o < cap) o += (size_t)snprintf(buf + o, cap - o, __VA_ARGS__)
    if (iv->top_k) ADD(" top-k %d (model %d)", iv->top_k, iv->model_top_k);
    if (iv->renorm >= 0) ADD(" renorm %d", iv->renorm);
    if (iv->top_p > 0) ADD(" route-p %g", iv->top_p);
    if (iv->min_p > 0) ADD(" route-min %g", iv->min_p);
    for (int i = 0; i < iv->n_terms; i++) {
        const InterventionTerm *t = &iv->terms[i];
        if (isinf(t->value)) {
            ADD(" mask %d:%d", t->layer, t->expert);
        } else {
            ADD(" bias %d:%d=%+g", t->layer, t->expert, t->value);
        }
    }
    if (!intervene_active(iv)) ADD(" none");
#undef ADD
}
