/* Emoji concepts: emojibase metadata joined with image files and WordNet. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/emoji.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const EMOJI_STYLE_NAMES[EMOJI_N_STYLES] = {
    "google",        "twitter",     "openmoji-color",      "openmoji-black",
    "fluent-modern", "fluent-flat", "fluent-high-contrast"};
const int EMOJI_STYLE_BY_NAME[EMOJI_N_STYLES] = {0, 0, 0, 0, 1, 1, 1};

/* The package layout under the data folder (aligned with `moelens data fetch`). */
void emoji_default_sources(EmojiSources *s, const char *data) {
    memset(s, 0, sizeof *s);
    char buf[4096];
#define P(field, fmt)                                                                              \
    snprintf(buf, sizeof buf, fmt, data);                                                          \
    s->field = ml_strdup(buf)
    P(emojibase_json, "%s/npm/emojibase-data/package/en/data.json");
    P(groups_json, "%s/npm/emojibase-data/package/meta/groups.json");
    P(style_dir[EMOJI_GOOGLE], "%s/npm/emoji-datasource-google/package/img/google/64");
    P(style_dir[EMOJI_TWITTER], "%s/npm/emoji-datasource-twitter/package/img/twitter/64");
    P(style_dir[EMOJI_OPENMOJI_COLOR], "%s/npm/openmoji/package/color/svg");
    P(style_dir[EMOJI_OPENMOJI_BLACK], "%s/npm/openmoji/package/black/svg");
    P(style_dir[EMOJI_FLUENT_MODERN], "%s/npm/fluentui-emoji/package/icons/modern");
    P(style_dir[EMOJI_FLUENT_FLAT], "%s/npm/fluentui-emoji/package/icons/flat");
    P(style_dir[EMOJI_FLUENT_HIGH_CONTRAST], "%s/npm/fluentui-emoji/package/icons/high-contrast");
    P(wordnet_dir, "%s/deb/wordnet-base/usr/share/wordnet");
    P(cache_dir, "%s/cache/emoji-svg");
#undef P
    if (!ml_is_dir(s->wordnet_dir) && ml_is_dir("/usr/share/wordnet")) {
        ml_free(s->wordnet_dir);
        s->wordnet_dir = ml_strdup("/usr/share/wordnet");
    }
}

void emoji_sources_free(EmojiSources *s) {
    ml_free(s->emojibase_json), ml_free(s->groups_json), ml_free(s->wordnet_dir);
    ml_free(s->cache_dir);
    for (int k = 0; k < EMOJI_N_STYLES; k++) ml_free(s->style_dir[k]);
}

/* Not concrete objects: dropped whole groups and subgroups (one place to change the probe). */
static const char *DROP_GROUPS[] = {"smileys-emotion", "component", "symbols", "flags", NULL};
static const char *DROP_SUBGROUPS[] = {"hand-fingers-open",
                                       "hand-fingers-partial",
                                       "hand-single-finger",
                                       "hand-fingers-closed",
                                       "hands",
                                       "hand-prop",
                                       "body-parts",
                                       "family",
                                       "person-symbol",
                                       NULL};
/* Wrong or missing automatic WordNet senses: label → "lemma#sense". */
static const struct {
    const char *label, *sense;
} WORDNET_OVERRIDES[] = {
    /* sense 1 would be wrong or the label is not a WordNet lemma */
    {"t-rex", "tyrannosaur#1"},
    {"lady beetle", "ladybug#1"},
    {"hot dog", "hotdog#2"},
    {"cherries", "cherry#3"},
    {"blueberries", "blueberry#2"},
    {"locked", "lock#1"},
    {"unlocked", "lock#1"},
    {"foggy", "fog#1"},
    {"bullseye", "bull's eye#1"},
    {"moai", "statue#1"},
    {"locked with pen", "lock#1"},
    {"locked with key", "lock#1"},
    {"mouse", "mouse#1"},
    {"bat", "bat#1"},
    {NULL, NULL},
};

