/* Most exciting inputs (analyze --only mei, docs/vision_analysis.md): each expert's top images and
 * their grids, the array side of mei.c (its step: va_mei; synthesised ones: synth.h). */
#pragma once
#include <stdint.h>

/* idx[0..N) = indices of the N largest s[0..n) (ties: lower index first). Returns min(N, n). */
int mei_top(const double *s, int n, int N, int *idx);
/* Tiles images [·, ch, S, S] (indices idx[0..m)) into a cols-wide grid with a 1-pixel grey
 * border; writes an RGB/grey PNG. */
int mei_write_grid(const char *path, const float *pixels, int ch, int S, const int *idx, int m,
                   int cols);
