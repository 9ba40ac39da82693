/* Image sets in memory: one layout for every source (IDX, CIFAR binary, PNG folders with a label
 * hierarchy, and moelens' prepared folders such as the emoji concept set). See docs/images.md.
 *
 * Pixels are float in [0,1], CHW per image, images square (size × size). Every image carries one
 * class id per label level (level 0 is the coarsest: Fashion-MNIST has 1 level, the emoji set 2:
 * group, subgroup; CIFAR-100 2: coarse, fine). Optional per-image arrays are NULL when absent. */
#pragma once
#include <stdint.h>

enum { IMAGESET_TRAIN = 0, IMAGESET_HELDOUT = 1 }; /* values of ImageSet.split */

typedef struct {
    int n, channels, size;
    float *pixels; /* [n, channels, size, size], in [0,1] */

    int n_levels;        /* label hierarchy depth */
    int32_t *labels;     /* [n_levels, n]: labels[l * n + i] = class id of image i at level l */
    int *n_classes;      /* [n_levels] */
    char ***class_names; /* [n_levels][n_classes[l]] */
    char **level_names;  /* [n_levels], e.g. "class", or "group", "subgroup" */

    int32_t *split; /* [n]: IMAGESET_TRAIN or IMAGESET_HELDOUT (test file / held-out style) */

    /* Optional: which concept an image shows (emoji set) and in which style; -1 = none. */
    int32_t *concept;     /* [n] or NULL */
    int n_concepts;       /* 0 when concept is NULL */
    char **concept_names; /* [n_concepts], e.g. "dog face" */
    int8_t *animate;      /* [n_concepts] 1 = animate (animal-*, person subgroups) or NULL */
    int8_t *living;       /* [n_concepts] 1 = animate or plant, or NULL */
    int32_t *fold_group;  /* [n_concepts] concepts sharing an id stay in one CV fold, or NULL */
    int32_t *style;       /* [n] or NULL */
    int n_styles;
    char **style_names; /* [n_styles], e.g. "google", "twitter", "openmoji-color" */
} ImageSet;

/* How sources are decoded. Start from imageset_default_opts() (or pass NULL): native size,
 * channels as stored (IDX 1, CIFAR 3, PNG 3), grey 0.5 background, all images. */
typedef struct {
    int size;         /* output side; 0 = keep (PNG folders: the first image's width);
                         prepared sets are resized on load too */
    int channels;     /* 0 = source's own; 1 or 3 to convert (grey = mean of RGB) */
    float background; /* grey level that RGBA images are composited on (used if !random_bg) */
    int random_bg;    /* 1: composite each image on a seeded random colour instead */
    uint64_t seed;    /* for random_bg */
    int max_images;   /* 0 = all; else the first max_images (per split for IDX/CIFAR) */
} ImageLoadOpts;
ImageLoadOpts imageset_default_opts(void);

/* Reads a prepared folder (meta.json + images.npy + labels.npy ...), an IDX pair or folder,
 * CIFAR-10/100 binaries (file or folder) or a PNG folder tree, detecting which. */
int imageset_load(ImageSet *set, const char *path);
int imageset_load_opts(ImageSet *set, const char *path, const ImageLoadOpts *opts);
void imageset_free(ImageSet *set);

/* Individual loaders (imageset_load dispatches to these). */
/* images_path: idx3 file (.gz or raw); labels_path: idx1 file. Appends nothing: fills *set. */
int imageset_load_idx(ImageSet *set, const char *images_path, const char *labels_path,
                      const ImageLoadOpts *opts);
/* Folder with {train,t10k}-images-idx3-ubyte[.gz] + labels: train → split 0, t10k → split 1. */
int imageset_load_idx_dir(ImageSet *set, const char *dir, const ImageLoadOpts *opts);
/* One CIFAR .bin file or a folder (data_batch_*.bin + test_batch.bin, or train.bin + test.bin). */
int imageset_load_cifar(ImageSet *set, const char *path, const ImageLoadOpts *opts);
/* root/a/b/img.png → level 0 "a", level 1 "a/b"; depth = deepest folder level (images higher up
 * repeat their deepest label). Sorted by path, so the order is deterministic. */
int imageset_load_png_dir(ImageSet *set, const char *root, const ImageLoadOpts *opts);

/* Prepared folder: images.npy (uint8 [n,c,s,s]), labels.npy (int32 [L,n]), split.npy,
 * optional concept.npy / style.npy, meta.json last (its presence marks a complete folder). */
int imageset_save(const ImageSet *set, const char *dir);
int imageset_is_prepared(const char *path);

/* Copies the images whose index is in idx[0..m) into *out (labels, names, concepts too). */
void imageset_select(const ImageSet *set, const int *idx, int m, ImageSet *out);
/* Images with split == which (IMAGESET_TRAIN / IMAGESET_HELDOUT) into *out. */
void imageset_split(const ImageSet *set, int which, ImageSet *out);

/* The family of each style, [n_styles] (ml_alloc'd): styles whose names agree up to the first '-'
 * (fluent-flat, fluent-modern; openmoji-color, openmoji-black) come from one package and one
 * design team and share the smallest such style id (a name without '-' is its own prefix). */
int32_t *imageset_style_families(const ImageSet *set);

/* Pixel helpers (also used by the emoji builder). */
/* RGBA8 (w×h, row-major) → RGB float CHW [3,h,w] composited on colour bg[3]: c = a·rgb + (1-a)·bg.
 */
void image_composite_rgba(const uint8_t *rgba, int w, int h, const float bg[3], float *out_chw);
/* Area-averaging resize of a CHW float image (exact box filter over fractional pixel overlap;
 * equal to plain averaging for integer factors; bilinear-like weights when upsampling). */
void image_resize_area(const float *in, int channels, int w, int h, float *out, int ow, int oh);
/* Decodes a PNG file into RGBA8 (ml_alloc'd, *w × *h). Corrupt/truncated → -1 naming the file. */
int png_read_rgba(const char *path, uint8_t **rgba, int *w, int *h);
/* Writes an RGB/grey float CHW image as 8-bit PNG (used by tests and figures). */
int png_write_chw(const char *path, const float *chw, int channels, int w, int h);
