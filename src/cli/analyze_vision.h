/* `moelens analyze RUN --images SET ...` for vision runs (src/cli/analyze_vision.c); analyze.c
 * hands over when the run is a vision run or --images is given. */
#pragma once

/* 1 when argv (analyze's arguments) names a vision run or has --images. */
int analyze_is_vision(int argc, char **argv);
int cmd_analyze_vision(int argc, char **argv);