static int in_list(const char *s, const char **list) {
    for (; *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

/* ---- image files per style, keyed by upper-case code points without FE0F, or by name ---- */
typedef struct {
    char *key, *file;
} KeyFile;
typedef struct {
    KeyFile *kf;
    int n, by_name;
} StyleIndex;

static void hex_key(const char *hex, char *key, int cap) {
    int k = 0;
    for (const char *p = hex; *p && k < cap - 6;) {
        const char *dash = strchr(p, '-'), *end = dash ? dash : p + strcspn(p, ".");
        int len = (int)(end - p);
        if (!(len == 4 && !strncasecmp(p, "fe0f", 4))) {
            if (k) key[k++] = '-';
            for (int i = 0; i < len && k < cap - 1; i++) key[k++] = toupper(p[i]);
        }
        if (!dash || end != dash) break;
        p = dash + 1;
    }
    key[k] = 0;
}

/* Base letter of U+00C0..U+00FF ('-' for ×, ÷ and the like); ß → s, æ → a, þ → t. */
static const char LATIN1_BASE[] =
    "AAAAAAACEEEEIIIIDNOOOOO-OUUUUYTsaaaaaaaceeeeiiiidnooooo-ouuuuyty";

void emoji_slug(const char *label, char *out, int cap) {
    int k = 0, sep = 0;
    for (const unsigned char *p = (const unsigned char *)label; *p && k < cap - 2; p++) {
        int c = *p;
        if (c == '\'') continue;
        if (c == 0xE2 && p[1] == 0x80 && p[2] == 0x99) { /* U+2019 right single quote */
            p += 2;
            continue;
        }
        if (c == 0xC3 && p[1] >= 0x80 && p[1] <= 0xBF) /* U+00C0..U+00FF */
            c = LATIN1_BASE[*++p - 0x80];
        else if (c >= 0x80) { /* any other non-ASCII character separates words */
            while ((p[1] & 0xC0) == 0x80) p++;
            c = '-';
        }
        if (isalnum(c)) {
            if (sep && k) out[k++] = '-';
            out[k++] = (char)tolower(c), sep = 0;
        } else {
            sep = 1;
        }
    }
    out[k] = 0;
}

static int cmp_kf(const void *a, const void *b) {
    return strcmp(((const KeyFile *)a)->key, ((const KeyFile *)b)->key);
}

static int style_index(StyleIndex *si, const char *dir, int by_name) {
    si->n = 0, si->kf = NULL, si->by_name = by_name;
    DIR *d = opendir(dir);
    if (!d) return ml_error("%s: image folder missing (run `moelens data fetch`)", dir);
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name, *dot = strrchr(n, '.');
        if (n[0] == '.' || !dot || (strcmp(dot, ".png") && strcmp(dot, ".svg"))) continue;
        if (si->n == cap) si->kf = realloc(si->kf, sizeof(KeyFile) * (cap = cap ? 2 * cap : 4096));
        char key[256];
        if (by_name)
            snprintf(key, sizeof key, "%.*s", (int)(dot - n), n);
        else
            hex_key(n, key, sizeof key);
        si->kf[si->n++] = (KeyFile){ml_strdup(key), ml_path_join(dir, n)};
    }
    closedir(d);
    qsort(si->kf, si->n, sizeof(KeyFile), cmp_kf);
    return 0;
}

static const char *lookup(const StyleIndex *si, char *key) {
    KeyFile probe = {key, NULL};
    KeyFile *hit = bsearch(&probe, si->kf, si->n, sizeof(KeyFile), cmp_kf);
    return hit ? hit->file : NULL;
}

/* The concept's file: by code points, or by name slug (then slug-default, the default tone). */
static const char *style_find(const StyleIndex *si, const char *hexcode, const char *label) {
    char key[256];
    if (!si->by_name) {
        hex_key(hexcode, key, sizeof key);
        return lookup(si, key);
    }
    emoji_slug(label, key, sizeof key - 8);
    const char *hit = lookup(si, key);
    if (!hit) strcat(key, "-default"), hit = lookup(si, key);
    return hit;
}

static void style_free(StyleIndex *si) {
    for (int i = 0; i < si->n; i++) ml_free(si->kf[i].key), ml_free(si->kf[i].file);
    free(si->kf);
}

/* ---- WordNet head noun ---- */

/* Lexicographer files preferred for a subgroup's sense (first match wins, else sense 1). */
static void preferred_lex(const char *group, const char *sub, const char **pref) {
    pref[0] = pref[1] = NULL;
    if (!strncmp(sub, "animal-", 7))
        pref[0] = "animal";
    else if (!strncmp(sub, "plant-", 6))
        pref[0] = "plant";
    else if (!strncmp(sub, "person", 6))
        pref[0] = "person";
    else if (!strcmp(group, "food-drink") && strcmp(sub, "dishware"))
        pref[0] = "food", pref[1] = "plant";
    else if (!strcmp(sub, "sky-weather") || !strcmp(sub, "place-geographic"))
        pref[0] = "object", pref[1] = "phenomenon";
    else
        pref[0] = "artifact";
}

static long pick_sense(const WordNet *wn, const char *lemma, const char **pref) {
    int n = wordnet_senses(wn, lemma);
    for (int p = 0; p < 2 && pref[p]; p++)
        for (int s = 1; s <= n; s++) {
            long off = wordnet_synset(wn, lemma, s);
            const char *lex = wordnet_lexname(wn, off);
            if (lex && !strcmp(lex, pref[p])) return off;
        }
    return n ? wordnet_synset(wn, lemma, 1) : -1;
}

static int is_gender_word(const char *w) {
    static const char *G[] = {"man",  "woman", "person", "men", "women",  "people", "boy",  "girl",
                              "mrs.", "mx",    "santa",  "mr.", "facing", "right",  "left", NULL};
    return in_list(w, G);
}

/* Lower-cased label without gender words, facing direction and punctuation, e.g. "woman rowing
 * boat" → "rowing boat" (the fold key: concepts sharing it stay in one cross-validation fold). */
static void strip_gender(const char *label, char *out, int cap) {
    char buf[256], *save;
    snprintf(buf, sizeof buf, "%s", label);
    for (char *p = buf; *p; p++) *p = (*p == ':' || *p == ',') ? ' ' : tolower(*p);
    out[0] = 0;
    for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
        if (!is_gender_word(w)) {
            if (out[0]) strncat(out, " ", cap - strlen(out) - 1);
            strncat(out, w, cap - strlen(out) - 1);
        }
}

/* Tries a lemma, then without a plural "s". */
static long try_lemma(const WordNet *wn, const char *lemma, const char **pref, char *used) {
    long off = pick_sense(wn, lemma, pref);
    if (off < 0) {
        size_t n = strlen(lemma);
        char sing[256];
        if (n > 3 && lemma[n - 1] == 's' && n < sizeof sing) {
            memcpy(sing, lemma, n - 1), sing[n - 1] = 0;
            if (n > 4 && !strcmp(lemma + n - 3, "ies")) strcpy(sing + n - 3, "y"); /* cherries */
            if ((off = pick_sense(wn, sing, pref)) >= 0) strcpy(used, sing);
        }
    } else {
        strcpy(used, lemma);
    }
    return off;
}

static long head_synset(const WordNet *wn, const EmojiConcept *c, char *used) {
    const char *pref[2];
    preferred_lex(c->group, c->subgroup, pref);
    for (int i = 0; WORDNET_OVERRIDES[i].label; i++)
        if (!strcasecmp(WORDNET_OVERRIDES[i].label, c->label)) {
            char lemma[128];
            int sense = 1;
            snprintf(lemma, sizeof lemma, "%s", WORDNET_OVERRIDES[i].sense);
            char *hash = strchr(lemma, '#');
            if (hash) *hash = 0, sense = atoi(hash + 1);
            strcpy(used, lemma);
            return wordnet_synset(wn, lemma, sense);
        }
    char s[256];
    strip_gender(c->label, s, sizeof s);
    long off = s[0] ? try_lemma(wn, s, pref, used) : -1;
    int person = !strncmp(c->subgroup, "person", 6);
    const char *lex = off >= 0 ? wordnet_lexname(wn, off) : NULL;
    if (off >= 0 && (!person || (lex && !strcmp(lex, "person")))) return off; /* "police officer" */
    if (!strncmp(c->subgroup, "person", 6)) { /* "man rowing boat" is a man, not a boat */
        char words[260];
        snprintf(words, sizeof words, " %s ", c->label);
        for (char *p = words; *p; p++) *p = *p == ':' || *p == ',' ? ' ' : tolower(*p);
        const char *who = strstr(words, " woman ") ? "woman"
                          : strstr(words, " man ") ? "man"
                                                   : "person";
        return try_lemma(wn, who, pref, used);
    }
    if (!strcmp(c->subgroup, "time")) return try_lemma(wn, "clock", pref, used); /* clock faces */
    static const char *CUT[] = {" with ", " in ", " on ", " over ", " at ", " tilted", NULL};
    for (int k = 0; CUT[k]; k++) { /* "sunrise over mountains" → sunrise */
        char *cut = strstr(s, CUT[k]);
        if (cut) *cut = 0;
    }
    if ((off = try_lemma(wn, s, pref, used)) >= 0) return off;
    size_t n = strlen(s);
    if (n > 5 && !strcmp(s + n - 5, " face")) { /* "dog face" → dog */
        s[n - 5] = 0;
        if ((off = try_lemma(wn, s, pref, used)) >= 0) return off;
    }
    char *last = strrchr(s, ' '); /* English compounds: the head is the last word */
    if (last && (off = try_lemma(wn, last + 1, pref, used)) >= 0) return off;
    char *sp = strchr(s, ' ');
    if (sp) *sp = 0;
    return sp ? try_lemma(wn, s, pref, used) : -1;
}

static void attach_wordnet(const WordNet *wn, EmojiConcept *c) {
    char used[256] = "";
    long off = head_synset(wn, c, used);
    c->head = ml_strdup(off >= 0 ? used : "");
    if (off < 0) return;
    c->lexname = wordnet_lexname(wn, off);
    long chain[64];
    int n = wordnet_hypernym_chain(wn, off, chain, 64);
    c->hypernyms = ml_alloc(sizeof(char *) * (n + 1));
    for (int i = 0; i < n; i++) {
        char w[256];
        if (wordnet_head_word(wn, chain[i], w, sizeof w) == 0)
            c->hypernyms[c->n_hypernyms++] = ml_strdup(w);
    }
}

/* ---- joining ---- */

static char **json_names(const cJSON *obj, int *n) { /* {"0": "a", "1": "b"} → ["a", "b"] */
    *n = cJSON_GetArraySize(obj);
    char **names = ml_alloc(sizeof(char *) * (*n + 1));
    for (int i = 0; i < *n; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", i);
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, k));
        names[i] = ml_strdup(v ? v : "");
    }
    return names;
}

