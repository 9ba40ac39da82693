/* Helpers shared by the image loaders (not part of the public interface). */
#pragma once
#include "data/images.h"

/* Allocates pixels, labels, split (zeroed) and the per-level arrays (names NULL). */
void imageset_alloc(ImageSet *set, int n, int channels, int size, int n_levels);
/* Gives level l a name and n classes named "0", "1", … (names may be replaced afterwards). */
void imageset_set_level(ImageSet *set, int l, const char *name, int n_classes);
/* Converts/resizes one CHW image of side `side` and `channels` into set image i. */
void imageset_put(ImageSet *set, int i, const float *chw, int channels, int side);
char **strings_copy(char *const *src, int n);
void strings_free(char **s, int n);
/* Decodes a PNG, composites it on bg (RGB in [0,1]) and stores it, resized, as image i. */
int imageset_put_png(ImageSet *set, int i, const char *path, const float bg[3]);
