/* `moelens train MODEL ...`: one command, one entry point per model family. A family defines its
 * entry point in its own file (train_vision.c: cmd_train_vision); src/cli/train.c dispatches. */
#pragma once

int cmd_train_vision(int argc, char **argv);
/* Defined by the LM family's train_lm.c when present (weak here, so either builds alone). */
int cmd_train_lm(int argc, char **argv) __attribute__((weak));
