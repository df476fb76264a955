/* File digests: SHA-256 (OpenSSL EVP, what Void's sha256sum.txt lists) and BLAKE3
 * (what cookbook recipes pin sources by), computed together in one read pass so a
 * large tarball is read once. Digests are lowercase hex strings. */
#ifndef MKIMAGE_CHECKSUM_H
#define MKIMAGE_CHECKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkerr.h"

#define SHA256_HEX_LEN 64

/* Hashes the file at path; either output may be NULL when not wanted.
 * Shows a progress bar ("verify") on a TTY for large files. */
int hash_file(const char *path, char sha256_hex[65], char blake3_hex[65], mk_err *err);

/* SHA-256 of a memory buffer (used e.g. to derive cache names from URLs). */
void sha256_hex_of(const void *data, size_t len, char out[65]);

/* Accepts exactly 64 hex digits (either case) and writes them lowercased to out.
 * Returns false (out untouched) for anything else. */
bool sha256_hex_normalize(const char *in, char out[65]);

/* Value of one hex digit (either case), or -1 when c is not one. */
int hex_digit_value(char c);

#endif
