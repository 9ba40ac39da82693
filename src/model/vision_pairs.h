/* Cross-style positive pairs: which image a SimCLR pair's second view shows.
 *
 * SimCLR's positives are two augmentations of one image, so what it learns to ignore is what the
 * augmentations change (crop, colour, blur), not a drawing style. The emoji set shows each concept
 * in up to 7 styles; with probability p (aug_pair_style) the second view instead shows the same
 * concept drawn in another training style, a second "view" of the scene as in contrastive
 * multiview coding (Tian et al. 2020, arXiv 1906.05849). The labels used are the dataset's own
 * instance identity (which concept an image shows), never the groups the probes score. */
#pragma once
#include "data/images.h"
#include <stdint.h>

typedef struct StylePairs {
    int32_t *start;   /* [n_concepts + 1]: members[start[c] .. start[c+1]) show concept c */
    int32_t *members; /* [n_train]: training images ordered by concept (stable) */
} StylePairs;

/* 0 when the set names concepts; else a clear error (checked before a run writes anything). */
int style_pairs_check(const ImageSet *set);
/* 0 when the set gives each image a drawing style (gate_style_mi's labels); else a clear error. */
int vision_style_labels_check(const ImageSet *set);
/* Index the training images train[0..n) of set by concept. Fails (clear error) when the set
 * names no concepts. */
int style_pairs_build(StylePairs *sp, const ImageSet *set, const int32_t *train, int n);
void style_pairs_free(StylePairs *sp);
/* partner[k] for each of n anchors: with probability p another training image of anchor[k]'s
 * concept, drawn uniformly (the anchor itself when its concept has no other); else the anchor.
 * Deterministic in (seed, step, k). */
void style_pairs_draw(const StylePairs *sp, const ImageSet *set, const int32_t *anchor,
                      int32_t *partner, int n, float p, uint64_t seed, uint64_t step);
