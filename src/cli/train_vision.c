/* `moelens train vision`: trains the convolutional MoE with NT-Xent on an image set. */
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/train.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "data/images.h"
#include "model/vision_pairs.h"
#include "model/vision_train.h"
#include <signal.h>
#include <stddef.h>
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

typedef struct {
    const char *out, *data, *preset, *config;
    const char *sets[64];
    int n_sets, resume, quiet, max_images, ckpt_every;
} Args;

static void set_kv(const char *cmd, void *args, const char *v) {
    Args *a = args;
    if (a->n_sets == 64) ml_fatal("%s: too many --set options", cmd);
    a->sets[a->n_sets++] = v;
}

#define A(f) offsetof(Args, f)
static const CliOpt opts[] = {
    {"--out", "RUN", OPT_STR, A(out), NULL,
     "run folder: config.json, metrics.jsonl, model.safetensors, eval.json"},
    {"--data", "SET", OPT_STR, A(data), NULL,
     "Fashion-MNIST/IDX folder, CIFAR binaries, PNG folder or prepared set"},
    {"--preset", "P", OPT_STR, A(preset), NULL,
     "tiny (default), small or study (the Beyond Routing study)"},
    {"--config", "FILE.json", OPT_STR, A(config), NULL,
     "config keys from a JSON file, over the preset (e.g. another run's\nconfig.json); --set "
     "applies after it"},
    {"--set", "key=value", OPT_FN, 0, set_kv,
     "override a config key (e.g. n_experts=8 top_k=1 router=cosine\nrouter_noise=1 tau=0.2 "
     "steps=1000 lr=1e-3 seed=2 batch=128\naug_crop_min=0.3 aug_blur=0.5 ...; keys below)"},
    {"--resume", NULL, OPT_FLAG, A(resume), NULL,
     "continue RUN from its checkpoint (bit-identical to an unbroken run)"},
    {"--max-images", "N", OPT_INT, A(max_images), NULL, "load at most N images per split"},
    {"--ckpt-every", "N", OPT_INT, A(ckpt_every), NULL, "checkpoint every N steps (default 100)"},
    {"--quiet", NULL, OPT_FLAG, A(quiet), NULL, "no progress line"},
};
#undef A

static void help(void) {
    printf("usage: moelens train vision --out RUN --data SET [--preset tiny|small|study]\n"
           "                            [--config FILE.json] [--set key=value ...] [--resume]\n"
           "                            [--max-images N]"
           " [--ckpt-every N] [--quiet]\n\n"
           "Trains the sparsely-gated convolutional MoE with SimCLR's NT-Xent loss "
           "(docs/vision.md).\n");
    cli_print_opts(CLI_OPTS(opts));
    printf("Ctrl-C saves a checkpoint and exits (status 130); --resume continues.\n\n"
           "Keys (--set key=value; the tiny preset's value):\n");
    VisionConfig c;
    vision_preset(&c, "tiny");
    vision_config_print_help(&c);
}

int cmd_train_vision(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) return help(), 0;
    Args args = {.preset = "tiny", .ckpt_every = 100};
    cli_parse("train vision", CLI_OPTS(opts), &args, argc, argv, NULL, 0);
    const char *out = args.out, *data = args.data, *preset = args.preset;
    const char *const *sets = args.sets;
    int n_sets = args.n_sets, resume = args.resume, quiet = args.quiet;
    long max_images = args.max_images, ckpt_every = args.ckpt_every;
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
        if (args.config && vision_config_load_file(&cfg, args.config) != 0)
            ml_fatal("train vision: --config %s", ml_errmsg());
        cfg.in_ch = set.channels, cfg.img = set.size, cfg.threads = threads;
        for (int i = 0; i < n_sets; i++)
            if (vision_config_set(&cfg, sets[i]) != 0) ml_fatal("train vision: %s", ml_errmsg());
        if (cfg.aug_pair_style > 0 && style_pairs_check(&set) != 0)
            ml_fatal("train vision: --data %s: %s", data, ml_errmsg());
        if (cfg.gate_style_mi > 0 && vision_style_labels_check(&set) != 0)
            ml_fatal("train vision: --data %s: %s", data, ml_errmsg());
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
