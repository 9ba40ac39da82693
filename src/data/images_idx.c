/* IDX (MNIST/Fashion-MNIST, gzip or raw via zlib) and CIFAR-10/100 binary loaders. */
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/images.h"
#include "data/images_internal.h"
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *FASHION_NAMES[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                        "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                        "Bag",         "Ankle boot"};

/* Reads a whole file through zlib (which passes non-gzip files through unchanged). */
static int read_gz(const char *path, uint8_t **buf, size_t *len) {
    gzFile f = gzopen(path, "rb");
    if (!f) return ml_error("%s: cannot open", path);
    size_t cap = 1 << 20, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (n == cap) b = realloc(b, cap *= 2);
        if (!b) ml_fatal("out of memory reading %s", path);
        int got = gzread(f, b + n, (unsigned)(cap - n));
        if (got < 0) {
            int code;
            const char *msg = gzerror(f, &code);
            ml_error("%s: corrupt gzip data (%s)", path, msg);
            free(b), gzclose(f);
            return -1;
        }
        if (got == 0) break;
        n += got;
    }
    /* gzread returns 0 at a truncated stream's end too: gzclose reports it. */
    int rc = gzclose(f);
    if (rc == Z_BUF_ERROR || rc == Z_DATA_ERROR) {
        free(b);
        return ml_error("%s: truncated or corrupt gzip stream", path);
    }
    *buf = b, *len = n;
    return 0;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parses an IDX header: type 0x08 (uint8), `ndim` dimensions; returns the data offset. */
static int idx_header(const char *path, const uint8_t *b, size_t len, int ndim, uint32_t *dims) {
    if (len < 4 + 4u * ndim || b[0] || b[1] || b[2] != 0x08 || b[3] != ndim)
        return ml_error("%s: not an IDX file of %d-dimensional uint8 data (magic %02x%02x%02x%02x)",
                        path, ndim, len > 0 ? b[0] : 0, len > 1 ? b[1] : 0, len > 2 ? b[2] : 0,
                        len > 3 ? b[3] : 0);
    size_t count = 1, need;
    for (int d = 0; d < ndim; d++) {
        dims[d] = be32(b + 4 + 4 * d);
        /* an empty dimension would let any image count pass the size check below */
        if (dims[d] == 0 || dims[d] > INT32_MAX)
            return ml_error("%s: IDX dimension %d is %u (expected 1..%d)", path, d, dims[d],
                            INT32_MAX);
        if (ml_size_mul(count, dims[d], &count)) break;
    }
    if (ml_size_add(count, 4 + 4 * ndim, &need) || len < need)
        return ml_error("%s: truncated IDX data (%zu bytes; the header's dimensions need %s%zu)",
                        path, len, need == SIZE_MAX ? "more than " : "", need);
    return 4 + 4 * ndim;
}

/* Appends the IDX pair's images to `set` starting at image `at` (set preallocated). */
static int idx_count(const char *images, uint8_t **ib, size_t *il, uint32_t *idims, int *ioff) {
    if (read_gz(images, ib, il)) return -1;
    *ioff = idx_header(images, *ib, *il, 3, idims);
    if (*ioff < 0) {
        free(*ib);
        return -1;
    }
    return 0;
}

static int idx_fill(ImageSet *set, int at, int n, const uint8_t *px, const uint32_t *idims,
                    const char *labels_path, int split) {
    uint8_t *lb;
    size_t ll;
    uint32_t ldims[1] = {0};
    if (read_gz(labels_path, &lb, &ll)) return -1;
    int loff = idx_header(labels_path, lb, ll, 1, ldims);
    if (loff >= 0 && ldims[0] < (uint32_t)n)
        loff = ml_error("%s: %u labels for %d images", labels_path, ldims[0], n);
    for (int i = 0; loff >= 0 && i < n; i++)
        if (lb[loff + i] > 9)
            loff = ml_error("%s: label %d outside 0..9", labels_path, lb[loff + i]);
    if (loff < 0) {
        free(lb);
        return -1;
    }
    int side = idims[1];
    float *img = ml_alloc_floats((size_t)side * side);
    for (int i = 0; i < n; i++) {
        for (int p = 0; p < side * side; p++) img[p] = px[(size_t)i * side * side + p] / 255.0f;
        imageset_put(set, at + i, img, 1, side);
        set->labels[at + i] = lb[loff + i];
        set->split[at + i] = split;
    }
    ml_free(img);
    free(lb);
    return 0;
}

static void idx_levels(ImageSet *set) {
    imageset_set_level(set, 0, "class", 10);
    for (int k = 0; k < 10; k++) {
        ml_free(set->class_names[0][k]);
        set->class_names[0][k] = ml_strdup(FASHION_NAMES[k]);
    }
}

/* Loads one or two IDX pairs (train, optional test) into one set. */
static int idx_load_pairs(ImageSet *set, const char *const *img, const char *const *lab, int pairs,
                          const ImageLoadOpts *opts) {
    uint8_t *ib[2] = {0};
    size_t il[2];
    uint32_t dims[2][3];
    int off[2], n[2] = {0}, total = 0;
    for (int k = 0; k < pairs; k++) {
        if (idx_count(img[k], &ib[k], &il[k], dims[k], &off[k])) {
            if (k) free(ib[0]);
            return -1;
        }
        n[k] = dims[k][0];
        if (opts->max_images > 0 && n[k] > opts->max_images) n[k] = opts->max_images;
        if (dims[k][1] != dims[k][2] || (k && dims[k][1] != dims[0][1])) {
            free(ib[0]), free(ib[1]);
            return ml_error("%s: images must be square and match the training set's size", img[k]);
        }
        total += n[k];
    }
    int side = dims[0][1];
    imageset_alloc(set, total, opts->channels > 0 ? opts->channels : 1,
                   opts->size > 0 ? opts->size : side, 1);
    idx_levels(set);
    int rc = 0;
    for (int k = 0, at = 0; k < pairs && !rc; at += n[k], k++)
        rc = idx_fill(set, at, n[k], ib[k] + off[k], dims[k], lab[k], k);
    free(ib[0]), free(ib[1]);
    if (rc) imageset_free(set);
    return rc;
}

int imageset_load_idx(ImageSet *set, const char *images_path, const char *labels_path,
                      const ImageLoadOpts *opts) {
    ImageLoadOpts def = imageset_default_opts();
    return idx_load_pairs(set, &images_path, &labels_path, 1, opts ? opts : &def);
}

/* dir/<prefix>-<kind>-idx?-ubyte[.gz], whichever exists. */
static char *idx_file(const char *dir, const char *prefix, const char *kind) {
    char name[128];
    for (int gz = 1; gz >= 0; gz--) {
        snprintf(name, sizeof name, "%s-%s-ubyte%s", prefix, kind, gz ? ".gz" : "");
        char *p = ml_path_join(dir, name);
        if (ml_file_exists(p)) return p;
        ml_free(p);
    }
    return NULL;
}

int imageset_load_idx_dir(ImageSet *set, const char *dir, const ImageLoadOpts *opts) {
    ImageLoadOpts def = imageset_default_opts();
    char *img[2] = {idx_file(dir, "train", "images-idx3"), idx_file(dir, "t10k", "images-idx3")};
    char *lab[2] = {idx_file(dir, "train", "labels-idx1"), idx_file(dir, "t10k", "labels-idx1")};
    int rc;
    if (!img[0] || !lab[0])
        rc = ml_error("%s: expected train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]",
                      dir);
    else
        rc = idx_load_pairs(set, (const char *const *)img, (const char *const *)lab,
                            img[1] && lab[1] ? 2 : 1, opts ? opts : &def);
    for (int k = 0; k < 2; k++) ml_free(img[k]), ml_free(lab[k]);
    return rc;
}

/* ---- CIFAR: records of [label bytes][3072 = 3×32×32 CHW] ---- */

typedef struct {
    char *path;
    int split;
} CifarFile;

static int cmp_cifar(const void *a, const void *b) {
    const CifarFile *x = a, *y = b;
    return x->split != y->split ? x->split - y->split : strcmp(x->path, y->path);
}

/* Reads optional class-name text files (one per line) next to the data. */
static void cifar_names(ImageSet *set, int l, const char *dir, const char *file) {
    char *p = ml_path_join(dir, file), *text;
    size_t len;
    if (ml_file_exists(p) && !ml_read_file(p, &text, &len)) {
        char *save, *line = strtok_r(text, "\r\n", &save);
        for (int k = 0; line && k < set->n_classes[l]; k++, line = strtok_r(NULL, "\r\n", &save)) {
            ml_free(set->class_names[l][k]);
            set->class_names[l][k] = ml_strdup(line);
        }
        ml_free(text);
    }
    ml_free(p);
}

static int cifar_files(const char *path, CifarFile **files, int *nf, int *hundred, char **dir) {
    *nf = 0;
    *files = ml_alloc(sizeof(CifarFile) * 16);
    if (!ml_is_dir(path)) {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        *hundred = !strcmp(base, "train.bin") || !strcmp(base, "test.bin");
        (*files)[(*nf)++] = (CifarFile){ml_strdup(path), !strncmp(base, "test", 4)};
        *dir = slash ? strndup(path, slash - path) : strdup(".");
        return 0;
    }
    *dir = strdup(path);
    DIR *d = opendir(path);
    struct dirent *e;
    *hundred = 0;
    while (d && (e = readdir(d)) && *nf < 16) {
        const char *s = e->d_name;
        int is10 = !strncmp(s, "data_batch", 10) || !strcmp(s, "test_batch.bin");
        int is100 = !strcmp(s, "train.bin") || !strcmp(s, "test.bin");
        if (!(is10 || is100) || !strstr(s, ".bin")) continue;
        if (is100) *hundred = 1;
        (*files)[(*nf)++] = (CifarFile){ml_path_join(path, s), !strncmp(s, "test", 4)};
    }
    if (d) closedir(d);
    qsort(*files, *nf, sizeof(CifarFile), cmp_cifar); /* training batches, then test */
    if (!*nf) return ml_error("%s: no CIFAR binaries (data_batch_*.bin or train.bin)", path);
    return 0;
}

int imageset_load_cifar(ImageSet *set, const char *path, const ImageLoadOpts *opts) {
    ImageLoadOpts def = imageset_default_opts();
    if (!opts) opts = &def;
    CifarFile *files;
    int nf, hundred;
    char *dir = NULL;
    int rc = cifar_files(path, &files, &nf, &hundred, &dir);
    int rec = 3072 + (hundred ? 2 : 1), total = 0;
    uint8_t *data[16] = {0};
    int count[16] = {0};
    for (int f = 0; f < nf && !rc; f++) {
        char *buf;
        size_t len;
        if ((rc = ml_read_file(files[f].path, &buf, &len))) break;
        if (len == 0 || len % rec)
            rc = ml_error("%s: %zu bytes is not a whole number of %d-byte CIFAR-%s records",
                          files[f].path, len, rec, hundred ? "100" : "10");
        data[f] = (uint8_t *)buf;
        count[f] = len / rec;
        if (opts->max_images > 0 && count[f] > opts->max_images) count[f] = opts->max_images;
        total += count[f];
    }
    if (!rc) {
        imageset_alloc(set, total, opts->channels > 0 ? opts->channels : 3,
                       opts->size > 0 ? opts->size : 32, hundred ? 2 : 1);
        if (hundred) {
            imageset_set_level(set, 0, "coarse", 20), imageset_set_level(set, 1, "fine", 100);
            cifar_names(set, 0, dir, "coarse_label_names.txt");
            cifar_names(set, 1, dir, "fine_label_names.txt");
        } else {
            imageset_set_level(set, 0, "class", 10);
            cifar_names(set, 0, dir, "batches.meta.txt");
        }
        float *img = ml_alloc_floats(3072);
        for (int f = 0, at = 0; f < nf && !rc; f++)
            for (int i = 0; i < count[f] && !rc; i++, at++) {
                const uint8_t *r = data[f] + (size_t)i * rec;
                for (int l = 0; l < set->n_levels; l++) {
                    if (r[l] >= set->n_classes[l])
                        rc =
                            ml_error("%s: record %d has %s label %d (expected < %d)", files[f].path,
                                     i, set->level_names[l], r[l], set->n_classes[l]);
                    set->labels[(size_t)l * total + at] = r[l];
                }
                for (int p = 0; p < 3072; p++) img[p] = r[set->n_levels + p] / 255.0f;
                imageset_put(set, at, img, 3, 32);
                set->split[at] = files[f].split;
            }
        ml_free(img);
        if (rc) imageset_free(set);
    }
    for (int f = 0; f < nf; f++) ml_free(files[f].path), ml_free(data[f]);
    ml_free(files);
    free(dir);
    return rc;
}
