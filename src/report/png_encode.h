/* PNG encoding into memory (libpng), for images embedded in the report as data: URIs. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Encodes w×h pixels of 1 (grey), 3 (RGB) or 4 (RGBA) interleaved 8-bit channels, rows top to
 * bottom. *out is malloc'd (free it). -1 + ml_error on bad sizes or a libpng failure. */
int png_encode(const uint8_t *pixels, int w, int h, int channels, unsigned char **out, size_t *n);