static cJSON *read_json(const char *path) {
    char *text;
    size_t len;
    if (ml_read_file(path, &text, &len)) {
        ml_error("%s: missing (run `moelens data fetch`)", path);
        return NULL;
    }
    cJSON *j = cJSON_Parse(text);
    ml_free(text);
    if (!j) ml_error("%s: invalid JSON", path);
    return j;
}

static int index_of(char **names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

static void add_concept(EmojiConcepts *ec, const cJSON *e, const char *group, const char *sub,
                        const char **files) {
    EmojiConcept *c = &ec->c[ec->n++];
    memset(c, 0, sizeof *c);
    c->label = ml_strdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "label")));
    c->hexcode = ml_strdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "hexcode")));
    c->group = ml_strdup(group), c->subgroup = ml_strdup(sub);
    c->animate = !strncmp(sub, "animal-", 7) || !strncmp(sub, "person", 6);
    c->living = c->animate || !strncmp(sub, "plant-", 6);
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(e, "tags");
    c->n_tags = cJSON_GetArraySize(tags);
    c->tags = ml_alloc(sizeof(char *) * (c->n_tags + 1));
    for (int t = 0; t < c->n_tags; t++) {
        const char *v = cJSON_GetStringValue(cJSON_GetArrayItem(tags, t));
        c->tags[t] = ml_strdup(v ? v : "");
    }
    for (int k = 0; k < EMOJI_N_STYLES; k++) c->image[k] = files[k] ? ml_strdup(files[k]) : NULL;
}

