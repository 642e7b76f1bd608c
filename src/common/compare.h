/* Internal: qsort comparators used across the library. */
#ifndef LW_COMMON_COMPARE_H
#define LW_COMMON_COMPARE_H

/* Ascending int64_t. */
int lw_cmp_i64(const void *a, const void *b);

#endif
