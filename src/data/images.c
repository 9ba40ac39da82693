/* ImageSet lifetime, selection, and the loader that detects what a path holds. */
#include "data/images.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/images_internal.h"
#include <dirent.h>
#include <stdio.h>
#include <string.h>

ImageLoadOpts imageset_default_opts(void) {
    ImageLoadOpts o = {0};
    o.background = 0.5f;
    return o;
}

void imageset_alloc(ImageSet *set, int n, int channels, int size, int n_levels) {
    memset(set, 0, sizeof *set);
    set->n = n, set->channels = channels, set->size = size, set->n_levels = n_levels;
    int64_t dims[4] = {n, channels, size, size};
    size_t count;
    if (n < 0 || ml_shape_bytes(dims, 4, 1, &count))
        ml_fatal("out of memory: %d images of %dx%dx%d", n, channels, size, size);
    set->pixels = ml_alloc_floats(count + 1);
    set->labels = ml_alloc(sizeof(int32_t) * ((size_t)n_levels * n + 1));
    set->split = ml_alloc(sizeof(int32_t) * ((size_t)n + 1));
    set->n_classes = ml_alloc(sizeof(int) * n_levels);
    set->class_names = ml_alloc(sizeof(char **) * n_levels);
    set->level_names = ml_alloc(sizeof(char *) * n_levels);
}

void imageset_set_level(ImageSet *set, int l, const char *name, int n_classes) {
    set->level_names[l] = ml_strdup(name);
    set->n_classes[l] = n_classes;
    set->class_names[l] = ml_alloc(sizeof(char *) * (n_classes + 1));
    for (int k = 0; k < n_classes; k++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", k);
        set->class_names[l][k] = ml_strdup(buf);
    }
}

void imageset_put(ImageSet *set, int i, const float *chw, int channels, int side) {
    int C = set->channels, S = set->size;
    size_t plane = (size_t)side * side;
    float *conv = NULL;
    const float *src = chw;
    if (channels != C) { /* grey → RGB repeats; RGB → grey averages */
        conv = ml_alloc_floats((size_t)C * plane);
        for (size_t p = 0; p < plane; p++) {
            float g = 0;
            for (int c = 0; c < channels; c++) g += chw[c * plane + p];
            g /= channels;
            for (int c = 0; c < C; c++) conv[c * plane + p] = channels == 1 ? chw[p] : g;
        }
        src = conv;
    }
    float *dst = set->pixels + (size_t)i * C * S * S;
    if (side == S)
        memcpy(dst, src, sizeof(float) * C * plane);
    else
        image_resize_area(src, C, side, side, dst, S, S);
    ml_free(conv);
}

char **strings_copy(char *const *src, int n) {
    if (!src) return NULL;
    char **s = ml_alloc(sizeof(char *) * (n + 1));
    for (int i = 0; i < n; i++) s[i] = ml_strdup(src[i]);
    return s;
}

void strings_free(char **s, int n) {
    if (!s) return;
    for (int i = 0; i < n; i++) ml_free(s[i]);
    ml_free(s);
}

void imageset_free(ImageSet *set) {
    ml_free(set->pixels), ml_free(set->labels), ml_free(set->split);
    for (int l = 0; l < set->n_levels; l++) {
        if (set->class_names) strings_free(set->class_names[l], set->n_classes[l]);
        if (set->level_names) ml_free(set->level_names[l]);
    }
    ml_free(set->class_names), ml_free(set->level_names), ml_free(set->n_classes);
    ml_free(set->concept), ml_free(set->animate), ml_free(set->living), ml_free(set->fold_group);
    strings_free(set->concept_names, set->n_concepts);
    ml_free(set->style);
    strings_free(set->style_names, set->n_styles);
    memset(set, 0, sizeof *set);
}

static void *copy_bytes(const void *src, size_t n) {
    if (!src) return NULL;
    void *d = ml_alloc(n + 1);
    memcpy(d, src, n);
    return d;
}

