/* Cross-style positive pairs: a partner shows the anchor's concept in another image, drawn
 * uniformly among the concept's other training images, with the asked probability. */
#include "model/vision_pairs.h"
#include "test.h"
#include <string.h>

/* 3 concepts: 0 in images {0, 3, 5, 6}, 1 in {1, 4}, 2 in {2} only; image 7 is held out. */
static void small_set(ImageSet *set, int32_t *concept) {
    int32_t c[8] = {0, 1, 2, 0, 1, 0, 0, 1};
    memcpy(concept, c, sizeof c);
    memset(set, 0, sizeof *set);
    set->n = 8, set->concept = concept, set->n_concepts = 3;
}

TEST(style_pairs_draw_other_images_of_the_concept) {
    ImageSet set;
    int32_t concept[8], train[7] = {0, 1, 2, 3, 4, 5, 6}, anchor[600], partner[600];
    small_set(&set, concept);
    StylePairs sp;
    CHECK(style_pairs_build(&sp, &set, train, 7) == 0);
    for (int k = 0; k < 600; k++) anchor[k] = k % 3 == 0 ? 0 : k % 3 == 1 ? 4 : 2;
    style_pairs_draw(&sp, &set, anchor, partner, 600, 1.0f, 5, 9);
    int seen[8] = {0};
    for (int k = 0; k < 600; k++) {
        CHECK(concept[partner[k]] == concept[anchor[k]] && partner[k] != 7);
        CHECK(anchor[k] == 2 ? partner[k] == 2 : partner[k] != anchor[k]);
        if (anchor[k] == 0) seen[partner[k]]++;
    }
    for (int i = 3; i <= 6; i++) /* 200 draws over {3, 5, 6}: each near 67 */
        if (i != 4) CHECK_MSG(seen[i] > 40 && seen[i] < 95, "image %d drawn %d times", i, seen[i]);
    int32_t again[600]; /* deterministic in (seed, step) */
    style_pairs_draw(&sp, &set, anchor, again, 600, 1.0f, 5, 9);
    CHECK(memcmp(partner, again, sizeof again) == 0);
    int kept = 0; /* p = 0.25: about three quarters keep their own image */
    style_pairs_draw(&sp, &set, anchor, partner, 600, 0.25f, 5, 10);
    for (int k = 0; k < 600; k++) kept += anchor[k] != 2 && partner[k] == anchor[k];
    CHECK_MSG(kept > 250 && kept < 350, "%d of 400 kept", kept);
    style_pairs_free(&sp);
}

TEST(style_pairs_need_concepts) {
    ImageSet set;
    memset(&set, 0, sizeof set);
    set.n = 2;
    int32_t train[2] = {0, 1};
    StylePairs sp;
    CHECK(style_pairs_build(&sp, &set, train, 2) != 0);
    style_pairs_free(&sp);
}
