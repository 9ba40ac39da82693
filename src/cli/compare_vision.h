/* `moelens compare` for vision runs (src/cli/compare_vision.c); compare.c hands over when the
 * first RUN is a vision run. */
#pragma once
int compare_is_vision(int argc, char **argv);
int cmd_compare_vision(int argc, char **argv);
