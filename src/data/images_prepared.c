/* moelens' prepared image folder: decoded once, loaded fast (numpy-readable too).
 *   images.npy  uint8 [n, c, s, s]   (pixel · 255, rounded)
 *   labels.npy  int32 [n_levels, n]
 *   split.npy   int32 [n]            0 train, 1 held out
 *   concept.npy, style.npy  int32 [n]  (optional)
 *   meta.json   levels (names, class names), styles, concepts; written last. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/npy.h"
#include "data/images.h"
#include "data/images_internal.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define PREPARED_FORMAT "moelens-imageset"

int imageset_is_prepared(const char *path) {
    if (!ml_is_dir(path)) return 0;
    char *meta = ml_path_join(path, "meta.json");
    int ok = ml_file_exists(meta);
    ml_free(meta);
    return ok;
}

static int write_npy(const char *dir, const char *name, const char *dtype, const int64_t *shape,
                     int ndim, const void *data) {
    char *p = ml_path_join(dir, name);
    int rc = npy_write(p, dtype, shape, ndim, data);
    ml_free(p);
    return rc;
}

static cJSON *string_array(char *const *s, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
    return a;
}

int imageset_save(const ImageSet *set, const char *dir) {
    if (ml_mkdir_p(dir)) return -1;
    size_t total = (size_t)set->n * set->channels * set->size * set->size;
    uint8_t *u8 = ml_alloc(total + 1);
    for (size_t k = 0; k < total; k++) {
        float v = set->pixels[k];
        u8[k] = (uint8_t)lrintf((v < 0 ? 0 : v > 1 ? 1 : v) * 255.0f);
    }
    int64_t ishape[4] = {set->n, set->channels, set->size, set->size};
    int64_t lshape[2] = {set->n_levels, set->n}, nshape[1] = {set->n};
    int rc = write_npy(dir, "images.npy", "|u1", ishape, 4, u8);
    ml_free(u8);
    if (rc || write_npy(dir, "labels.npy", "<i4", lshape, 2, set->labels) ||
        write_npy(dir, "split.npy", "<i4", nshape, 1, set->split))
        return -1;
    if (set->concept && write_npy(dir, "concept.npy", "<i4", nshape, 1, set->concept)) return -1;
    if (set->style && write_npy(dir, "style.npy", "<i4", nshape, 1, set->style)) return -1;

    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "format", PREPARED_FORMAT);
    cJSON_AddNumberToObject(m, "version", 1);
    cJSON_AddNumberToObject(m, "n", set->n);
    cJSON_AddNumberToObject(m, "channels", set->channels);
    cJSON_AddNumberToObject(m, "size", set->size);
    cJSON *levels = cJSON_AddArrayToObject(m, "levels");
    for (int l = 0; l < set->n_levels; l++) {
        cJSON *lv = cJSON_CreateObject();
        cJSON_AddStringToObject(lv, "name", set->level_names[l]);
        cJSON_AddItemToObject(lv, "classes", string_array(set->class_names[l], set->n_classes[l]));
        cJSON_AddItemToArray(levels, lv);
    }
    if (set->style)
        cJSON_AddItemToObject(m, "styles", string_array(set->style_names, set->n_styles));
    if (set->concept) {
        cJSON *cs = cJSON_AddArrayToObject(m, "concepts");
        for (int c = 0; c < set->n_concepts; c++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", set->concept_names[c]);
            if (set->animate) cJSON_AddNumberToObject(o, "animate", set->animate[c]);
            if (set->living) cJSON_AddNumberToObject(o, "living", set->living[c]);
            if (set->fold_group) cJSON_AddNumberToObject(o, "fold_group", set->fold_group[c]);
            cJSON_AddItemToArray(cs, o);
        }
    }
    char *text = cJSON_Print(m);
    cJSON_Delete(m);
    char *meta = ml_path_join(dir, "meta.json");
    rc = ml_write_file_atomic(meta, text, strlen(text));
    ml_free(meta);
    cJSON_free(text);
    return rc;
}

/* Reads dir/name as an int32 array of exactly `count` values. */
static int read_i32(const char *dir, const char *name, int64_t count, int32_t **out) {
    char *p = ml_path_join(dir, name);
    NpyArray a;
    int rc = npy_read(p, &a);
    if (!rc && (strcmp(a.dtype, "<i4") || a.nbytes != count * 4)) {
        rc = ml_error("%s: expected int32 with %lld values", p, (long long)count);
        npy_free(&a);
    }
    ml_free(p);
    if (!rc) *out = a.data;
    return rc;
}

static char **json_strings(const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    char **s = ml_alloc(sizeof(char *) * (*n + 1));
    for (int i = 0; i < *n; i++) {
        const char *v = cJSON_GetStringValue(cJSON_GetArrayItem(arr, i));
        s[i] = ml_strdup(v ? v : "");
    }
    return s;
}

static int meta_int(const cJSON *m, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsNumber(v) ? v->valueint : -1;
}

