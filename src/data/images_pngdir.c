/* A folder tree of PNG images whose subfolders are the label hierarchy:
 * root/a/b/x.png → level 0 "a", level 1 "a/b". */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include "data/images.h"
#include "data/images_internal.h"
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char **rel; /* paths relative to root, e.g. "a/b/x.png" */
    int n, cap;
} PathList;

static int walk(const char *root, const char *rel, PathList *out) {
    char *dir = rel[0] ? ml_path_join(root, rel) : ml_strdup(root);
    DIR *d = opendir(dir);
    if (!d) {
        ml_error("%s: cannot open folder", dir);
        ml_free(dir);
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *r = rel[0] ? ml_path_join(rel, e->d_name) : ml_strdup(e->d_name);
        char *full = ml_path_join(root, r);
        if (ml_is_dir(full)) {
            rc = walk(root, r, out);
            ml_free(r);
        } else {
            size_t L = strlen(r);
            if (L > 4 && !strcasecmp(r + L - 4, ".png")) {
                if (out->n == out->cap) {
                    out->cap = out->cap ? out->cap * 2 : 256;
                    out->rel = realloc(out->rel, sizeof(char *) * out->cap);
                    if (!out->rel) ml_fatal("out of memory listing %s", root);
                }
                out->rel[out->n++] = r;
            } else {
                ml_free(r);
            }
        }
        ml_free(full);
    }
    closedir(d);
    ml_free(dir);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int folder_depth(const char *rel) {
    int d = 0;
    for (const char *p = rel; *p; p++) d += *p == '/';
    return d;
}

/* Label of `rel` at level l: its first l+1 folders ("a", "a/b"), or all of them if fewer. */
static char *level_label(const char *rel, int l) {
    const char *p = rel;
    int seen = 0;
    const char *end = NULL;
    for (; *p; p++)
        if (*p == '/') {
            end = p;
            if (++seen == l + 1) break;
        }
    return end ? strndup(rel, end - rel) : strdup(".");
}

/* Builds the class table of level l (sorted unique labels) and each image's id. */
static void build_level(ImageSet *set, int l, const PathList *pl) {
    char **labs = malloc(sizeof(char *) * pl->n), **uniq = malloc(sizeof(char *) * pl->n);
    for (int i = 0; i < pl->n; i++) uniq[i] = labs[i] = level_label(pl->rel[i], l);
    qsort(uniq, pl->n, sizeof(char *), cmp_str);
    int k = 0;
    for (int i = 0; i < pl->n; i++)
        if (!k || strcmp(uniq[i], uniq[k - 1])) uniq[k++] = uniq[i];
    set->level_names[l] = ml_strdup(l == 0 ? "folder" : "subfolder");
    if (l > 1) {
        char name[32];
        snprintf(name, sizeof name, "folder%d", l);
        ml_free(set->level_names[l]);
        set->level_names[l] = ml_strdup(name);
    }
    set->n_classes[l] = k;
    set->class_names[l] = ml_alloc(sizeof(char *) * (k + 1));
    for (int c = 0; c < k; c++) set->class_names[l][c] = ml_strdup(uniq[c]);
    for (int i = 0; i < pl->n; i++) {
        char **hit = bsearch(&labs[i], uniq, k, sizeof(char *), cmp_str);
        set->labels[(size_t)l * pl->n + i] = (int32_t)(hit - uniq);
    }
    for (int i = 0; i < pl->n; i++) free(labs[i]);
    free(labs), free(uniq);
}

static void background_for(const ImageLoadOpts *opts, int i, float bg[3]) {
    if (!opts->random_bg) {
        bg[0] = bg[1] = bg[2] = opts->background;
        return;
    }
    Rng r;
    rng_seed(&r, opts->seed * 0x9E3779B97F4A7C15ull + (uint64_t)i);
    for (int c = 0; c < 3; c++) bg[c] = rng_uniform(&r);
}

/* Decodes one PNG, composites it, and stores it (resized) as image i. */
int imageset_put_png(ImageSet *set, int i, const char *path, const float bg[3]) {
    uint8_t *rgba;
    int w, h;
    if (png_read_rgba(path, &rgba, &w, &h)) return -1;
    float *chw = ml_alloc_floats((size_t)3 * w * h), *sq = chw;
    image_composite_rgba(rgba, w, h, bg, chw);
    ml_free(rgba);
    int side = w;
    if (w != h) { /* non-square: stretch to the output square (documented) */
        side = set->size;
        sq = ml_alloc_floats((size_t)3 * side * side);
        image_resize_area(chw, 3, w, h, sq, side, side);
    }
    imageset_put(set, i, sq, 3, side);
    if (sq != chw) ml_free(sq);
    ml_free(chw);
    return 0;
}

int imageset_load_png_dir(ImageSet *set, const char *root, const ImageLoadOpts *opts) {
    ImageLoadOpts def = imageset_default_opts();
    if (!opts) opts = &def;
    PathList pl = {0};
    if (walk(root, "", &pl)) goto fail;
    if (!pl.n) {
        ml_error("%s: no .png images found (expected root/<class>/[<subclass>/]image.png)", root);
        goto fail;
    }
    qsort(pl.rel, pl.n, sizeof(char *), cmp_str);
    if (opts->max_images > 0 && pl.n > opts->max_images) {
        for (int i = opts->max_images; i < pl.n; i++) ml_free(pl.rel[i]);
        pl.n = opts->max_images;
    }
    int depth = 1;
    for (int i = 0; i < pl.n; i++)
        if (folder_depth(pl.rel[i]) > depth) depth = folder_depth(pl.rel[i]);
    int size = opts->size;
    if (size <= 0) { /* native size: the first image's width; the others are resized to it */
        char *first = ml_path_join(root, pl.rel[0]);
        uint8_t *rgba;
        int w, h, rc = png_read_rgba(first, &rgba, &w, &h);
        ml_free(first);
        if (rc) goto fail;
        ml_free(rgba);
        if (w != h) { /* a 16384×1 strip would make every image a 16384² square */
            ml_error("%s/%s: native size needs a square first image, got %dx%d (pass --size)", root,
                     pl.rel[0], w, h);
            goto fail;
        }
        size = w;
    }
    imageset_alloc(set, pl.n, opts->channels > 0 ? opts->channels : 3, size, depth);
    for (int l = 0; l < depth; l++) build_level(set, l, &pl);
    for (int i = 0; i < pl.n; i++) {
        char *path = ml_path_join(root, pl.rel[i]);
        float bg[3];
        background_for(opts, i, bg);
        int rc = imageset_put_png(set, i, path, bg);
        ml_free(path);
        if (rc) {
            imageset_free(set);
            goto fail;
        }
    }
    for (int i = 0; i < pl.n; i++) ml_free(pl.rel[i]);
    free(pl.rel);
    return 0;
fail:
    for (int i = 0; i < pl.n; i++) ml_free(pl.rel[i]);
    free(pl.rel);
    return -1;
}
