/* Augmentations: deterministic per seed, in range, and each transform does what it says. */
#include "core/mem.h"
#include "data/augment.h"
#include "test.h"
#include <string.h>

static void ramp(float *img, int C, int S) {
    for (int c = 0; c < C; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                img[(c * S + y) * S + x] = (x + 0.5f * y + 3 * c) / (2.0f * S + 6);
}

TEST(augment_is_deterministic_and_in_range) {
    int C = 3, S = 16, n = 4;
    float *imgs = ml_alloc_floats(n * C * S * S), *a = ml_alloc_floats(2 * n * C * S * S),
          *b = ml_alloc_floats(2 * n * C * S * S);
    for (int i = 0; i < n; i++) ramp(imgs + i * C * S * S, C, S), imgs[i * C * S * S] = i * 0.2f;
    int32_t idx[4] = {3, 1, 0, 2};
    AugmentConfig cfg;
    augment_default(&cfg);
    cfg.blur_p = 0.5f;
    augment_pairs(a, imgs, idx, NULL, n, C, S, &cfg, 42, 7);
    augment_pairs(b, imgs, idx, NULL, n, C, S, &cfg, 42, 7);
    CHECK(memcmp(a, b, sizeof(float) * 2 * n * C * S * S) == 0);
    for (long i = 0; i < 2L * n * C * S * S; i++) CHECK(a[i] >= 0 && a[i] <= 1);
    /* the two views of an image differ; another step gives other views */
    CHECK(memcmp(a, a + C * S * S, sizeof(float) * C * S * S) != 0);
    augment_pairs(b, imgs, idx, NULL, n, C, S, &cfg, 42, 8);
    CHECK(memcmp(a, b, sizeof(float) * 2 * n * C * S * S) != 0);
    ml_free(imgs), ml_free(a), ml_free(b);
}

TEST(augment_identity_flip_and_grey) {
    int C = 3, S = 8;
    float img[3 * 64], out[3 * 64];
    ramp(img, C, S);
    AugmentConfig cfg = {.scale_min = 1, .scale_max = 1, .ratio_min = 1, .ratio_max = 1};
    augment_image(out, img, C, S, &cfg, 1); /* full crop, nothing else: identity */
    for (int i = 0; i < C * S * S; i++) CHECK_NEAR(out[i], img[i], 1e-6);
    cfg.flip_p = 1;
    augment_image(out, img, C, S, &cfg, 1);
    CHECK_NEAR(out[0], img[S - 1], 1e-6);
    CHECK_NEAR(out[2 * 64 + 3 * S + 2], img[2 * 64 + 3 * S + S - 3], 1e-6);
    cfg.flip_p = 0, cfg.grey_p = 1;
    augment_image(out, img, C, S, &cfg, 1);
    for (int i = 0; i < 64; i++) CHECK(out[i] == out[64 + i] && out[i] == out[128 + i]);
    CHECK_NEAR(out[5], 0.299f * img[5] + 0.587f * img[69] + 0.114f * img[133], 1e-6);
    /* brightness-only jitter scales every pixel by one factor */
    cfg = (AugmentConfig){.scale_min = 1,
                          .scale_max = 1,
                          .ratio_min = 1,
                          .ratio_max = 1,
                          .jitter_p = 1,
                          .brightness = 0.5f};
    augment_image(out, img, C, S, &cfg, 9);
    float f = out[10] / img[10];
    CHECK(f >= 0.5f && f <= 1.5f && f != 1.0f);
    for (int i = 1; i < C * S * S; i++)
        if (img[i] * f < 1) CHECK_NEAR(out[i], img[i] * f, 1e-5);
}
