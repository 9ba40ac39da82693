/* `moelens train lm|vision ...`: dispatch to the model family's trainer. */
#include "cli/cli.h"
#include "cli/train.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

static int cmd_train(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        printf("usage: moelens train vision --out RUN --data SET [options]   (see train vision "
               "--help)\n");
        if (cmd_train_lm) printf("       moelens train lm ...   (see train lm --help)\n");
        return argc < 2 ? 1 : 0;
    }
    if (!strcmp(argv[1], "vision")) return cmd_train_vision(argc - 1, argv + 1);
    if (!strcmp(argv[1], "lm") && cmd_train_lm) return cmd_train_lm(argc - 1, argv + 1);
    ml_fatal("train: unknown model family '%s' (expected %s)", argv[1],
             cmd_train_lm ? "lm or vision" : "vision");
}

COMMAND("train", cmd_train, "train a model: train vision (conv MoE, SimCLR) | train lm")
