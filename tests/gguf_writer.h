/* A minimal GGUF v3 writer for tests: string/u32/f32/bool metadata and F32 or F16 tensors. */
#pragma once
#include <stdint.h>

typedef struct GgufWriter GgufWriter;

GgufWriter *gw_new(void);
void gw_str(GgufWriter *w, const char *key, const char *value);
void gw_u32(GgufWriter *w, const char *key, uint32_t value);
void gw_f32(GgufWriter *w, const char *key, float value);
/* A tensor of ne0 × ne1 × ne2 elements (ggml order: ne0 contiguous; ne1/ne2 ≤ 1 = absent) from
 * floats, stored as F32 or (f16 != 0) F16. The data is copied. */
void gw_tensor(GgufWriter *w, const char *name, const float *x, uint64_t ne0, uint64_t ne1,
               uint64_t ne2, int f16);
int gw_write(GgufWriter *w, const char *path); /* writes and frees */
/* Float → half, round to nearest even (as ggml). */
uint16_t gw_f32_to_f16(float f);
