/* Emoji concept set on real fixture slices; WordNet hypernyms; NMF. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/emoji.h"
#include "data/nmf.h"
#include "data/wordnet.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

#define EFIX "tests/fixtures/images/emoji/"

static void fixture_sources(EmojiSources *s) {
    memset(s, 0, sizeof *s);
    s->emojibase_json = ml_strdup(EFIX "data.json");
    s->groups_json = ml_strdup(EFIX "groups.json");
    s->style_dir[EMOJI_GOOGLE] = ml_strdup(EFIX "google");
    s->style_dir[EMOJI_TWITTER] = ml_strdup(EFIX "twitter");
    s->style_dir[EMOJI_OPENMOJI_COLOR] = ml_strdup(EFIX "openmoji-color");
    s->style_dir[EMOJI_OPENMOJI_BLACK] = ml_strdup(EFIX "openmoji-black");
    s->style_dir[EMOJI_FLUENT_MODERN] = ml_strdup(EFIX "fluent-modern");
    s->style_dir[EMOJI_FLUENT_FLAT] = ml_strdup(EFIX "fluent-flat");
    s->style_dir[EMOJI_FLUENT_HIGH_CONTRAST] = ml_strdup(EFIX "fluent-high-contrast");
    s->wordnet_dir = ml_strdup(EFIX "wordnet");
    s->cache_dir = ml_path_join(test_tmpdir(), "svgcache");
}

static const EmojiConcept *find(const EmojiConcepts *ec, const char *label) {
    for (int i = 0; i < ec->n; i++)
        if (!strcmp(ec->c[i].label, label)) return &ec->c[i];
    return NULL;
}

TEST(wordnet_dog_hypernyms) {
    WordNet *wn;
    CHECK(wordnet_open(&wn, EFIX "wordnet") == 0);
    long dog = wordnet_synset(wn, "dog", 1);
    CHECK(dog == 2084071);
    CHECK(!strcmp(wordnet_lexname(wn, dog), "animal"));
    long chain[32];
    int n = wordnet_hypernym_chain(wn, dog, chain, 32);
    const char *want[] = {"canine",   "carnivore",       "placental", "mammal",       "vertebrate",
                          "chordate", "animal",          "organism",  "living thing", "whole",
                          "object",   "physical entity", "entity"};
    CHECK(n == 13);
    for (int i = 0; i < n && i < 13; i++) {
        char w[64];
        CHECK(wordnet_head_word(wn, chain[i], w, sizeof w) == 0);
        CHECK_MSG(!strcmp(w, want[i]), "hypernym %d: %s, expected %s", i, w, want[i]);
    }
    CHECK(wordnet_senses(wn, "Rowing Boat") == 1); /* case and spaces normalised */
    CHECK(wordnet_synset(wn, "no such noun", 1) == -1);
    wordnet_close(wn);
    CHECK(wordnet_open(&wn, "tests/fixtures/images/missing") == -1);
    CHECK(strstr(ml_errmsg(), "index.noun") != NULL);
}

