/* Training and evaluation of the vision MoE on an ImageSet (the loop behind `moelens train
 * vision`).
 *
 * Step s draws `batch` training images (a seeded permutation per epoch), makes two augmented views
 * of each (src/data/augment.h, streams keyed by seed, step and image) and takes one AdamW step on
 * NT-Xent + aux losses. Everything a step depends on is a function of (config, step, checkpoint),
 * so a resumed run continues bit-identically and equal seeds + thread counts give equal runs.
 * The run folder holds config.json, metrics.jsonl (one JSON line per step; eval lines carry
 * "probe_acc" and "gate_usage"), model.safetensors and, at the end, eval.json. */
#pragma once
#include "analysis/vision/gate_summary.h"
#include "data/augment.h"
#include "data/images.h"
#include "model/vision.h"
#include <signal.h>
#include <stdio.h>

typedef struct {
    const char *out_dir;
    int resume;                  /* continue from out_dir/model.safetensors */
    int ckpt_every;              /* save every this many steps (0: only at the end / on stop) */
    volatile sig_atomic_t *stop; /* set (e.g. by SIGINT) to save and return early; may be NULL */
    int quiet;                   /* no progress line */
} VisionTrainOpts;

typedef struct {
    double probe_acc;        /* linear probe on the readout: fit on training images, tested on
                                held-out ones (across styles on the emoji set) */
    double probe_within[2];  /* the same within the training / held-out images alone: half the
                                concepts fit it, the other half test it (probe_within) */
    double probe_family_out; /* the cross-style probe within the training images: each style family
                                (google; twitter; fluent-*) left out of the fit in turn and
                                tested, mean (probe_leave_group_out); what to choose a length or
                                setting by without the held-out styles. -1: < 2 families */
    double readout_erank;    /* effective rank of the held-out readouts (analysis/erank.h) */
    int n_fit, n_test;       /* images used to fit / test the probe */
    int n_classes, n_experts;
    double *usage;    /* [n_classes, n_experts]: fraction of a class's images choosing expert e */
    GateSummary gate; /* on the held-out images, MI with label level 0 (gate statistics adapted to
                         them when cfg.gate_adapt) */
    GateSummary gate_fixed; /* the same with the model's own (training) gate statistics */
    int adapted;            /* gate is the adapted one */
    double between_in;      /* between-image share of the gate's pooled stem features (raw) */
    double between_logit;   /* ... and of its logits (docs/vision.md, "Gate collapse") */
} VisionEval;

/* Linear probe on frozen readouts (label level 0), per-class gate usage and the gate summary, on a
 * fixed seeded
 * sample of up to cfg.probe_images images: half from the training split to fit, half held out
 * (the held-out split when the set has one). */
int vision_evaluate(VisionModel *m, const ImageSet *set, VisionEval *ev);
/* The evaluation as JSON (one metrics.jsonl line / eval.json); "gate" holds the summary and
 * "gate_collapse" says whether it looks collapsed. */
struct cJSON *vision_eval_json(const VisionEval *ev, int step);
/* Collapse warning (training prints it once, at the first evaluation after step 0 that finds the
 * gate collapsed): 1 and one line to out (if non-NULL) when ev's gate is collapsed and step > 0. */
int vision_warn_collapse(const VisionEval *ev, int step, FILE *out);
void vision_eval_free(VisionEval *ev);

/* Trains m (already initialised, or loaded when opts->resume) on set up to m->cfg.steps.
 * Returns 0 when done, 1 when stopped early (checkpoint saved), -1 + ml_error on failure. */
int vision_train(VisionModel *m, const ImageSet *set, const VisionTrainOpts *opts);
