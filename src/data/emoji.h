/* The emoji concept set: a THINGS-like probe built from emojibase metadata, WordNet and up to
 * seven emoji image styles (docs/images.md). */
#pragma once
#include "data/images.h"
#include "data/wordnet.h"
#include <stdint.h>

enum {
    EMOJI_GOOGLE,
    EMOJI_TWITTER,
    EMOJI_OPENMOJI_COLOR,
    EMOJI_OPENMOJI_BLACK,
    EMOJI_FLUENT_MODERN,
    EMOJI_FLUENT_FLAT,
    EMOJI_FLUENT_HIGH_CONTRAST,
    EMOJI_N_STYLES
};
extern const char *const EMOJI_STYLE_NAMES[EMOJI_N_STYLES]; /* "google", "twitter", ... */
/* 1 for styles whose files are named by the slug of the CLDR name (Fluent: dog.svg), 0 for those
 * named by code points (1F415.svg). */
extern const int EMOJI_STYLE_BY_NAME[EMOJI_N_STYLES];

/* Fluent's file-name slug of a CLDR name: lower case, Latin-1 accents dropped, apostrophes
 * removed, every other run of non-alphanumerics one '-', none at either end ("Mrs. Claus" →
 * "mrs-claus", "piñata" → "pinata", "man’s shoe" → "mans-shoe"). A file slug.svg, else
 * slug-default.svg (the default skin tone), is the concept's image. */
void emoji_slug(const char *label, char *out, int cap);

/* Where the packages are. emoji_default_sources fills every path from one data folder; this is
 * the single place that knows the package layout. */
typedef struct {
    char *emojibase_json; /* npm/emojibase-data/package/en/data.json */
    char *groups_json;    /* npm/emojibase-data/package/meta/groups.json */
    char *style_dir[EMOJI_N_STYLES];
    char *wordnet_dir; /* deb/wordnet-base/usr/share/wordnet, else /usr/share/wordnet */
    char *cache_dir;   /* cache/emoji-svg: rendered SVGs (OpenMoji, Fluent) as PNGs */
} EmojiSources;
void emoji_default_sources(EmojiSources *src, const char *data_dir);
void emoji_sources_free(EmojiSources *src);

typedef struct {
    char *label, *hexcode, *group, *subgroup;
    int group_id, subgroup_id; /* indices into EmojiConcepts' name tables */
    int animate, living, fold_group;
    char *head;          /* WordNet lemma used ("" if none found) */
    const char *lexname; /* its lexicographer file ("animal"), or NULL */
    char **hypernyms;    /* head word of each synset up the chain, nearest first */
    int n_hypernyms;
    char **tags;
    int n_tags;
    char *image[EMOJI_N_STYLES]; /* source file per style (PNG or SVG), NULL if not wanted */
} EmojiConcept;

typedef struct {
    EmojiConcept *c;
    int n;
    char **groups, **subgroups; /* names of those used, in emojibase order */
    int n_groups, n_subgroups;
    int wordnet_mapped; /* concepts whose head noun was found */
} EmojiConcepts;

/* Joins emojibase (concrete groups only, no skin tones) with WordNet and with the image folders
 * of the styles in `use_style` (1 = needed): concepts lacking any needed style are dropped. */
int emoji_concepts_load(EmojiConcepts *ec, const EmojiSources *src, const int *use_style);
void emoji_concepts_free(EmojiConcepts *ec);

/* Binary concept × attribute matrix from tags ("tag:x") and hypernyms ("wn:x"), keeping
 * attributes that ≥ min_count concepts share. *X is [n, *n_attr] float (0/1); names ml_alloc'd. */
void emoji_attributes(const EmojiConcepts *ec, int min_count, float **X, char ***names,
                      int *n_attr);

/* Decodes one image per concept and style (train or held-out) into an ImageSet: level 0 group,
 * level 1 subgroup. SVGs are rendered once with rsvg-convert into src->cache_dir. */
typedef struct {
    int size;        /* output side (default 32 via emoji_default_build) */
    int render_size; /* SVG rendering side (64) */
    int train[EMOJI_N_STYLES], heldout[EMOJI_N_STYLES]; /* style selections */
    int random_bg;
    float background;
    uint64_t seed;
} EmojiBuild;
EmojiBuild emoji_default_build(void);
int emoji_images(ImageSet *set, const EmojiConcepts *ec, const EmojiSources *src,
                 const EmojiBuild *b);

/* Writes the whole prepared folder: the ImageSet, concepts.json/.csv, attributes.npy/.json and
 * (nmf_dims > 0) attributes_nmf.npy + attributes_nmf_basis.npy. */
int emoji_write(const char *dir, const ImageSet *set, const EmojiConcepts *ec, int min_count,
                int nmf_dims, uint64_t seed);