TEST(emoji_concept_join_and_animacy) {
    EmojiSources src;
    fixture_sources(&src);
    int use[EMOJI_N_STYLES] = {1, 1, 0, 0};
    EmojiConcepts ec;
    CHECK(emoji_concepts_load(&ec, &src, use) == 0);
    CHECK(ec.n == 6); /* grinning face (smileys) is dropped */
    CHECK(find(&ec, "grinning face") == NULL);
    const EmojiConcept *dog = find(&ec, "dog"), *hammer = find(&ec, "hammer");
    const EmojiConcept *tree = find(&ec, "deciduous tree");
    CHECK(dog && hammer && tree);
    if (!dog || !hammer || !tree) return;
    CHECK(dog->animate == 1 && dog->living == 1 && !strcmp(dog->subgroup, "animal-mammal"));
    CHECK(hammer->animate == 0 && hammer->living == 0 && !strcmp(hammer->group, "objects"));
    CHECK(tree->animate == 0 && tree->living == 1 && !strcmp(tree->head, "tree")); /* last word */
    CHECK(!strcmp(dog->head, "dog") && dog->n_hypernyms == 13);
    CHECK(!strcmp(hammer->lexname, "artifact"));
    CHECK(strstr(dog->image[EMOJI_GOOGLE], "1f415.png") && !dog->image[EMOJI_OPENMOJI_COLOR]);
    /* man/woman/person rowing boat share one fold group, and are animate persons */
    const EmojiConcept *m = find(&ec, "man rowing boat"), *w = find(&ec, "woman rowing boat");
    const EmojiConcept *p = find(&ec, "person rowing boat");
    CHECK(m && w && p && m->fold_group == w->fold_group && w->fold_group == p->fold_group);
    CHECK(m && m->animate && !strcmp(m->head, "man"));
    CHECK(dog->fold_group != hammer->fold_group);
    /* attributes: tags and hypernyms, pruned to those that >= 3 concepts share */
    float *X;
    char **names;
    int na;
    emoji_attributes(&ec, 3, &X, &names, &na);
    int boat = -1, org = -1;
    for (int a = 0; a < na; a++) {
        if (!strcmp(names[a], "tag:boat")) boat = a;
        if (!strcmp(names[a], "wn:organism")) org = a;
    }
    CHECK(boat >= 0 && org >= 0);
    int dog_i = (int)(dog - ec.c), ham_i = (int)(hammer - ec.c);
    if (org >= 0) CHECK(X[dog_i * na + org] == 1 && X[ham_i * na + org] == 0);
    for (int a = 0; a < na; a++) ml_free(names[a]);
    ml_free(names), ml_free(X);
    emoji_concepts_free(&ec);
    emoji_sources_free(&src);
}

/* Fluent names its files by the slug of the CLDR name (constructed labels with every rule). */
TEST(emoji_slug_rules) {
    static const char *cases[][2] = {
        {"dog", "dog"},
        {"Mrs. Claus", "mrs-claus"},
        {"person: blond hair", "person-blond-hair"},
        {"pi\xc3\xb1"
         "ata",
         "pinata"},                             /* ñ → n */
        {"man\xe2\x80\x99s shoe", "mans-shoe"}, /* ’ removed, not a separator */
        {"flag: St. Barth\xc3\xa9lemy", "flag-st-barthelemy"},
        {"  A&B -- c  ", "a-b-c"}, /* runs collapse, none at the ends */
        {"1st place medal", "1st-place-medal"},
        {"x\xe2\x86\x92y", "x-y"}, /* other non-ASCII separates */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        emoji_slug(cases[i][0], out, sizeof out);
        CHECK_MSG(!strcmp(out, cases[i][1]), "slug('%s') = '%s', expected '%s'", cases[i][0], out,
                  cases[i][1]);
    }
    char small[6];
    emoji_slug("abcdefghij", small, sizeof small); /* truncated, still terminated */
    CHECK(strlen(small) < sizeof small);
}

/* Fluent styles are matched by name: dog.svg directly, the rowing boats via -default.svg. */
TEST(emoji_fluent_styles_matched_by_slug) {
    EmojiSources src;
    fixture_sources(&src);
    int use[EMOJI_N_STYLES] = {0};
    use[EMOJI_FLUENT_MODERN] = use[EMOJI_FLUENT_FLAT] = use[EMOJI_FLUENT_HIGH_CONTRAST] = 1;
    EmojiConcepts ec;
    CHECK(emoji_concepts_load(&ec, &src, use) == 0);
    CHECK(ec.n == 6);
    const EmojiConcept *dog = find(&ec, "dog"), *man = find(&ec, "man rowing boat");
    CHECK(dog && man);
    if (dog && man) {
        CHECK(strstr(dog->image[EMOJI_FLUENT_FLAT], "fluent-flat/dog.svg") != NULL);
        CHECK(strstr(man->image[EMOJI_FLUENT_MODERN], "man-rowing-boat-default.svg") != NULL);
        CHECK(!dog->image[EMOJI_GOOGLE]);
    }
    emoji_concepts_free(&ec);
    emoji_sources_free(&src);
}

