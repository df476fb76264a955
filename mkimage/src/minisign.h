/* Minisign signature verification (libsodium Ed25519 + BLAKE2b), used to check a
 * release's sha256sum.txt against its sha256sum.sig before trusting any digest in
 * it. Formats (minisign 0.x):
 *   public key: optional "untrusted comment: ..." line, then base64 of
 *               "Ed" | key id (8 bytes) | Ed25519 public key (32 bytes)
 *   signature:  "untrusted comment: ..." / base64 of
 *               "Ed" or "ED" | key id (8) | signature (64) /
 *               "trusted comment: TEXT" / base64 of global signature (64)
 * "Ed" (legacy) signs the file itself; "ED" signs BLAKE2b-512 of the file. The
 * global signature covers signature || TEXT, so the trusted comment is authentic.
 * All inputs are untrusted: sizes are bounded and nothing is allocated from them. */
#ifndef MKIMAGE_MINISIGN_H
#define MKIMAGE_MINISIGN_H

#include <stddef.h>
#include <stdint.h>

#include "mkerr.h"

#define MINISIGN_KEYNUM_LEN 8
#define MINISIGN_PK_LEN 32
#define MINISIGN_MAX_FILE 4096 /* public key and signature files are tiny */
#define MINISIGN_COMMENT_MAX 1024

typedef struct minisign_pubkey {
    uint8_t keynum[MINISIGN_KEYNUM_LEN];
    uint8_t pk[MINISIGN_PK_LEN];
} minisign_pubkey;

/* Parses a .pub file's contents or a bare base64 key; name is used in errors. */
int minisign_pubkey_parse(const char *text, size_t len, const char *name, minisign_pubkey *out,
                          mk_err *err);

/* key_or_path: a path to a .pub file when such a file exists, else a base64 key. */
int minisign_pubkey_load(const char *key_or_path, minisign_pubkey *out, mk_err *err);

/* Verifies sig_text (a .minisig/.sig file's contents, named sig_name in errors)
 * over msg with pk. On success copies the trusted comment into trusted (when
 * non-NULL, NUL-terminated, truncated to trusted_size). */
int minisign_verify(const minisign_pubkey *pk, const char *sig_text, size_t sig_len,
                    const char *sig_name, const void *msg, size_t msg_len, char *trusted,
                    size_t trusted_size, mk_err *err);

#endif
