#include "xbps_sig.h"

#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

static EVP_PKEY *load_rsa(const char *pem, size_t len, mk_err *err)
{
    if (len == 0 || len > 65536) {
        mk_fail(err, "public key: empty or too large");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        mk_fail(err, "public key: out of memory");
        return NULL;
    }
    EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!k) {
        mk_fail(err, "public key: not a PEM public key");
        return NULL;
    }
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        mk_fail(err, "public key: not an RSA key");
        return NULL;
    }
    return k;
}

/* OpenSSH mpint: 4-byte big-endian length, a 0 byte first when the top bit is set. */
static size_t put_mpint(uint8_t *o, const BIGNUM *b)
{
    int n = BN_num_bytes(b);
    uint8_t tmp[2048];
    if (n <= 0 || n > (int)sizeof tmp)
        return 0;
    BN_bn2bin(b, tmp);
    size_t pad = (tmp[0] & 0x80) ? 1 : 0, len = (size_t)n + pad;
    o[0] = (uint8_t)(len >> 24);
    o[1] = (uint8_t)(len >> 16);
    o[2] = (uint8_t)(len >> 8);
    o[3] = (uint8_t)len;
    if (pad)
        o[4] = 0;
    memcpy(o + 4 + pad, tmp, (size_t)n);
    return 4 + len;
}

int xbps_key_fingerprint(const char *pem, size_t len, char fp[XBPS_FP_LEN + 1], mk_err *err)
{
    EVP_PKEY *k = load_rsa(pem, len, err);
    if (!k)
        return -1;
    BIGNUM *n = NULL, *e = NULL;
    int rc = -1;
    if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e)) {
        mk_fail(err, "public key: cannot read the RSA parameters");
        goto out;
    }
    static const uint8_t hdr[11] = {0, 0, 0, 7, 's', 's', 'h', '-', 'r', 's', 'a'};
    uint8_t blob[11 + 2 * (5 + 2048)];
    size_t off = sizeof hdr;
    memcpy(blob, hdr, off);
    size_t a = put_mpint(blob + off, e);
    size_t b = a ? put_mpint(blob + off + a, n) : 0;
    if (!b) {
        mk_fail(err, "public key: unsupported RSA key size");
        goto out;
    }
    off += a + b;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!EVP_Digest(blob, off, md, &mdlen, EVP_md5(), NULL) || mdlen != 16) {
        mk_fail(err, "public key: MD5 unavailable");
        goto out;
    }
    for (unsigned i = 0; i < 16; i++)
        snprintf(fp + 3 * i, 4, i < 15 ? "%02x:" : "%02x", md[i]);
    rc = 0;
out:
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(k);
    return rc;
}

int xbps_sig2_verify(const char *pem, size_t pemlen, const uint8_t sha256[32], const void *sig,
                     size_t siglen, const char *label, mk_err *err)
{
    char fp[XBPS_FP_LEN + 1];
    if (xbps_key_fingerprint(pem, pemlen, fp, err) < 0)
        return -1;
    if (siglen == 0 || siglen > XBPS_SIG_MAX)
        return mk_fail(err, "%s: signature is empty or too large (%zu bytes)", label, siglen);
    EVP_PKEY *k = load_rsa(pem, pemlen, err);
    if (!k)
        return -1;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
    int ok = c && EVP_PKEY_verify_init(c) > 0 &&
             EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0 &&
             EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) > 0 &&
             EVP_PKEY_verify(c, sig, siglen, sha256, 32) == 1;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(k);
    if (!ok)
        return mk_fail(err, "%s: signature does not match the key %s", label, fp);
    return 0;
}
