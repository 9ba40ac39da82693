/* SimCLR-style image augmentations (Chen et al. 2020, §B.9 of arXiv 2002.05709), seeded and
 * deterministic: every view draws from its own random stream, derived from (seed, step, image,
 * view), so a batch comes out bit-identical whatever the thread count.
 * Images are [C, S, S] floats in [0, 1], C = 1 (grey) or 3 (RGB). Order: random resized crop
 * (bilinear, back to the output size) → horizontal flip → colour jitter (brightness, contrast,
 * saturation, hue, in that order, with probability jitter_p) → greyscale → Gaussian blur. */
#pragma once
#include <stdint.h>

typedef struct AugmentConfig {
    float scale_min, scale_max; /* crop area as a fraction of the image (0.2–1 small images) */
    float ratio_min, ratio_max; /* crop aspect ratio w/h (3/4–4/3) */
    float flip_p;               /* horizontal flip probability */
    float jitter_p;             /* probability of applying colour jitter */
    float brightness, contrast, saturation,
        hue;      /* factors in [1−b, 1+b]; hue: turns about the grey axis */
    float grey_p; /* random greyscale probability (RGB only) */
    float blur_p; /* Gaussian blur probability (0 = off) */
    float blur_sigma_min, blur_sigma_max; /* σ in pixels */
} AugmentConfig;

/* SimCLR's CIFAR settings with strength 0.5 and no blur. */
void augment_default(AugmentConfig *cfg);
/* The stream seed of one view. */
uint64_t augment_view_seed(uint64_t seed, uint64_t step, uint64_t image, int view);
/* out [C, S, S] = one augmented view of img [C, S, S]. */
void augment_image(float *out, const float *img, int C, int S, const AugmentConfig *cfg,
                   uint64_t view_seed);
/* Two views of each of n images: out rows 2k and 2k+1, each [C, S, S]; row 2k shows
 * images[index[k]], row 2k+1 images[partner[k]] (partner NULL: the same image). Both views' streams
 * derive from index[k]. OpenMP over views. */
void augment_pairs(float *out, const float *images, const int32_t *index, const int32_t *partner,
                   int n, int C, int S, const AugmentConfig *cfg, uint64_t seed, uint64_t step);