static int load_meta(ImageSet *set, const char *dir, cJSON *m, const char *path) {
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(m, "format");
    const cJSON *levels = cJSON_GetObjectItemCaseSensitive(m, "levels");
    set->n = meta_int(m, "n"), set->channels = meta_int(m, "channels"),
    set->size = meta_int(m, "size");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, PREPARED_FORMAT) ||
        !cJSON_IsArray(levels) || cJSON_GetArraySize(levels) < 1 || set->n < 0 ||
        set->channels < 1 || set->size < 1)
        return ml_error("%s: not a moelens prepared image set (expected format \"%s\", n, "
                        "channels, size, levels)",
                        path, PREPARED_FORMAT);
    int L = set->n_levels = cJSON_GetArraySize(levels);
    set->n_classes = ml_alloc(sizeof(int) * L);
    set->class_names = ml_alloc(sizeof(char **) * L);
    set->level_names = ml_alloc(sizeof(char *) * L);
    for (int l = 0; l < L; l++) {
        const cJSON *lv = cJSON_GetArrayItem(levels, l);
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lv, "name"));
        set->level_names[l] = ml_strdup(name ? name : "class");
        set->class_names[l] =
            json_strings(cJSON_GetObjectItemCaseSensitive(lv, "classes"), &set->n_classes[l]);
    }
    const cJSON *styles = cJSON_GetObjectItemCaseSensitive(m, "styles");
    if (cJSON_IsArray(styles)) set->style_names = json_strings(styles, &set->n_styles);
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(m, "concepts");
    if (cJSON_IsArray(cs)) {
        int nc = set->n_concepts = cJSON_GetArraySize(cs);
        set->concept_names = ml_alloc(sizeof(char *) * (nc + 1));
        set->animate = ml_alloc(nc + 1), set->living = ml_alloc(nc + 1);
        set->fold_group = ml_alloc(sizeof(int32_t) * (nc + 1));
        for (int c = 0; c < nc; c++) {
            const cJSON *o = cJSON_GetArrayItem(cs, c);
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "name"));
            set->concept_names[c] = ml_strdup(name ? name : "");
            set->animate[c] = meta_int(o, "animate") == 1;
            set->living[c] = meta_int(o, "living") == 1;
            set->fold_group[c] = meta_int(o, "fold_group") >= 0 ? meta_int(o, "fold_group") : c;
        }
    }
    return 0;
}

/* Checks ids against their tables so users of the set can index without bounds checks. */
static int check_ids(const char *dir, const char *what, const int32_t *ids, int n, int limit) {
    for (int i = 0; i < n; i++)
        if (ids[i] < -1 || ids[i] >= limit)
            return ml_error("%s: %s id %d of image %d is outside 0..%d", dir, what, ids[i], i,
                            limit - 1);
    return 0;
}

static int load_arrays(ImageSet *set, const char *dir) {
    char *p = ml_path_join(dir, "images.npy");
    NpyArray a;
    int rc = npy_read(p, &a);
    if (!rc && (strcmp(a.dtype, "|u1") || a.ndim != 4 || a.shape[0] != set->n ||
                a.shape[1] != set->channels || a.shape[2] != set->size || a.shape[3] != set->size))
        rc = ml_error("%s: expected uint8 [%d, %d, %d, %d] as meta.json says", p, set->n,
                      set->channels, set->size, set->size);
    ml_free(p);
    if (rc) {
        if (a.data) npy_free(&a);
        return -1;
    }
    set->pixels = ml_alloc_floats(a.nbytes + 1);
    const uint8_t *u8 = a.data;
    for (int64_t k = 0; k < a.nbytes; k++) set->pixels[k] = u8[k] / 255.0f;
    npy_free(&a);
    if (read_i32(dir, "labels.npy", (int64_t)set->n_levels * set->n, &set->labels) ||
        read_i32(dir, "split.npy", set->n, &set->split))
        return -1;
    for (int l = 0; l < set->n_levels; l++)
        if (check_ids(dir, set->level_names[l], set->labels + (size_t)l * set->n, set->n,
                      set->n_classes[l]))
            return -1;
    if (set->n_concepts && (read_i32(dir, "concept.npy", set->n, &set->concept) ||
                            check_ids(dir, "concept", set->concept, set->n, set->n_concepts)))
        return -1;
    if (set->n_styles && (read_i32(dir, "style.npy", set->n, &set->style) ||
                          check_ids(dir, "style", set->style, set->n, set->n_styles)))
        return -1;
    return 0;
}

/* Applies opts->size / opts->channels to an already loaded set. */
static void reshape_to(ImageSet *set, const ImageLoadOpts *opts) {
    int S = opts->size > 0 ? opts->size : set->size;
    int C = opts->channels > 0 ? opts->channels : set->channels;
    if (S == set->size && C == set->channels) return;
    float *old = set->pixels;
    int oldC = set->channels, oldS = set->size;
    set->pixels = ml_alloc_floats((size_t)set->n * C * S * S + 1);
    set->channels = C, set->size = S;
    for (int i = 0; i < set->n; i++)
        imageset_put(set, i, old + (size_t)i * oldC * oldS * oldS, oldC, oldS);
    ml_free(old);
}

int imageset_load_prepared(ImageSet *set, const char *dir, const ImageLoadOpts *opts) {
    memset(set, 0, sizeof *set);
    char *path = ml_path_join(dir, "meta.json"), *text = NULL;
    size_t len;
    int rc = ml_read_file(path, &text, &len);
    cJSON *m = rc ? NULL : cJSON_Parse(text);
    if (!rc && !m) rc = ml_error("%s: invalid JSON", path);
    if (!rc) rc = load_meta(set, dir, m, path);
    cJSON_Delete(m);
    ml_free(text), ml_free(path);
    if (!rc) rc = load_arrays(set, dir);
    if (rc) {
        imageset_free(set);
        return -1;
    }
    int max = opts->max_images;
    if (max > 0 && max < set->n) {
        int *idx = ml_alloc(sizeof(int) * max);
        for (int i = 0; i < max; i++) idx[i] = i;
        ImageSet sub;
        imageset_select(set, idx, max, &sub);
        ml_free(idx);
        imageset_free(set);
        *set = sub;
    }
    reshape_to(set, opts);
    return 0;
}