void imageset_select(const ImageSet *set, const int *idx, int m, ImageSet *out) {
    imageset_alloc(out, m, set->channels, set->size, set->n_levels);
    size_t img = (size_t)set->channels * set->size * set->size;
    for (int l = 0; l < set->n_levels; l++) {
        out->level_names[l] = ml_strdup(set->level_names[l]);
        out->n_classes[l] = set->n_classes[l];
        out->class_names[l] = strings_copy(set->class_names[l], set->n_classes[l]);
    }
    if (set->concept) out->concept = ml_alloc(sizeof(int32_t) * (m + 1));
    if (set->style) out->style = ml_alloc(sizeof(int32_t) * (m + 1));
    for (int j = 0; j < m; j++) {
        int i = idx[j];
        memcpy(out->pixels + j * img, set->pixels + i * img, sizeof(float) * img);
        for (int l = 0; l < set->n_levels; l++)
            out->labels[(size_t)l * m + j] = set->labels[(size_t)l * set->n + i];
        out->split[j] = set->split[i];
        if (set->concept) out->concept[j] = set->concept[i];
        if (set->style) out->style[j] = set->style[i];
    }
    int nc = out->n_concepts = set->n_concepts;
    out->concept_names = strings_copy(set->concept_names, nc);
    out->animate = copy_bytes(set->animate, nc);
    out->living = copy_bytes(set->living, nc);
    out->fold_group = copy_bytes(set->fold_group, sizeof(int32_t) * nc);
    out->n_styles = set->n_styles;
    out->style_names = strings_copy(set->style_names, set->n_styles);
}

void imageset_split(const ImageSet *set, int which, ImageSet *out) {
    int *idx = ml_alloc(sizeof(int) * (set->n + 1)), m = 0;
    for (int i = 0; i < set->n; i++)
        if (set->split[i] == which) idx[m++] = i;
    imageset_select(set, idx, m, out);
    ml_free(idx);
}

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* What a folder holds: 'i' IDX files, 'c' CIFAR binaries, 'p' anything else (PNG tree). */
static char folder_kind(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    char kind = 'p';
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, "-idx3-ubyte"))
            kind = 'i';
        else if (kind == 'p' && has_suffix(e->d_name, ".bin") &&
                 (!strncmp(e->d_name, "data_batch", 10) || !strcmp(e->d_name, "train.bin") ||
                  !strcmp(e->d_name, "test_batch.bin") || !strcmp(e->d_name, "test.bin")))
            kind = 'c';
    closedir(d);
    return kind;
}

int imageset_load_prepared(ImageSet *set, const char *dir, const ImageLoadOpts *opts);

int imageset_load_opts(ImageSet *set, const char *path, const ImageLoadOpts *opts) {
    ImageLoadOpts def = imageset_default_opts();
    if (!opts) opts = &def;
    memset(set, 0, sizeof *set);
    if (!ml_file_exists(path)) return ml_error("%s: no such file or folder", path);
    if (imageset_is_prepared(path)) return imageset_load_prepared(set, path, opts);
    if (!ml_is_dir(path)) {
        if (has_suffix(path, ".bin")) return imageset_load_cifar(set, path, opts);
        char *lab = NULL;
        const char *p = strstr(path, "-images-idx3-ubyte");
        if (p) { /* train-images-idx3-ubyte.gz → train-labels-idx1-ubyte.gz */
            size_t pre = p - path;
            lab = ml_alloc(strlen(path) + 8);
            memcpy(lab, path, pre);
            sprintf(lab + pre, "-labels-idx1-ubyte%s", p + strlen("-images-idx3-ubyte"));
            int rc = imageset_load_idx(set, path, lab, opts);
            ml_free(lab);
            return rc;
        }
        return ml_error("%s: not an image set (expected a prepared folder with meta.json, an "
                        "*-images-idx3-ubyte[.gz] file, a CIFAR .bin or a folder of PNGs)",
                        path);
    }
    switch (folder_kind(path)) {
    case 'i':
        return imageset_load_idx_dir(set, path, opts);
    case 'c':
        return imageset_load_cifar(set, path, opts);
    default:
        return imageset_load_png_dir(set, path, opts);
    }
}

int imageset_load(ImageSet *set, const char *path) {
    return imageset_load_opts(set, path, NULL);
}

int32_t *imageset_style_families(const ImageSet *set) {
    int32_t *fam = ml_alloc(sizeof(int32_t) * (set->n_styles + 1));
    for (int s = 0; s < set->n_styles; s++) {
        const char *a = set->style_names[s], *dash = strchr(a, '-');
        size_t len = dash ? (size_t)(dash - a) : strlen(a);
        fam[s] = s;
        for (int t = 0; t < s && fam[s] == s; t++)
            if (!strncmp(set->style_names[t], a, len) &&
                (set->style_names[t][len] == '-' || !set->style_names[t][len]))
                fam[s] = fam[t];
    }
    return fam;
}
