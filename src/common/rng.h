/* The project's seeded pseudo-random generator (xoshiro256** seeded by splitmix64):
 * identical streams on every platform, so every sampled distractor and bootstrap
 * resample is reproducible from the recorded seed. */
#ifndef LW_COMMON_RNG_H
#define LW_COMMON_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} lw_rng;

void lw_rng_seed(lw_rng *r, uint64_t seed);
uint64_t lw_rng_next(lw_rng *r);
/* Uniform integer in [0, n) without modulo bias; n >= 1. */
uint64_t lw_rng_below(lw_rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double lw_rng_uniform(lw_rng *r);
/* Fisher-Yates shuffle of a[0..n) in place. */
void lw_rng_shuffle_i32(lw_rng *r, int32_t *a, int64_t n);
/* Standard normal (Box-Muller). */
double lw_rng_normal(lw_rng *r);

#endif
