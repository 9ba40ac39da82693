/* `moelens analyze` on a vision run: loads the model's gate probabilities, chosen experts and every
 * expert's force-run readout on an image set once, then runs the selected analyses (each a step
 * va_NAME in NAME.c over the array math NAME.h declares) writing JSON + CSV/.npy/PNG
 * (docs/vision_analysis.md). */
#pragma once
#include "stats/probe.h"
#include "data/images.h"
#include "model/vision.h"
#include <cjson/cJSON.h>
#include <stdint.h>

enum { VA_GATING = 1, VA_SEPARABILITY = 2, VA_MEI = 4, VA_TUNING = 8, VA_RSA = 16, VA_ALL = 31 };

typedef struct {
    const char *out_dir;
    unsigned only;          /* VA_* bits */
    int max_images;         /* seeded subsample of the set (0 = all) */
    int split;              /* -1 all images (default), IMAGESET_TRAIN or IMAGESET_HELDOUT */
    int folds;              /* cross-validation folds (default 5) */
    int perms;              /* permutations for the animacy test (default 1000) */
    int mei_n;              /* images per MEI grid (default 16) */
    int synth_steps;        /* ascent steps of the synthesised MEIs (default 200; 0 = none) */
    double synth_tv;        /* their smoothness prior's weight (default 1) */
    double synth_l2;        /* their norm prior's weight (default 0.5) */
    int rsa_stimuli;        /* at most this many RSA stimuli (default 200) */
    double ridge_lambda;    /* tuning ridge penalty (default 1) */
    const char *attributes; /* concept × dimension .npy (default SET/attributes_nmf.npy) */
    const char *images_path;
    uint64_t seed;
    ProbeConfig probe;
    int quiet;
} VisionAnalyzeOptions;

void vision_analyze_default_options(VisionAnalyzeOptions *o);
/* Parses "gating,separability,mei,tuning,rsa" into VA_* bits. */
int vision_analyze_parse_only(const char *list, unsigned *bits);
/* "gating, separability, ...": every vision analysis's name, in the order they run (--help). */
void vision_analyze_names(char *buf, size_t cap);
/* 1 when RUN/config.json says "model": "vision", 0 otherwise (missing file: 0). */
int vision_run_is_vision(const char *run);
int vision_analyze(VisionModel *m, const ImageSet *set, const VisionAnalyzeOptions *o);

/* What the analyses share: the (subsampled) images and the model's outputs on them. */
typedef struct {
    const VisionAnalyzeOptions *o;
    VisionModel *model;  /* the analysed model (synthesised MEIs take its input gradients) */
    const ImageSet *set; /* the analysed images (a subsample of the input when max_images) */
    int n, E, k, D;
    const int *orig; /* [n] index of each analysed image in the input set */
    float *probs;    /* [n, E] gate probabilities (eval mode) */
    int32_t *top1;   /* [n] first chosen expert */
    float *feats;    /* [E, n, D] expert e force-run on image i */
    float *readout;  /* [n, D] the model's representation y (gate-weighted chosen experts) */
    int32_t *groups; /* [n] CV group: fold_group of the image's concept, else its concept, else i */
    cJSON *summary;  /* vision.json: each analysis adds its headline numbers */
} VaCtx;

int va_gating(VaCtx *c);
int va_separability(VaCtx *c);
int va_mei(VaCtx *c);
/* Synthesised MEIs per expert (gate logit, readout norm) into experts[e] of mei.json; top [E,2,per]
 * the dataset top-N indices (their first is the comparison image). */
int va_mei_synth(VaCtx *c, const int32_t *top, int per, cJSON *experts);
int va_tuning(VaCtx *c);
int va_rsa(VaCtx *c);
/* Helpers: dir/name written atomically. */
int va_write_json(const VaCtx *c, const char *name, const cJSON *j);
int va_write_npy(const VaCtx *c, const char *name, const char *dtype, const int64_t *shape, int nd,
                 const void *data);
/* L2 norm of expert e's readout on image i. */
double va_readout_norm(const VaCtx *c, int e, int i);
