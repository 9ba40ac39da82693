/* The MoE vocabulary (moe_kinds.h): name tables checked against the enums at compile time. */
#include "nn/moe_kinds.h"
#include "nn/moe_internal.h"
#include <stdio.h>
#include <string.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *const moe_router_names[] = {"learned", "random", "cosine", "hash",
                                        "domain",  "dense",  NULL};
const char *const moe_score_names[] = {"softmax_topk", "topk_softmax", "sigmoid", NULL};
const char *const moe_level_names[] = {"token", "seq_causal", "seq_mean", NULL};
const char *const moe_act_names[] = {"gelu", "swiglu", NULL};
const char *const moe_choice_names[] = {"token", "expert", NULL};

_Static_assert(COUNT(moe_router_names) == MOE_N_ROUTERS + 1, "one name per RouterKind");
_Static_assert(COUNT(moe_score_names) == MOE_N_SCORES + 1, "one name per ScoreOrder");
_Static_assert(COUNT(moe_level_names) == MOE_N_LEVELS + 1, "one name per RouteLevel");
_Static_assert(COUNT(moe_act_names) == MOE_N_ACTS + 1, "one name per ExpertAct");
_Static_assert(COUNT(moe_choice_names) == MOE_N_CHOICES + 1, "one name per RouteChoice");

int moe_kind_parse(const char *const *names, const char *name) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], name)) return i;
    return -1;
}

const char *moe_kind_name(const char *const *names, int n, int v) {
    return v >= 0 && v < n ? names[v] : "?";
}

const char *moe_router_name(RouterKind r) {
    return moe_kind_name(moe_router_names, MOE_N_ROUTERS, (int)r);
}

const char *moe_score_name(ScoreOrder s) {
    return moe_kind_name(moe_score_names, MOE_N_SCORES, (int)s);
}

int moe_router_is_scored(RouterKind r) {
    return (unsigned)r < (unsigned)MOE_N_ROUTERS && moe_routers[r].logits != NULL;
}

int moe_router_has_params(RouterKind r) {
    return (unsigned)r < (unsigned)MOE_N_ROUTERS && moe_routers[r].layout != NULL;
}

void moe_router_list(char *buf, size_t cap, int scored_only) {
    int pick[MOE_N_ROUTERS], n = 0;
    for (int r = 0; r < MOE_N_ROUTERS; r++)
        if (!scored_only || moe_router_is_scored((RouterKind)r)) pick[n++] = r;
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < n && at < cap; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        at += snprintf(buf + at, cap - at, "%s%s", sep, moe_router_names[pick[i]]);
    }
}
