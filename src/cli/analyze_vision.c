/* moelens analyze RUN --images SET [--only ...] [--out DIR] ... for a vision run. */
#include "analysis/vision_analyze.h"
#include "cli/analyze_vision.h"
#include "cli/cli.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include <stdio.h>
#include <string.h>

static void usage(void) {
    char names[256];
    vision_analyze_names(names, sizeof names);
    printf(
        "usage: moelens analyze RUN --images SET [options]      (vision runs)\n\n"
        "Expert analyses of a trained vision MoE over a prepared image set with labels\n"
        "(docs/vision_analysis.md): gate probabilities and every expert force-run on each image.\n"
        "  --images SET        prepared folder, IDX, CIFAR or PNG tree (resized to the model)\n"
        "  --only A,B,...      %s (default all)\n"
        "  --out DIR           output folder (default RUN/analysis)\n"
        "  --attributes F.npy  concept × dimension matrix for tuning (default\n"
        "                      SET/attributes_nmf.npy, else SET/attributes.npy)\n"
        "  --split S           all (default), train or heldout: which of the set's images\n"
        "  --max-images N      seeded subsample of the set (default 2000; 0 = all)\n"
        "  --folds K           cross-validation folds, concept fold groups kept whole (5)\n"
        "  --perms P           permutations of the animacy test (1000)\n"
        "  --mei N             images per most-exciting-inputs grid (16)\n"
        "  --synth-steps N     ascent steps of the synthesised most exciting inputs, per\n"
        "                      expert gate logit and readout norm (200; 0 = none)\n"
        "  --synth-tv W        their smoothness prior: W · Σ squared neighbour differences (1)\n"
        "  --synth-l2 W        their norm prior: W · Σ (x − 0.5)² (0.5)\n"
        "  --rsa-stimuli N     at most N RSA stimuli, drawn across level-0 classes (200)\n"
        "  --probe-iters N     linear-probe Adam iterations (200)\n"
        "  --ridge L           tuning ridge penalty (1)\n"
        "  --seed S            subsample, folds and permutations (1234)\n"
        "  --quiet             no progress line\n",
        names);
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
    const char *cmd = "analyze", *run = NULL, *images = NULL, *out = NULL;
    VisionAnalyzeOptions o;
    vision_analyze_default_options(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--images"))
            images = cli_value(cmd, argc, argv, &i);
        else if (!strcmp(a, "--only")) {
            if (vision_analyze_parse_only(cli_value(cmd, argc, argv, &i), &o.only))
                ml_fatal("analyze: %s", ml_errmsg());
        } else if (!strcmp(a, "--out"))
            out = cli_value(cmd, argc, argv, &i);
        else if (!strcmp(a, "--attributes"))
            o.attributes = cli_value(cmd, argc, argv, &i);
        else if (!strcmp(a, "--max-images"))
            o.max_images = (int)cli_long(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--folds"))
            o.folds = (int)cli_long(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--perms"))
            o.perms = (int)cli_long(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--mei"))
            o.mei_n = (int)cli_long(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--split")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            o.split = !strcmp(v, "all")       ? -1
                      : !strcmp(v, "train")   ? IMAGESET_TRAIN
                      : !strcmp(v, "heldout") ? IMAGESET_HELDOUT
                                              : -2;
            if (o.split == -2)
                ml_fatal("analyze: --split: expected all, train or heldout, got '%s'", v);
        } else if (!strcmp(a, "--synth-tv"))
            o.synth_tv = cli_double(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--synth-l2"))
            o.synth_l2 = cli_double(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--synth-steps"))
            o.synth_steps = (int)cli_long(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--rsa-stimuli"))
            o.rsa_stimuli = (int)cli_long(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--probe-iters"))
            o.probe.iters = (int)cli_long(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--ridge"))
            o.ridge_lambda = cli_double(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--seed"))
            o.seed = (uint64_t)cli_long(cmd, a, cli_value(cmd, argc, argv, &i));
        else if (!strcmp(a, "--quiet"))
            o.quiet = 1;
        else if (a[0] == '-')
            cli_unknown_option(cmd, a);
        else if (!run)
            run = a;
        else
            ml_fatal("analyze: unexpected argument '%s'", a);
    }
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
