/* Cross-style positive pairs (see vision_pairs.h). */
#include "model/vision_pairs.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/rng.h"
#include "data/augment.h"
#include <string.h>

int style_pairs_check(const ImageSet *set) {
    if (!set->concept || set->n_concepts <= 0)
        return ml_error("aug_pair_style: the image set names no concepts (expected a set with "
                        "concept.npy, such as the emoji set; set aug_pair_style=0 for other sets)");
    return 0;
}

int vision_style_labels_check(const ImageSet *set) {
    if (!set->style || set->n_styles < 1)
        return ml_error("gate_style_mi: the image set names no styles (expected a set with "
                        "style.npy, such as the emoji set; set gate_style_mi=0 for other sets)");
    return 0;
}

int style_pairs_build(StylePairs *sp, const ImageSet *set, const int32_t *train, int n) {
    memset(sp, 0, sizeof *sp);
    if (style_pairs_check(set) != 0) return -1;
    int nc = set->n_concepts;
    sp->start = ml_alloc(sizeof(int32_t) * ((size_t)nc + 1));
    sp->members = ml_alloc(sizeof(int32_t) * ((size_t)n + 1));
    for (int i = 0; i < n; i++) /* counting sort: counts, prefix sums, then place */
        if (set->concept[train[i]] >= 0) sp->start[set->concept[train[i]] + 1]++;
    for (int c = 0; c < nc; c++) sp->start[c + 1] += sp->start[c];
    int32_t *next = ml_alloc(sizeof(int32_t) * ((size_t)nc + 1));
    memcpy(next, sp->start, sizeof(int32_t) * (size_t)nc);
    for (int i = 0; i < n; i++) {
        int32_t c = set->concept[train[i]];
        if (c >= 0) sp->members[next[c]++] = train[i];
    }
    ml_free(next);
    return 0;
}

void style_pairs_free(StylePairs *sp) {
    ml_free(sp->start), ml_free(sp->members);
    memset(sp, 0, sizeof *sp);
}

/* A uniform draw among the concept's other members: draw from count − 1 slots and step over the
 * anchor's own slot. */
static int32_t other_member(const StylePairs *sp, int32_t concept, int32_t anchor, Rng *r) {
    int32_t lo = sp->start[concept], count = sp->start[concept + 1] - lo;
    if (count < 2) return anchor;
    int32_t j = lo + (int32_t)rng_below(r, (uint32_t)(count - 1));
    for (int32_t i = lo; i <= j; i++)
        if (sp->members[i] == anchor) return sp->members[j + 1];
    return sp->members[j];
}

void style_pairs_draw(const StylePairs *sp, const ImageSet *set, const int32_t *anchor,
                      int32_t *partner, int n, float p, uint64_t seed, uint64_t step) {
    for (int k = 0; k < n; k++) {
        Rng r; /* view 2: a stream of its own beside the two views' augmentation streams */
        rng_seed(&r, augment_view_seed(seed, step, (uint64_t)k, 2));
        int32_t c = set->concept[anchor[k]];
        partner[k] = c >= 0 && rng_uniform(&r) < p ? other_member(sp, c, anchor[k], &r) : anchor[k];
    }
}
