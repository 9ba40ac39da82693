/* Seeded, portable random numbers (splitmix64 seeding + xoshiro256**). Same seed, same stream on
 * every machine, so runs are bit-reproducible. */
#pragma once
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
uint32_t rng_below(Rng *r, uint32_t n); /* uniform in [0, n) */
float rng_uniform(Rng *r);              /* uniform in [0, 1) */
float rng_normal(Rng *r);               /* standard normal (Box-Muller) */
/* Advances the stream as n calls of rng_uniform / rng_normal would (another rank's draws). */
void rng_skip_uniform(Rng *r, long n);
void rng_skip_normal(Rng *r, long n);
void rng_fill_normal(Rng *r, float *x, long n, float std);
void rng_fill_uniform(Rng *r, float *x, long n, float lo, float hi);
