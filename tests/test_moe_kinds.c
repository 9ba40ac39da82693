/* The MoE vocabulary and the router table: every router has a name that parses back, and a row
 * that is complete for its kind (a new router that forgets a hook fails here). */
#include "nn/moe_internal.h"
#include "test.h"
#include <string.h>

TEST(moe_kinds_names_round_trip) {
    const char *const *tables[] = {moe_router_names, moe_score_names, moe_level_names,
                                   moe_act_names};
    const int counts[] = {MOE_N_ROUTERS, MOE_N_SCORES, MOE_N_LEVELS, MOE_N_ACTS};
    for (int t = 0; t < 4; t++) {
        for (int v = 0; v < counts[t]; v++) {
            CHECK(tables[t][v] != NULL);
            CHECK(moe_kind_parse(tables[t], tables[t][v]) == v);
            CHECK(!strcmp(moe_kind_name(tables[t], counts[t], v), tables[t][v]));
        }
        CHECK(tables[t][counts[t]] == NULL);
        CHECK(moe_kind_parse(tables[t], "no-such-kind") == -1);
        CHECK(!strcmp(moe_kind_name(tables[t], counts[t], counts[t]), "?"));
    }
    CHECK(!strcmp(moe_router_name(ROUTER_COSINE), "cosine"));
    CHECK(!strcmp(moe_score_name(SCORE_TOPK_SOFTMAX), "topk_softmax"));
}

TEST(moe_router_rows_are_complete_for_their_kind) {
    for (int r = 0; r < MOE_N_ROUTERS; r++) {
        const MoeRouter *row = &moe_routers[r];
        int scored = moe_router_is_scored((RouterKind)r);
        CHECK_MSG(scored == (row->logits != NULL), "router %s", moe_router_names[r]);
        CHECK_MSG(scored == (row->backward != NULL), "router %s: logits need a backward",
                  moe_router_names[r]);
        CHECK_MSG(scored != (row->first != NULL), "router %s: logits or a fixed rule, not both",
                  moe_router_names[r]);
        CHECK_MSG(moe_router_has_params((RouterKind)r) == (row->layout != NULL), "router %s",
                  moe_router_names[r]);
        CHECK_MSG(!row->layout == !row->init, "router %s: parameters need an init",
                  moe_router_names[r]);
        /* the parameter count a router adds is what its layout takes */
        MoeConfig cfg = {.d_model = 4, .n_experts = 1, .top_k = 1, .cos_dim = 2, .router = r};
        MoeConfig none = cfg;
        none.router = ROUTER_DENSE;
        CHECK(moe_validate(&cfg) == 0);
        CHECK_MSG((moe_num_params(&cfg) > moe_num_params(&none)) == (row->layout != NULL),
                  "router %s", moe_router_names[r]);
    }
    CHECK(!moe_router_is_scored((RouterKind)MOE_N_ROUTERS));
    char buf[128];
    moe_router_list(buf, sizeof buf, 1);
    CHECK(!strcmp(buf, "learned, random or cosine"));
    moe_router_list(buf, sizeof buf, 0);
    CHECK(!strcmp(buf, "learned, random, cosine, hash, domain or dense"));
}
