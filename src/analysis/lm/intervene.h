/* Routing interventions on any model, own or GGUF (docs/analysis.md, "Routing interventions"):
 *   --top-k K (alias --route-k K)  every MoE layer routes to K experts instead of its own k
 *   --renorm 0|1                   raw or renormalised combine weights (default: the model's own)
 *   --mask L:E[,L:E...]            router logit of expert E in block L set to −∞ (never selected)
 *   --router-bias L:E=V[,...]      V added to that router logit
 *   --route-p P                    top-p: of the k picks, the fewest whose router mass reaches P
 *   --route-min M                  confidence threshold: picks after the first below mass M skipped
 * (top-p and the threshold skip experts: the skipped ones are not computed; MoeOverride, moe.h)
 * L is the model's block index (GGUF blk.L), E the expert index. Parsed once, validated against the
 * model, applied by `eval`, `sample` and `analyze` and recorded in their outputs. */
#pragma once
#include "model/lm.h"
#include <cjson/cJSON.h>
#include <stdio.h>

typedef struct {
    int layer, expert;
    float value; /* -INFINITY for a mask */
} InterventionTerm;

typedef struct {
    int top_k;    /* 0: the model's own */
    int renorm;   /* -1: the model's own; 0 raw, 1 renormalised */
    double top_p; /* 0: off; else in (0, 1] */
    double min_p; /* 0: off; else in (0, 1) */
    int n_terms, cap;
    InterventionTerm *terms;       /* masks and biases in the order given */
    int n_layer, ez;               /* set by intervene_apply */
    float *bias;                   /* [n_layer, ez] summed logit offsets (apply) */
    int model_top_k, model_renorm; /* the first MoE layer's own convention, before apply */
    MoeOverride *route;            /* [n_layer] what apply points the model's route at */
    double mean_k; /* > 0: experts run per token and MoE layer, measured (lm_mean_k): recorded */
} Intervention;

/* The --help lines of the options after --top-k (same in eval and analyze). */
void intervene_print_help(FILE *f);

void intervene_init(Intervention *iv);
void intervene_free(Intervention *iv);
/* 1 if opt is one of the options above (it takes one value). */
int intervene_is_option(const char *opt);
/* Parses one option's value; -1 + ml_error naming the option on a malformed value. */
int intervene_parse(Intervention *iv, const char *opt, const char *value);
/* Any intervention given? */
int intervene_active(const Intervention *iv);
/* Validates against the model (layer and expert ranges, MoE layers with a scored router, K ≤ the
 * layer's experts, at least K experts left unmasked, --renorm 0 on a top-k-then-softmax router)
 * — -1 + one ml_error naming the option — then points m->route at one MoeOverride per layer (the
 * model's configs stay its own; iv must outlive the model's use of it) and allocates the
 * activations for batches up to B×T (the MoE buffers hold K slots). */
int intervene_apply(Intervention *iv, LmModel *m, int B, int T);
/* The record for JSON outputs: {"top_k", "renorm", "route_p", "route_min", "mask": ["L:E"...],
 * "router_bias": [{"layer", "expert", "value"}...], "model_top_k", "model_renorm", "mean_k"};
 * NULL when nothing is active. */
cJSON *intervene_json(const Intervention *iv);
/* One human line ("routing intervention: top-k 1, mask 0:3, bias 1:2=+4"), into buf. */
void intervene_describe(const Intervention *iv, char *buf, size_t cap);
/* The routing convention of a layer's config, as named in analyze.json:
 * "softmax_topk", "topk_softmax" or "sigmoid". */
const char *intervene_score_name(int score);
