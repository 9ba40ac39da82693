/* libFuzzer target: LM and vision config JSON (as from --config and checkpoint metadata). What
 * is accepted must pass validation, survive a JSON round trip unchanged, and be finite. */
#include "core/mem.h"
#include "model/lm_config.h"
#include "model/vision.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void lm_case(const char *json) {
    LmConfig c, back;
    lm_config_preset(&c, "tiny");
    if (lm_config_from_json(&c, json, "fuzz.json") || lm_config_finalize(&c)) return;
    if (!isfinite(c.lr) || !isfinite(c.rope_base) || !isfinite(c.norm_eps) || c.log_every < 1)
        abort();
    char *text = lm_config_to_json(&c);
    lm_config_preset(&back, "small");
    if (lm_config_from_json(&back, text, "round-trip") || lm_config_finalize(&back)) abort();
    char *again = lm_config_to_json(&back);
    if (strcmp(text, again)) abort();
    ml_free(text), ml_free(again);
}

static void vision_case(const char *json) {
    VisionConfig c, back;
    if (vision_config_from_json(&c, json)) return;
    if (!isfinite(c.lr) || !isfinite(c.tau)) abort();
    char *text = vision_config_to_json(&c);
    if (vision_config_from_json(&back, text)) abort();
    char *again = vision_config_to_json(&back);
    if (strcmp(text, again)) abort();
    ml_free(text), ml_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = malloc(size + 1);
    memcpy(json, data, size);
    json[size] = 0;
    lm_case(json);
    vision_case(json);
    free(json);
    return 0;
}
