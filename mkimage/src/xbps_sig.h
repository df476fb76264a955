/* xbps package signatures (OpenSSL).
 *
 * A repository signs each package file F with RSA: "F.sig2" holds a PKCS#1 v1.5
 * signature over SHA-256(F) with a SHA-256 DigestInfo (xbps lib/verifysig.c:
 * RSA_verify(NID_sha256, sha256(F), ...)). The older ".sig" wrapped the same
 * SHA-256 in a SHA-1 DigestInfo; it is not accepted here.
 *
 * Keys are PEM "PUBLIC KEY"s; xbps names them by their fingerprint: the MD5 of the
 * OpenSSH "ssh-rsa" wire encoding of (e, n), as colon-separated lowercase hex
 * (xbps_pubkey2fp; equal to `ssh-keygen -l -E md5`), and looks the trusted ones up in
 * /var/db/xbps/keys/<fingerprint>.plist. */
#ifndef MKIMAGE_XBPS_SIG_H
#define MKIMAGE_XBPS_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "mkerr.h"

#define XBPS_FP_LEN 47 /* 16 bytes as "xx:" * 16 minus the last colon */
#define XBPS_SIG_MAX 2048 /* an RSA-16384 signature; real ones are 512 bytes */

/* The fingerprint of an RSA public key given as PEM. */
int xbps_key_fingerprint(const char *pem, size_t len, char fp[XBPS_FP_LEN + 1], mk_err *err);

/* Verifies sig (the .sig2 file's bytes) over the file digest sha256 with the key.
 * label names the package in errors: "LABEL: signature does not match the key FP". */
int xbps_sig2_verify(const char *pem, size_t pemlen, const uint8_t sha256[32], const void *sig,
                     size_t siglen, const char *label, mk_err *err);

#endif
