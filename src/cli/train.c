/* moelens train lm|vision */
#include "cli/cli.h"
#include "cli/cli_opts.h"
#include "cli/train.h"
#include "core/error.h"
#include "dist/dist.h"
#include "model/lm_train.h"
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static void set_kv(const char *cmd, void *args, const char *v) {
    LmRunArgs *a = args;
    if (a->n_sets == 128) ml_fatal("%s: too many --set options", cmd);
    a->sets[a->n_sets++] = v;
}

#define R(f) offsetof(LmRunArgs, o.f)
static const CliOpt run_opts[] = {
    {"--out", "RUN", OPT_STR, R(out_dir), NULL,
     "run folder: config.json, metrics.jsonl, checkpoint.safetensors,\nmodel.safetensors "
     "(required)"},
    {"--data", "DIR", OPT_STR, R(data_dir), NULL,
     "prepared text folder (moelens data text): DIR/train.tokens,\nDIR/val.tokens, "
     "DIR/tokenizer.txt"},
    {"--set", "key=value", OPT_FN, 0, set_kv,
     "one config key (listed by train lm --help), applied after the rest;\nrepeatable"},
    {"--resume", NULL, OPT_FLAG, R(resume), NULL,
     "continue RUN's checkpoint bit-identically (Ctrl-C saves one and\nexits with status 130)"},
    {"--steps", "N", OPT_INT, R(steps_override), NULL, "with --resume: train on to N steps"},
    {"--stop-after", "N", OPT_INT, R(stop_after), NULL,
     "stop as Ctrl-C would after N steps (to test resuming)"},
};
#undef R

CliOpts lm_run_opts(void) {
    return CLI_OPTS(run_opts);
}

typedef struct {
    LmConfig cfg;
    LmRunArgs run;
} TrainLmArgs;

/* --preset and --config apply where they stand on the command line; --set is applied after all
 * of them, on top. */
static void preset(const char *cmd, void *args, const char *v) {
    if (lm_config_preset(&((TrainLmArgs *)args)->cfg, v)) ml_fatal("%s: %s", cmd, ml_errmsg());
}

static void config_file(const char *cmd, void *args, const char *v) {
    if (lm_config_load_file(&((TrainLmArgs *)args)->cfg, v)) ml_fatal("%s", ml_errmsg());
}

#define O(f) offsetof(TrainLmArgs, run.o.f)
static const CliOpt lm_opts[] = {
    {"--preset", "tiny|small", OPT_FN, 0, preset, "start from a preset (default tiny)"},
    {"--config", "FILE.json", OPT_FN, 0, config_file, "config keys from a JSON file"},
    {"--quiet", NULL, OPT_FLAG, O(quiet), NULL,
     "no progress line (warnings and errors are still printed)"},
    {"--zero1", NULL, OPT_FLAG, O(zero1), NULL,
     "under mpirun: shard the optimizer over the ranks (reduce-scatter +\nall-gather instead "
     "of all-reduce)"},
    {"--ep", "G", OPT_INT, O(ep), NULL,
     "under mpirun: each MoE layer's experts spread over groups of G ranks\n(all-to-all)"},
};
#undef O

static void train_lm_help(void) {
    LmConfig c;
    lm_config_preset(&c, "tiny");
    printf("usage: moelens train lm --out RUN [--data DIR] [--preset tiny|small] [--config "
           "FILE.json]\n"
           "                        [--set key=value ...] [--resume [--steps N]] [--stop-after N]\n"
           "                        [--quiet] [--zero1] [--ep G]\n\n"
           "Trains a GPT-style MoE language model on a prepared text folder (moelens data text).\n"
           "Under mpirun -np N: data parallel, batch split over the ranks (docs/scale.md); mpirun\n"
           "does not pass Ctrl-C on: kill -USR1 MPIRUN_PID saves a checkpoint and stops.\n"
           "DIR defaults to data/text.\n");
    cli_print_tables((CliOpts[]){lm_run_opts(), CLI_OPTS(lm_opts)}, 2);
    printf("\nConfig keys (--set key=value; preset tiny shown):\n");
    lm_config_print_help(&c);
}

static int train_lm(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        train_lm_help();
        return 0;
    }
    const char *cmd = "train lm";
    TrainLmArgs a = {.run.o = {.data_dir = "data/text"}};
    lm_config_preset(&a.cfg, "tiny");
    CliGroup groups[] = {{.opts = lm_run_opts(), .args = &a.run},
                         {.opts = CLI_OPTS(lm_opts), .args = &a}};
    cli_parse_groups(cmd, groups, 2, argc, argv, NULL, 0);
    LmConfig cfg = a.cfg;
    LmTrainOptions o = a.run.o;
    if (!o.out_dir) ml_fatal("%s: --out RUN is required", cmd);
    if (o.resume && a.run.n_sets)
        ml_fatal("%s: --resume continues the saved config; --set is not allowed with it", cmd);
    for (int i = 0; i < a.run.n_sets; i++)
        if (lm_config_set_kv(&cfg, a.run.sets[i])) ml_fatal("%s: %s", cmd, ml_errmsg());
    if (o.steps_override && !o.resume) cfg.steps = o.steps_override;
    int r = lm_train(&cfg, &o);
    if (r < 0) ml_fatal("%s", ml_errmsg());
    return r;
}

static int cmd_train(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: moelens train lm ...      train a MoE language model (moelens train lm "
               "--help)\n"
               "       moelens train vision ...  train the conv MoE with NT-Xent (moelens train "
               "vision --help)\n");
        return argc < 2 ? 1 : 0;
    }
    if (!strcmp(argv[1], "lm")) return train_lm(argc - 1, argv + 1);
    if (!strcmp(argv[1], "vision")) {
        if (dist_size() > 1) ml_fatal("train vision: runs in one process (under mpirun: train lm)");
        return cmd_train_vision(argc - 1, argv + 1);
    }
    ml_fatal("train: unknown model kind '%s' (expected lm or vision)", argv[1]);
}
COMMAND("train", cmd_train, "train a model (lm, vision; see moelens train --help)")
