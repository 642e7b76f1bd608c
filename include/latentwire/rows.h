/* Pairing the rows of two activation files (extract's output): the same text through two
 * models shares its row_id, so rows are joined on it. */
#ifndef LATENTWIRE_ROWS_H
#define LATENTWIRE_ROWS_H

#include <stdint.h>

#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The keys of one file's rows. */
typedef struct {
    const char *label;        /* the file, for messages */
    const int64_t *row_id;    /* n */
    const int32_t *position;  /* n token positions (a --pool none file), or NULL */
    const int32_t *token;     /* n token ids (a --pool none file), or NULL */
    int64_t n;
} lw_row_keys;

typedef enum {
    /* one row per text: a row id may occur once in each file */
    LW_JOIN_ROW_ID = 0,
    /* one row per token of two --pool none files of the same tokenizer: key (row_id,
     * position), and paired rows must hold the same token id (else the tokenizers differ) */
    LW_JOIN_ROW_POSITION = 1,
} lw_join_mode;

/* Pairs the rows of a and b with equal keys, in a's order: fills malloc'd index arrays *ia,
 * *ib (free them; set even when no row pairs). A key that occurs twice in a file is an
 * error naming the file and the first duplicated row id (in file order): pairing it would
 * match rows that are not the same text and position. Returns the number of pairs, or -1
 * with the message set and *ia, *ib NULL. */
int64_t lw_join_rows(const lw_row_keys *a, const lw_row_keys *b, lw_join_mode mode, int64_t **ia, int64_t **ib);

#ifdef __cplusplus
}
#endif
#endif
