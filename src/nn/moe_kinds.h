/* The MoE vocabulary: one name per router, score order, routing level, expert activation and
 * routing choice, in
 * enum order, shared by every config file, JSON record, export check and CLI message. Adding a
 * router: its enum value (moe.h), its name below (moe_kinds.c) and its row in moe_routers.c. */
#pragma once
#include "nn/moe.h"
#include <stddef.h>

#define MOE_N_ROUTERS ((int)ROUTER_DENSE + 1)
#define MOE_N_SCORES ((int)SCORE_SIGMOID + 1)
#define MOE_N_LEVELS ((int)ROUTE_SEQ_MEAN + 1)
#define MOE_N_ACTS ((int)EXPERT_SWIGLU + 1)
#define MOE_N_CHOICES ((int)CHOICE_EXPERT + 1)

/* Names in enum order, NULL-terminated (config tables take them as the choices of a field). */
extern const char *const moe_router_names[MOE_N_ROUTERS + 1];
extern const char *const moe_score_names[MOE_N_SCORES + 1];
extern const char *const moe_level_names[MOE_N_LEVELS + 1];
extern const char *const moe_act_names[MOE_N_ACTS + 1];
extern const char *const moe_choice_names[MOE_N_CHOICES + 1];

/* Index of name in a NULL-terminated table, or -1. */
int moe_kind_parse(const char *const *names, const char *name);
/* names[v], or "?" when v is out of range. */
const char *moe_kind_name(const char *const *names, int n, int v);
const char *moe_router_name(RouterKind r);
const char *moe_score_name(ScoreOrder s);

/* The router computes logits from the hidden state: it has scores, auxiliary-loss gradients, and
 * accepts masks and biases (learned, random, cosine). */
int moe_router_is_scored(RouterKind r);
/* The router owns parameters in the layer's block (learned, random, cosine). */
int moe_router_has_params(RouterKind r);
/* "learned, random or cosine": the routers with scored == 1 (or every router), into buf. */
void moe_router_list(char *buf, size_t cap, int scored_only);
