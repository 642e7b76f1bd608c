/* Internal: the one reader of the Microsoft Research Paraphrase Corpus files
 * (../shared/data/mrpc/msr_paraphrase_{train,test}.txt, see its PROVENANCE.md) that the probes,
 * `paraphrase generate` and the alignment corpus share, so that a malformed file gets the same
 * one-line error whichever of them reads it. */
#ifndef LW_IO_MRPC_H
#define LW_IO_MRPC_H

/* One data line: Quality (0 or 1: a person judged the two strings paraphrases), the two
 * sentence IDs (integers) and the two strings (non-empty). The strings point into the
 * reader's line buffer: valid during the callback only. */
typedef struct {
    int quality;
    const char *id1, *id2, *s1, *s2;
    long line_no; /* 1-based, the header being line 1 */
} lw_mrpc_pair;

/* Returns 0 to go on; anything else stops the reading, and lw_mrpc_each returns -1 (error set by fn). */
typedef int (*lw_mrpc_fn)(const lw_mrpc_pair *pair, void *ud);

/* Reads path (a regular file): the header line "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String",
 * then one pair per line, lines ending in "\n" or "\r\n" (a UTF-8 byte-order mark before the
 * header is taken off). Calls fn for each pair in file order.
 * Any departure (no header, a blank line, a missing or extra field, a Quality other than 0 or
 * 1, an ID that is not an integer, an empty string, a carriage return or NUL inside a line, no
 * pairs at all) is one error "FILE:LINE: field N (NAME) ...: ..." and -1, before or after
 * some pairs were passed to fn. */
int lw_mrpc_each(const char *path, lw_mrpc_fn fn, void *ud);

#endif
