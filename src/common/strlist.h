/* Internal: comma-separated lists as every list option and spec reads them. */
#ifndef LW_COMMON_STRLIST_H
#define LW_COMMON_STRLIST_H

/* Splits "a, b,c" at commas into items with the spaces around each removed. An empty list,
 * an empty item ("a,,b", "a,", " ") and an item written twice are errors naming `what`
 * (e.g. "--channel") and the item. On success *items (one malloc'd block: free(*items)
 * frees the array and the strings) holds the count returned; -1 (error set) otherwise. */
int lw_list_split(const char *what, const char *spec, char ***items);

#endif
