/* `moelens train MODEL ...`: src/cli/train.c dispatches to one entry point per model family. */
#pragma once

int cmd_train_vision(int argc, char **argv); /* src/cli/train_vision.c */

/* The options `train lm` and `adapt` share (--out, --data, --set, --resume, --steps,
 * --stop-after), one table parsed as a group (cli_opts.h) into LmRunArgs. */
#include "cli/cli_opts.h"
#include "model/lm_train.h"
typedef struct {
    LmTrainOptions o;
    const char *sets[128]; /* --set key=value, in order, applied after the rest */
    int n_sets;
} LmRunArgs;
CliOpts lm_run_opts(void);