/* Dense ids for the groups/subgroups actually used, in emojibase order; fold groups. */
static void finish_tables(EmojiConcepts *ec, char **gn, int ngn, char **sn, int nsn) {
    ec->groups = ml_alloc(sizeof(char *) * (ngn + 1));
    ec->subgroups = ml_alloc(sizeof(char *) * (nsn + 1));
    for (int i = 0; i < ngn; i++)
        for (int c = 0; c < ec->n; c++)
            if (!strcmp(ec->c[c].group, gn[i])) {
                ec->groups[ec->n_groups++] = ml_strdup(gn[i]);
                break;
            }
    for (int i = 0; i < nsn; i++)
        for (int c = 0; c < ec->n; c++)
            if (!strcmp(ec->c[c].subgroup, sn[i])) {
                ec->subgroups[ec->n_subgroups++] = ml_strdup(sn[i]);
                break;
            }
    for (int c = 0; c < ec->n; c++) {
        EmojiConcept *x = &ec->c[c];
        x->group_id = index_of(ec->groups, ec->n_groups, x->group);
        x->subgroup_id = index_of(ec->subgroups, ec->n_subgroups, x->subgroup);
        char key[256], other[256];
        strip_gender(x->label, key, sizeof key);
        x->fold_group = c;
        for (int d = 0; d < c; d++) {
            strip_gender(ec->c[d].label, other, sizeof other);
            if (!strcmp(key, other) && !strcmp(ec->c[d].subgroup, x->subgroup)) {
                x->fold_group = ec->c[d].fold_group;
                break;
            }
        }
    }
}

