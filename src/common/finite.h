/* Internal: the first non-finite float of an array, so every check that refuses NaN or Inf
 * input (a codec's calibration rows, a hook's vectors, retrieval rows) scans the same way and
 * can name the row and coordinate at fault. */
#ifndef LW_COMMON_FINITE_H
#define LW_COMMON_FINITE_H
#include <stdint.h>

/* Index of the first NaN or infinity among x[0..n), or -1 when every value is finite (n <= 0 too). */
int64_t lw_first_nonfinite(const float *x, int64_t n);

#endif
