/* moelens analyze RUN --images SET [--only ...] [--out DIR] ... for a vision run. */
#include "analysis/vision/vision_analyze.h"
#include "cli/analyze_vision.h"
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *images, *out;
    int gate_adapt; /* --gate-stats: 1 adapted, 0 model, -1 as the run's gate_adapt says */
    VisionAnalyzeOptions o;
} Args;

static void parse_only(const char *cmd, void *args, const char *v) {
    if (vision_analyze_parse_only(v, &((Args *)args)->o.only)) ml_fatal("analyze: %s", ml_errmsg());
}

static void parse_split(const char *cmd, void *args, const char *v) {
    int *split = &((Args *)args)->o.split;
    *split = !strcmp(v, "all")       ? -1
             : !strcmp(v, "train")   ? IMAGESET_TRAIN
             : !strcmp(v, "heldout") ? IMAGESET_HELDOUT
                                     : -2;
    if (*split == -2) ml_fatal("analyze: --split: expected all, train or heldout, got '%s'", v);
}

static void parse_gate_stats(const char *cmd, void *args, const char *v) {
    int *adapt = &((Args *)args)->gate_adapt;
    *adapt = !strcmp(v, "adapted") ? 1 : !strcmp(v, "model") ? 0 : -2;
    if (*adapt == -2) ml_fatal("analyze: --gate-stats: expected model or adapted, got '%s'", v);
}

#define O(f) offsetof(Args, o.f)
static const CliOpt opts[] = {
    {"--images", "SET", OPT_STR, offsetof(Args, images), NULL,
     "prepared folder, IDX, CIFAR or PNG tree (resized to the model)"},
    {"--only", "A,B,...", OPT_FN, 0, parse_only,
     "analyses to run, of those listed below (default all)"},
    {"--out", "DIR", OPT_STR, offsetof(Args, out), NULL, "output folder (default RUN/analysis)"},
    {"--attributes", "F.npy", OPT_STR, O(attributes), NULL,
     "concept × dimension matrix for tuning (default\nSET/attributes_nmf.npy, else "
     "SET/attributes.npy)"},
    {"--split", "S", OPT_FN, 0, parse_split,
     "all (default), train or heldout: which of the set's images"},
    {"--gate-stats", "S", OPT_FN, 0, parse_gate_stats,
     "the gate's input statistics (gate_norm=batch): model (its own\nrunning ones, as trained) "
     "or adapted (re-estimated on each split,\nAdaBN); default: the run's gate_adapt"},
    {"--max-images", "N", OPT_INT, O(max_images), NULL,
     "seeded subsample of the set (default 2000; 0 = all)"},
    {"--folds", "K", OPT_INT, O(folds), NULL,
     "cross-validation folds, concept fold groups kept whole (5)"},
    {"--perms", "P", OPT_INT, O(perms), NULL, "permutations of the animacy test (1000)"},
    {"--mei", "N", OPT_INT, O(mei_n), NULL, "images per most-exciting-inputs grid (16)"},
    {"--synth-steps", "N", OPT_INT, O(synth_steps), NULL,
     "ascent steps of the synthesised most exciting inputs, per\nexpert gate logit and readout "
     "norm (200; 0 = none)"},
    {"--synth-tv", "W", OPT_DOUBLE, O(synth_tv), NULL,
     "their smoothness prior: W · Σ squared neighbour differences (1)"},
    {"--synth-l2", "W", OPT_DOUBLE, O(synth_l2), NULL, "their norm prior: W · Σ (x − 0.5)² (0.5)"},
    {"--rsa-stimuli", "N", OPT_INT, O(rsa_stimuli), NULL,
     "at most N RSA stimuli, drawn across level-0 classes (200)"},
    {"--probe-iters", "N", OPT_INT, O(probe.iters), NULL, "linear-probe Adam iterations (200)"},
    {"--ridge", "L", OPT_DOUBLE, O(ridge_lambda), NULL, "tuning ridge penalty (1)"},
    {"--seed", "S", OPT_U64, O(seed), NULL, "subsample, folds and permutations (1234)"},
    {"--quiet", NULL, OPT_FLAG, O(quiet), NULL, "no progress line"},
};
#undef O

static void usage(void) {
    char names[256];
    vision_analyze_names(names, sizeof names);
    printf("usage: moelens analyze RUN --images SET [options]      (vision runs)\n\n"
           "Expert analyses of a trained vision MoE over a prepared image set with labels\n"
           "(docs/vision_analysis.md): gate probabilities and every expert force-run on each "
           "image.\n");
    cli_print_opts(CLI_OPTS(opts));
    printf("Analyses (--only): %s\n", names);
}

int analyze_is_vision(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--images")) return 1;
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-') return vision_run_is_vision(argv[i]);
    return 0;
}

int cmd_analyze_vision(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *run = NULL;
    Args args = {.gate_adapt = -1};
    vision_analyze_default_options(&args.o);
    cli_parse("analyze", CLI_OPTS(opts), &args, argc, argv, &run, 1);
    const char *images = args.images, *out = args.out;
    VisionAnalyzeOptions o = args.o;
    if (!run) ml_fatal("analyze: RUN is required");
    if (!images) ml_fatal("analyze: a vision run needs --images SET (a labelled image set)");
    if (o.max_images < 0 || o.folds < 2 || o.perms < 0 || o.mei_n < 1 || o.rsa_stimuli < 2 ||
        o.synth_steps < 0 || !(o.synth_tv >= 0) || !(o.synth_l2 >= 0) || o.probe.iters < 1 ||
        !(o.ridge_lambda > 0))
        ml_fatal(
            "analyze: --folds ≥ 2, --mei ≥ 1, --rsa-stimuli ≥ 2, --probe-iters ≥ 1, --ridge > 0, "
            "--max-images, --perms, --synth-steps, --synth-tv and --synth-l2 ≥ 0");
    char *ckpt = ml_path_join(run, "model.safetensors");
    if (!vision_run_is_vision(run))
        ml_fatal("analyze: %s/config.json does not describe a vision run (\"model\": \"vision\")",
                 run);
    VisionModel m;
    if (vision_load(&m, ckpt)) ml_fatal("%s", ml_errmsg());
    if (args.gate_adapt >= 0) m.cfg.gate_adapt = args.gate_adapt;
    ImageLoadOpts lo = imageset_default_opts();
    lo.size = m.cfg.img, lo.channels = m.cfg.in_ch;
    ImageSet set;
    if (imageset_load_opts(&set, images, &lo)) ml_fatal("%s", ml_errmsg());
    char *out_dir = out ? ml_strdup(out) : ml_path_join(run, "analysis");
    o.out_dir = out_dir, o.images_path = images;
    if (vision_analyze(&m, &set, &o)) ml_fatal("analyze: %s", ml_errmsg());
    if (!o.quiet) fprintf(stderr, "analyze: wrote %s\n", out_dir);
    imageset_free(&set);
    vision_free(&m);
    ml_free(ckpt), ml_free(out_dir);
    return 0;
}