int emoji_concepts_load(EmojiConcepts *ec, const EmojiSources *src, const int *use_style) {
    memset(ec, 0, sizeof *ec);
    cJSON *data = read_json(src->emojibase_json), *meta = data ? read_json(src->groups_json) : NULL;
    if (!meta) {
        cJSON_Delete(data);
        return -1;
    }
    if (!cJSON_IsArray(data)) {
        cJSON_Delete(data), cJSON_Delete(meta);
        return ml_error("%s: expected a JSON array of emoji", src->emojibase_json);
    }
    int ngn, nsn;
    char **gn = json_names(cJSON_GetObjectItemCaseSensitive(meta, "groups"), &ngn);
    char **sn = json_names(cJSON_GetObjectItemCaseSensitive(meta, "subgroups"), &nsn);
    cJSON_Delete(meta);
    StyleIndex si[EMOJI_N_STYLES] = {0};
    WordNet *wn = NULL;
    int rc = 0;
    for (int k = 0; k < EMOJI_N_STYLES && !rc; k++)
        if (use_style[k]) rc = style_index(&si[k], src->style_dir[k], EMOJI_STYLE_BY_NAME[k]);
    if (!rc) rc = wordnet_open(&wn, src->wordnet_dir);
    ec->c = ml_alloc(sizeof(EmojiConcept) * (cJSON_GetArraySize(data) + 1));
    const cJSON *e;
    cJSON_ArrayForEach(e, data) {
        if (rc) break;
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(e, "group");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "subgroup");
        const char *hex = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "hexcode"));
        const char *label = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "label"));
        if (!cJSON_IsNumber(g) || !cJSON_IsNumber(s) || !hex || !label || g->valueint < 0 ||
            g->valueint >= ngn || s->valueint < 0 || s->valueint >= nsn)
            continue;
        const char *group = gn[g->valueint], *sub = sn[s->valueint];
        if (in_list(group, DROP_GROUPS) || in_list(sub, DROP_SUBGROUPS)) continue;
        const char *files[EMOJI_N_STYLES] = {0};
        int ok = 1;
        for (int k = 0; k < EMOJI_N_STYLES; k++)
            if (use_style[k] && !(files[k] = style_find(&si[k], hex, label))) ok = 0;
        if (!ok) continue;
        add_concept(ec, e, group, sub, files);
        attach_wordnet(wn, &ec->c[ec->n - 1]);
        ec->wordnet_mapped += ec->c[ec->n - 1].head[0] != 0;
    }
    if (!rc) finish_tables(ec, gn, ngn, sn, nsn);
    if (!rc && !ec->n)
        rc = ml_error("%s: no concrete emoji with images in every chosen style",
                      src->emojibase_json);
    cJSON_Delete(data);
    wordnet_close(wn);
    for (int k = 0; k < EMOJI_N_STYLES; k++) style_free(&si[k]);
    for (int i = 0; i < ngn; i++) ml_free(gn[i]);
    for (int i = 0; i < nsn; i++) ml_free(sn[i]);
    ml_free(gn), ml_free(sn);
    if (rc) emoji_concepts_free(ec);
    return rc;
}

void emoji_concepts_free(EmojiConcepts *ec) {
    for (int i = 0; i < ec->n; i++) {
        EmojiConcept *c = &ec->c[i];
        ml_free(c->label), ml_free(c->hexcode), ml_free(c->group), ml_free(c->subgroup);
        ml_free(c->head);
        for (int k = 0; k < c->n_hypernyms; k++) ml_free(c->hypernyms[k]);
        for (int k = 0; k < c->n_tags; k++) ml_free(c->tags[k]);
        ml_free(c->hypernyms), ml_free(c->tags);
        for (int k = 0; k < EMOJI_N_STYLES; k++) ml_free(c->image[k]);
    }
    ml_free(ec->c);
    for (int i = 0; i < ec->n_groups; i++) ml_free(ec->groups[i]);
    for (int i = 0; i < ec->n_subgroups; i++) ml_free(ec->subgroups[i]);
    ml_free(ec->groups), ml_free(ec->subgroups);
    memset(ec, 0, sizeof *ec);
}
