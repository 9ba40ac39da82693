/* moelens train lm|vision */
#include "cli/cli.h"
#include "cli/train.h"
#include "core/error.h"
#include "dist/dist.h"
#include "model/lm_train.h"
#include <stdio.h>
#include <string.h>

static void train_lm_help(void) {
    LmConfig c;
    lm_config_preset(&c, "tiny");
    printf(
        "usage: moelens train lm --out RUN [--data DIR] [--preset tiny|small] [--config "
        "FILE.json]\n"
        "                        [--set key=value ...] [--resume [--steps N]] [--stop-after N]\n"
        "                        [--quiet] [--zero1] [--ep G]\n\n"
        "Trains a GPT-style MoE language model on a prepared text folder (moelens data text):\n"
        "DIR/train.tokens, DIR/val.tokens, DIR/tokenizer.txt (default DIR: data/text).\n"
        "RUN gets config.json, metrics.jsonl, checkpoint.safetensors, model.safetensors.\n"
        "Ctrl-C saves a checkpoint and exits (status 130); --resume continues it bit-identically.\n"
        "--stop-after N stops as Ctrl-C would after N steps (to test resuming).\n"
        "--quiet: no progress line (warnings and errors are still printed).\n"
        "Under mpirun -np N: data parallel, batch split over the ranks (docs/scale.md); --zero1\n"
        "shards the optimizer over them (reduce-scatter + all-gather instead of all-reduce);\n"
        "--ep G runs each MoE layer's experts spread over groups of G ranks (all-to-all).\n"
        "mpirun does not pass Ctrl-C on: kill -USR1 MPIRUN_PID saves a checkpoint and stops.\n\n"
        "Config keys (--set key=value; preset tiny shown):\n");
    lm_config_print_help(&c);
}

static int train_lm(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        train_lm_help();
        return 0;
    }
    LmConfig cfg;
    lm_config_preset(&cfg, "tiny");
    LmTrainOptions o = {.data_dir = "data/text"};
    const char *sets[128];
    int n_sets = 0;
    const char *cmd = "train lm";
    for (int i = 1; i < argc; i++) { /* preset and config file first, then --set on top */
        if (!strcmp(argv[i], "--preset")) {
            if (lm_config_preset(&cfg, cli_value(cmd, argc, argv, &i)))
                ml_fatal("%s: %s", cmd, ml_errmsg());
        } else if (!strcmp(argv[i], "--config")) {
            if (lm_config_load_file(&cfg, cli_value(cmd, argc, argv, &i)))
                ml_fatal("%s", ml_errmsg());
        } else if (!strcmp(argv[i], "--set")) {
            if (n_sets == 128) ml_fatal("%s: too many --set options", cmd);
            sets[n_sets++] = cli_value(cmd, argc, argv, &i);
        } else if (!strcmp(argv[i], "--out")) {
            o.out_dir = cli_value(cmd, argc, argv, &i);
        } else if (!strcmp(argv[i], "--data")) {
            o.data_dir = cli_value(cmd, argc, argv, &i);
        } else if (!strcmp(argv[i], "--resume")) {
            o.resume = 1;
        } else if (!strcmp(argv[i], "--ep")) {
            o.ep = (int)cli_long(cmd, "--ep", cli_value(cmd, argc, argv, &i));
        } else if (!strcmp(argv[i], "--zero1")) {
            o.zero1 = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(argv[i], "--stop-after")) {
            o.stop_after = cli_int_opt(cmd, argc, argv, &i);
        } else if (!strcmp(argv[i], "--steps")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            o.steps_override = (int)cli_long(cmd, "--steps", v);
        } else {
            cli_unknown_option(cmd, argv[i]);
        }
    }
    if (!o.out_dir) ml_fatal("%s: --out RUN is required", cmd);
    if (o.resume && n_sets)
        ml_fatal("%s: --resume continues the saved config; --set is not allowed with it", cmd);
    for (int i = 0; i < n_sets; i++)
        if (lm_config_set_kv(&cfg, sets[i])) ml_fatal("%s: %s", cmd, ml_errmsg());
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
