/* The analysis registries: --only and the help come from the tables (names in run order). */
#include "analysis/lm/analyze.h"
#include "analysis/vision/vision_analyze.h"
#include "core/error.h"
#include "test.h"
#include <string.h>

TEST(analysis_registry_only_and_names) {
    unsigned m;
    CHECK(analyze_parse_only("lens,routing", &m) == 0 && m == (AN_LENS | AN_ROUTING));
    CHECK(analyze_parse_only("sensitivity,topk,specialise", &m) == 0 &&
          m == (AN_SENSITIVITY | AN_TOPK | AN_SPECIALISE));
    CHECK(analyze_parse_only("routing,nope", &m) == -1);
    CHECK_MSG(strstr(ml_errmsg(), "unknown analysis 'nope' (expected routing, specialise, topk, "
                                  "lens, sensitivity, prune)"),
              "%s", ml_errmsg());
    char buf[256];
    analyze_names(buf, sizeof buf);
    CHECK(!strcmp(buf, "routing, specialise, topk, lens, sensitivity, prune"));
    CHECK(vision_analyze_parse_only("rsa,gating", &m) == 0 && m == (VA_RSA | VA_GATING));
    CHECK(vision_analyze_parse_only("", &m) == -1);
    CHECK(vision_analyze_parse_only("gating,lens", &m) == -1);
    CHECK(strstr(ml_errmsg(), "unknown vision analysis 'lens'"));
    vision_analyze_names(buf, sizeof buf);
    CHECK(!strcmp(buf, "gating, separability, mei, tuning, rsa"));
}
