/* `moelens train vision`: trains the convolutional MoE with NT-Xent on an image set. */
#include "cli/cli.h"
#include "cli/train.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/images.h"
#include "model/vision_train.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static volatile sig_atomic_t stop_requested;
static void on_sigint(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void help(void) {
    printf(
        "usage: moelens train vision --out RUN --data SET [--preset tiny|small|study]\n"
        "                            [--set key=value ...] [--resume] [--max-images N]\n"
        "                            [--ckpt-every N] [--quiet]\n\n"
        "Trains the sparsely-gated convolutional MoE with SimCLR's NT-Xent loss (docs/vision.md).\n"
        "  --out RUN         run folder: config.json, metrics.jsonl, model.safetensors, eval.json\n"
        "  --data SET        Fashion-MNIST/IDX folder, CIFAR binaries, PNG folder or prepared set\n"
        "  --preset P        tiny (default), small or study (the Beyond Routing study)\n"
        "  --set key=value   override a config key (e.g. n_experts=8 top_k=1 router=cosine\n"
        "                    router_noise=1 tau=0.2 steps=1000 lr=1e-3 seed=2 batch=128\n"
        "                    aug_crop_min=0.3 aug_blur=0.5 ...; keys below)\n"
        "  --resume          continue RUN from its checkpoint (bit-identical to an unbroken run)\n"
        "  --max-images N    load at most N images per split\n"
        "  --ckpt-every N    checkpoint every N steps (default 100)\n"
        "Ctrl-C saves a checkpoint and exits (status 130); --resume continues.\n\n"
        "Keys (--set key=value; the tiny preset's value):\n");
    VisionConfig c;
    vision_preset(&c, "tiny");
    vision_config_print_help(&c);
}

int cmd_train_vision(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return help(), 0;
    const char *out = NULL, *data = NULL, *preset = "tiny";
    const char *sets[64];
    int n_sets = 0, resume = 0, quiet = 0;
    long max_images = 0, ckpt_every = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--out"))
            out = cli_value("train vision", argc, argv, &i);
        else if (!strcmp(a, "--data"))
            data = cli_value("train vision", argc, argv, &i);
        else if (!strcmp(a, "--preset"))
            preset = cli_value("train vision", argc, argv, &i);
        else if (!strcmp(a, "--set")) {
            if (n_sets == 64) ml_fatal("train vision: too many --set options");
            sets[n_sets++] = cli_value("train vision", argc, argv, &i);
        } else if (!strcmp(a, "--resume"))
            resume = 1;
        else if (!strcmp(a, "--quiet"))
            quiet = 1;
        else if (!strcmp(a, "--max-images"))
            max_images = cli_long("train vision", a, cli_value("train vision", argc, argv, &i));
        else if (!strcmp(a, "--ckpt-every"))
            ckpt_every = cli_long("train vision", a, cli_value("train vision", argc, argv, &i));
        else
            cli_unknown_option("train vision", a);
    }
    if (!out || !data) ml_fatal("train vision: --out RUN and --data SET are required (see --help)");
    ImageLoadOpts lo = imageset_default_opts();
    lo.max_images = (int)max_images;
    ImageSet set;
    if (imageset_load_opts(&set, data, &lo) != 0) ml_fatal("%s", ml_errmsg());
    VisionModel m;
    char *ckpt = ml_path_join(out, "model.safetensors");
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    if (resume) {
        if (!ml_file_exists(ckpt)) ml_fatal("train vision: --resume: no checkpoint %s", ckpt);
        if (vision_load(&m, ckpt) != 0) ml_fatal("%s", ml_errmsg());
        if (n_sets)
            ml_warn("train vision: --set is ignored with --resume (the run keeps its config)");
        if (m.cfg.threads != threads)
            ml_warn("train vision: run used %d threads, now %d: results will not be bit-identical",
                    m.cfg.threads, threads);
    } else {
        VisionConfig cfg;
        if (vision_preset(&cfg, preset) != 0) ml_fatal("train vision: %s", ml_errmsg());
        cfg.in_ch = set.channels, cfg.img = set.size, cfg.threads = threads;
        for (int i = 0; i < n_sets; i++)
            if (vision_config_set(&cfg, sets[i]) != 0) ml_fatal("train vision: %s", ml_errmsg());
        if (vision_init(&m, &cfg) != 0) ml_fatal("train vision: %s", ml_errmsg());
        if (ml_mkdir_p(out) != 0) ml_fatal("%s", ml_errmsg());
        char *json = vision_config_to_json(&m.cfg), *cpath = ml_path_join(out, "config.json");
        if (ml_write_file_atomic(cpath, json, strlen(json)) != 0) ml_fatal("%s", ml_errmsg());
        ml_free(json), ml_free(cpath);
    }
    ml_remove_stale_tmp(out); /* left by a killed run */
    VisionTrainOpts o = {.out_dir = out,
                         .resume = resume,
                         .ckpt_every = (int)ckpt_every,
                         .stop = &stop_requested,
                         .quiet = quiet};
    signal(SIGINT, on_sigint);
    int rc = vision_train(&m, &set, &o);
    if (rc < 0) ml_fatal("%s", ml_errmsg());
    if (rc == 1)
        fprintf(stderr, "moelens: interrupted at step %d; checkpoint saved to %s\n", m.step, ckpt);
    vision_free(&m);
    imageset_free(&set);
    ml_free(ckpt);
    return rc == 1 ? 130 : 0;
}
