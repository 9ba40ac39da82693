/* `moelens train MODEL ...`: src/cli/train.c dispatches to one entry point per model family. */
#pragma once

int cmd_train_vision(int argc, char **argv); /* src/cli/train_vision.c */
