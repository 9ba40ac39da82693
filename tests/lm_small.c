#include "lm_small.h"
#include <stdio.h>

void test_small_lm(LmModel *m, const char *router, int E, int k, int n_layer) {
    LmConfig c;
    lm_config_preset(&c, "tiny");
    char buf[32];
    lm_config_set(&c, "router", router);
    snprintf(buf, sizeof buf, "%d", E), lm_config_set(&c, "n_experts", buf);
    snprintf(buf, sizeof buf, "%d", k), lm_config_set(&c, "top_k", buf);
    snprintf(buf, sizeof buf, "%d", n_layer), lm_config_set(&c, "n_layer", buf);
    lm_config_set(&c, "d_model", "32"), lm_config_set(&c, "n_head", "2");
    lm_config_set(&c, "expert_hidden", "32");
    lm_config_set(&c, "vocab_size", "64"), lm_config_set(&c, "seq_len", "16");
    lm_config_finalize(&c);
    lm_create(m, &c, 0);
}
