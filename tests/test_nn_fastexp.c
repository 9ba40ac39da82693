#include "nn/fastexp.h"
#include "test.h"
#include <math.h>

/* Relative error against double exp on a dense grid of the range the softmax uses, plus the ends.
 */
TEST(nn_fast_expf_accuracy) {
    double worst = 0, worst_x = 0;
    for (int i = 0; i <= 2000000; i++) {
        float x = -87.0f + 175.0f * (float)i / 2000000.0f;
        double rel = fabs(fast_expf(x) - exp((double)x)) / exp((double)x);
        if (rel > worst) worst = rel, worst_x = x;
    }
    CHECK_MSG(worst < 3e-7, "fast_expf: worst relative error %.3g at x = %.9g", worst, worst_x);
    CHECK(fast_expf(0.0f) == 1.0f);
    CHECK(fast_expf(-1000.0f) == 0.0f);
    CHECK(fast_expf(-INFINITY) == 0.0f);
}
