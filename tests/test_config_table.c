/* The config-table engine (core/config_table.c) and the two configs that use it: aliases keep
 * old config.json files loading, a knob the LM and vision configs share has one name in both,
 * and values print as the user would write them. */
#include "core/config_table.h"
#include "core/error.h"
#include "core/mem.h"
#include "model/lm_config.h"
#include "model/vision.h"
#include "test.h"
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    int n;
    float eps;
    uint64_t seed;
    int mode;
} Toy;

static const char *const toy_modes[] = {"off", "on", NULL};
static const CfgField toy_fields[] = {
    {"n", CFG_INT, offsetof(Toy, n), NULL, "a count", "count", 3},
    {"eps", CFG_FLOAT, offsetof(Toy, eps), NULL, "an epsilon", NULL, 1e-5},
    {"seed", CFG_U64, offsetof(Toy, seed), NULL, "a seed", NULL, 1234},
    {"mode", CFG_ENUM, offsetof(Toy, mode), toy_modes, "a mode", NULL, 1},
};
static const CfgTable toy = {toy_fields, 4};

/* A row's default is what cfg_defaults sets, in the field's own type. */
TEST(config_table_defaults_come_from_the_rows) {
    Toy t = {-1, -1, 0, -1};
    cfg_defaults(&t, &toy);
    CHECK(t.n == 3 && t.eps == 1e-5f && t.seed == 1234 && t.mode == 1);
}

TEST(config_table_parses_aliases_ranges_and_prints_as_written) {
    Toy t = {0};
    CHECK(cfg_find(&toy, "count") == &toy_fields[0] && cfg_find(&toy, "n") == &toy_fields[0]);
    CHECK(cfg_find(&toy, "nope") == NULL);
    CHECK(cfg_set(&t, cfg_find(&toy, "count"), "7") == 0 && t.n == 7);
    CHECK(cfg_set(&t, &toy_fields[0], "2.5") != 0 && strstr(ml_errmsg(), "'n'"));
    CHECK(cfg_set(&t, &toy_fields[1], "1e-5") == 0);
    CHECK(cfg_set(&t, &toy_fields[3], "maybe") != 0 && strstr(ml_errmsg(), "off, on"));
    CHECK(cfg_set(&t, &toy_fields[3], "on") == 0 && t.mode == 1);
    char buf[64];
    cfg_text(&t, &toy_fields[1], buf, sizeof buf);
    CHECK_MSG(!strcmp(buf, "1e-05"), "eps prints as %s", buf);
    t.eps = 10000;
    cfg_text(&t, &toy_fields[1], buf, sizeof buf);
    CHECK_MSG(!strcmp(buf, "10000"), "10000 prints as %s", buf);
    const CfgRange r[] = {{"n", 1, 5, 0}};
    CHECK(cfg_check_ranges(&t, &toy, r, 1) != 0 && strstr(ml_errmsg(), "n=7"));
    /* JSON: an alias is read, the name is written; unknown keys refused unless skipped */
    cJSON *o = cJSON_Parse("{\"count\": 3, \"seed\": \"18446744073709551615\", \"x\": 1}");
    CHECK(cfg_from_json(&t, &toy, o, "toy.json", 0) != 0 && strstr(ml_errmsg(), "toy.json"));
    CHECK(cfg_from_json(&t, &toy, o, "toy.json", 1) == 0 && t.n == 3 && t.seed == UINT64_MAX);
    cJSON_Delete(o);
    o = cJSON_CreateObject();
    cfg_to_json(o, &toy, &t);
    CHECK(cJSON_GetObjectItem(o, "n") && !cJSON_GetObjectItem(o, "count"));
    cJSON_Delete(o);
}

/* A run trained before the vision config took the LM's names still loads. */
TEST(config_table_old_vision_config_json_loads) {
    VisionConfig c;
    const char *old = "{\"model\":\"vision\",\"noise_std\":0.5,\"aux_lb_coef\":0.25,"
                      "\"aux_z_coef\":0.003,\"n_experts\":6}";
    CHECK_MSG(vision_config_from_json(&c, old) == 0, "%s", ml_errmsg());
    CHECK(c.noise_std == 0.5f && c.aux_lb_coef == 0.25f && c.aux_z_coef == 0.003f);
    CHECK(c.n_experts == 6);
    char *json = vision_config_to_json(&c);
    CHECK(strstr(json, "\"router_noise\":0.5") && strstr(json, "\"aux_lb\":0.25"));
    CHECK(!strstr(json, "noise_std") && !strstr(json, "aux_lb_coef"));
    VisionConfig d;
    CHECK(vision_config_from_json(&d, json) == 0);
    char *again = vision_config_to_json(&d);
    CHECK_MSG(!strcmp(json, again), "%s\n%s", json, again);
    ml_free(json), ml_free(again);
    CHECK(vision_config_set(&c, "noise_std=0.125") == 0 && c.noise_std == 0.125f);
    CHECK(vision_config_set(&c, "router=hash") != 0 && strstr(ml_errmsg(), "router"));
}

/* The knobs both models have answer to the same name in both. */
TEST(config_table_shared_knobs_have_one_name) {
    const char *shared[] = {"router_noise=0.5", "aux_lb=0.02", "aux_z=0.002", "n_experts=4",
                            "top_k=1",          "renorm=1",    "cos_dim=8",   "router=cosine",
                            "batch=8",          "steps=10",    "warmup=2",    "lr=0.01",
                            "weight_decay=0",   "seed=3",      "eval_every=0"};
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++) {
        LmConfig l;
        VisionConfig v;
        lm_config_preset(&l, "tiny");
        vision_preset(&v, "tiny");
        CHECK_MSG(lm_config_set_kv(&l, shared[i]) == 0, "lm %s: %s", shared[i], ml_errmsg());
        CHECK_MSG(vision_config_set(&v, shared[i]) == 0, "vision %s: %s", shared[i], ml_errmsg());
    }
}