TEST(emoji_images_styles_and_prepared_folder) {
    EmojiSources src;
    fixture_sources(&src);
    EmojiBuild b = emoji_default_build(); /* train google, twitter, Fluent; hold out OpenMoji */
    b.size = 16;
    int use[EMOJI_N_STYLES] = {1, 1, 1, 1, 1, 1, 1};
    EmojiConcepts ec;
    ImageSet set, back;
    CHECK(emoji_concepts_load(&ec, &src, use) == 0);
    CHECK(emoji_images(&set, &ec, &src, &b) == 0); /* renders SVGs with rsvg-convert */
    CHECK(set.n == ec.n * 7 && set.size == 16 && set.n_styles == 7 && set.n_levels == 2);
    int held = 0;
    for (int i = 0; i < set.n; i++) held += set.split[i] == IMAGESET_HELDOUT;
    CHECK(held == ec.n * 2);
    CHECK(!strcmp(set.style_names[set.style[2]], "openmoji-color") && set.split[2] == 1);
    float lo = 1, hi = 0; /* images are not blank */
    for (int k = 0; k < 3 * 16 * 16; k++) {
        float v = set.pixels[2 * 3 * 16 * 16 + k];
        lo = v < lo ? v : lo, hi = v > hi ? v : hi;
    }
    CHECK(hi - lo > 0.3f);
    char *dir = ml_path_join(test_tmpdir(), "emoji-prepared");
    CHECK(emoji_write(dir, &set, &ec, 3, 2, 1) == 0);
    CHECK(imageset_load(&back, dir) == 0);
    CHECK(back.n == set.n && back.n_concepts == ec.n && back.n_styles == 7);
    CHECK(!strcmp(back.style_names[6], "fluent-high-contrast"));
    int dog = -1;
    for (int c = 0; c < back.n_concepts; c++)
        if (!strcmp(back.concept_names[c], "dog")) dog = c;
    CHECK(dog >= 0 && back.animate[dog] == 1 && back.living[dog] == 1);
    const char *extras[] = {"concepts.json",   "concepts.csv",       "attributes.npy",
                            "attributes.json", "attributes_nmf.npy", NULL};
    for (int k = 0; extras[k]; k++) {
        char *p = ml_path_join(dir, extras[k]);
        CHECK_MSG(ml_file_exists(p), "%s missing", p);
        ml_free(p);
    }
    imageset_free(&back), imageset_free(&set);
    /* a style that is both trained and held out is refused */
    b.heldout[EMOJI_GOOGLE] = 1;
    CHECK(emoji_images(&set, &ec, &src, &b) == -1 && strstr(ml_errmsg(), "google"));
    ml_free(dir);
    emoji_concepts_free(&ec);
    emoji_sources_free(&src);
}

TEST(nmf_error_decreases_factors_nonnegative) {
    int n = 30, m = 20, k = 4;
    float *X = ml_alloc_floats(n * m), *W = ml_alloc_floats(n * k), *H = ml_alloc_floats(k * m);
    unsigned s = 7;
    for (int i = 0; i < n * m; i++) X[i] = (s = s * 1103515245u + 12345u) >> 30 == 0 ? 1.0f : 0.0f;
    double err[50];
    nmf_fit(X, n, m, k, 50, 3, W, H, err);
    for (int i = 1; i < 50; i++) CHECK_MSG(err[i] <= err[i - 1] * (1 + 1e-5), "it %d rose", i);
    CHECK(err[49] < 0.9 * err[0]);
    for (int i = 0; i < n * k; i++) CHECK(W[i] >= 0);
    for (int i = 0; i < k * m; i++) CHECK(H[i] >= 0);
    /* an exactly rank-k non-negative matrix is fitted closely */
    float *W0 = ml_alloc_floats(n * k), *H0 = ml_alloc_floats(k * m);
    for (int i = 0; i < n * k; i++) W0[i] = (i * 37 % 11) / 10.0f;
    for (int i = 0; i < k * m; i++) H0[i] = (i * 13 % 7) / 6.0f;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            float v = 0;
            for (int r = 0; r < k; r++) v += W0[i * k + r] * H0[r * m + j];
            X[i * m + j] = v;
        }
    double e = nmf_fit(X, n, m, k, 500, 1, W, H, NULL), norm = 0;
    for (int i = 0; i < n * m; i++) norm += X[i] * X[i];
    CHECK_MSG(e < 0.05 * sqrt(norm), "relative error %g", e / sqrt(norm));
    ml_free(X), ml_free(W), ml_free(H), ml_free(W0), ml_free(H0);
}
