/* Vision presets: each named preset validates on the emoji set's shape; unknown names are refused
 * with the list of known ones. */
#include "core/error.h"
#include "model/vision.h"
#include "test.h"
#include <string.h>

TEST(vision_presets_validate_and_unknown_is_refused) {
    const char *names[] = {"tiny", "small", "study"};
    for (int i = 0; i < 3; i++) {
        VisionConfig c;
        CHECK_MSG(vision_preset(&c, names[i]) == 0, "%s", names[i]);
        c.in_ch = 3, c.img = 32;
        CHECK_MSG(vision_config_validate(&c) == 0, "%s: %s", names[i], ml_errmsg());
    }
    VisionConfig s;
    vision_preset(&s, "study"); /* the study's model: 8 experts, top-2 */
    CHECK(s.n_experts == 8 && s.top_k == 2);
    CHECK(vision_preset(&s, "huge") == -1 && strstr(ml_errmsg(), "study"));
}
