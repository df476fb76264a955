/* Checksum lists as published beside release files (untrusted input: may come
 * from any server). Recognised lines, one entry each:
 *   BSD style (Void's sha256sum.txt):  SHA256 (NAME) = HEX     also "SHA256(NAME)= HEX"
 *   GNU style (sha256sum):             HEX  NAME   or   HEX *NAME   (backslash-escaped
 *                                      names when the line starts with '\')
 * Other lines (other digests, comments, blank lines) are ignored. A name matches
 * FILENAME exactly or as "./FILENAME". */
#ifndef MKIMAGE_SUMS_H
#define MKIMAGE_SUMS_H

#include <stddef.h>

#include "mkerr.h"

/* Finds FILENAME's SHA-256 in text[0..len) (need not be NUL-terminated) and writes
 * it lowercased. Fails with "FILENAME: no SHA-256 entry in the checksum list" or
 * "FILENAME: conflicting SHA-256 entries in the checksum list". */
int sums_lookup(const char *text, size_t len, const char *filename, char sha256_hex[65],
                mk_err *err);

#endif
