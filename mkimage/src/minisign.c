#include "minisign.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIG_ALG_LEN 2
#define SIG_LEN 64
#define SIG_BLOB_LEN (SIG_ALG_LEN + MINISIGN_KEYNUM_LEN + SIG_LEN)       /* 74 */
#define KEY_BLOB_LEN (SIG_ALG_LEN + MINISIGN_KEYNUM_LEN + MINISIGN_PK_LEN) /* 42 */

static const char UNTRUSTED[] = "untrusted comment:";
static const char TRUSTED[] = "trusted comment: ";

typedef struct span {
    const char *p;
    size_t n;
} span;

static bool starts_with(span s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

static span trim(span s)
{
    while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' || s.p[s.n - 1] == '\r'))
        s.n--;
    return s;
}

/* Splits text into at most max lines (without '\n'); returns how many. */
static size_t split_lines(const char *text, size_t len, span *lines, size_t max)
{
    size_t n = 0, pos = 0;
    while (pos < len && n < max) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        lines[n++] = (span){text + pos, end - pos};
        pos = end + 1;
    }
    return n;
}

/* Decodes standard padded base64 to exactly want bytes. */
static bool b64_exact(span s, uint8_t *out, size_t want)
{
    s = trim(s);
    size_t got = 0;
    const char *end = NULL;
    if (s.n == 0 || s.n > 4 * MINISIGN_MAX_FILE)
        return false;
    if (sodium_base642bin(out, want, s.p, s.n, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    return got == want && end == s.p + s.n;
}

static uint64_t keynum_id(const uint8_t k[MINISIGN_KEYNUM_LEN])
{
    uint64_t v = 0;
    for (int i = MINISIGN_KEYNUM_LEN - 1; i >= 0; i--)
        v = v << 8 | k[i];
    return v;
}

static int crypto_ready(mk_err *err)
{
    if (sodium_init() < 0)
        return mk_fail(err, "libsodium: initialisation failed");
    return 0;
}

int minisign_pubkey_parse(const char *text, size_t len, const char *name, minisign_pubkey *out,
                          mk_err *err)
{
    if (crypto_ready(err) < 0)
        return -1;
    if (len > MINISIGN_MAX_FILE)
        return mk_fail(err, "%s: too large for a minisign public key", name);
    span lines[8];
    size_t n = split_lines(text, len, lines, 8);
    for (size_t i = 0; i < n; i++) {
        span l = trim(lines[i]);
        if (l.n == 0 || starts_with(l, UNTRUSTED))
            continue;
        uint8_t blob[KEY_BLOB_LEN];
        if (!b64_exact(l, blob, sizeof blob))
            return mk_fail(err, "%s: not a minisign public key (bad base64 or length)", name);
        if (memcmp(blob, "Ed", SIG_ALG_LEN) != 0)
            return mk_fail(err, "%s: unsupported public key algorithm", name);
        memcpy(out->keynum, blob + SIG_ALG_LEN, MINISIGN_KEYNUM_LEN);
        memcpy(out->pk, blob + SIG_ALG_LEN + MINISIGN_KEYNUM_LEN, MINISIGN_PK_LEN);
        return 0;
    }
    return mk_fail(err, "%s: no minisign public key found", name);
}

int minisign_pubkey_load(const char *key_or_path, minisign_pubkey *out, mk_err *err)
{
    struct stat st;
    if (stat(key_or_path, &st) == 0 && S_ISREG(st.st_mode)) {
        if (st.st_size > MINISIGN_MAX_FILE)
            return mk_fail(err, "%s: too large for a minisign public key", key_or_path);
        char buf[MINISIGN_MAX_FILE];
        int fd = open(key_or_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return mk_fail_errno(err, errno, "%s: cannot open", key_or_path);
        ssize_t n = read(fd, buf, sizeof buf);
        int e = errno;
        close(fd);
        if (n < 0)
            return mk_fail_errno(err, e, "%s: read error", key_or_path);
        return minisign_pubkey_parse(buf, (size_t)n, key_or_path, out, err);
    }
    /* Not a file: a base64 key string. Keep error messages short and readable. */
    size_t len = strnlen(key_or_path, 128);
    if (minisign_pubkey_parse(key_or_path, len, "public key", out, err) < 0)
        return mk_fail(err, "%.100s: neither a public key file nor a minisign public key",
                       key_or_path);
    return 0;
}

int minisign_verify(const minisign_pubkey *pk, const char *sig_text, size_t sig_len,
                    const char *sig_name, const void *msg, size_t msg_len, char *trusted,
                    size_t trusted_size, mk_err *err)
{
    if (crypto_ready(err) < 0)
        return -1;
    if (sig_len > MINISIGN_MAX_FILE)
        return mk_fail(err, "%s: too large for a minisign signature", sig_name);
    span l[4];
    if (split_lines(sig_text, sig_len, l, 4) < 4 || !starts_with(l[0], UNTRUSTED) ||
        !starts_with(l[2], TRUSTED))
        return mk_fail(err, "%s: not a minisign signature file", sig_name);

    uint8_t blob[SIG_BLOB_LEN];
    if (!b64_exact(l[1], blob, sizeof blob))
        return mk_fail(err, "%s: malformed signature line", sig_name);
    bool prehashed;
    if (memcmp(blob, "ED", SIG_ALG_LEN) == 0)
        prehashed = true;
    else if (memcmp(blob, "Ed", SIG_ALG_LEN) == 0)
        prehashed = false;
    else
        return mk_fail(err, "%s: unsupported signature algorithm", sig_name);
    const uint8_t *keynum = blob + SIG_ALG_LEN;
    const uint8_t *sig = keynum + MINISIGN_KEYNUM_LEN;
    if (memcmp(keynum, pk->keynum, MINISIGN_KEYNUM_LEN) != 0)
        return mk_fail(err, "%s: made with key %016" PRIX64 ", not with the given key %016" PRIX64,
                       sig_name, keynum_id(keynum), keynum_id(pk->keynum));

    int ok;
    if (prehashed) {
        uint8_t h[crypto_generichash_BYTES_MAX]; /* BLAKE2b-512 */
        crypto_generichash(h, sizeof h, msg, msg_len, NULL, 0);
        ok = crypto_sign_verify_detached(sig, h, sizeof h, pk->pk);
    } else {
        ok = crypto_sign_verify_detached(sig, msg, msg_len, pk->pk);
    }
    if (ok != 0)
        return mk_fail(err, "%s: signature verification failed (file altered or wrong key)",
                       sig_name);

    /* The trusted comment is only trustworthy once the global signature checks. */
    span tc = l[2];
    tc.p += strlen(TRUSTED);
    tc.n -= strlen(TRUSTED);
    if (tc.n > 0 && tc.p[tc.n - 1] == '\r')
        tc.n--;
    if (tc.n > MINISIGN_COMMENT_MAX)
        return mk_fail(err, "%s: trusted comment too long", sig_name);
    uint8_t global[SIG_LEN];
    if (!b64_exact(l[3], global, sizeof global))
        return mk_fail(err, "%s: malformed global signature line", sig_name);
    uint8_t signed_part[SIG_LEN + MINISIGN_COMMENT_MAX];
    memcpy(signed_part, sig, SIG_LEN);
    memcpy(signed_part + SIG_LEN, tc.p, tc.n);
    if (crypto_sign_verify_detached(global, signed_part, SIG_LEN + tc.n, pk->pk) != 0)
        return mk_fail(err, "%s: trusted comment signature verification failed", sig_name);
    if (trusted && trusted_size > 0) {
        size_t n = tc.n < trusted_size - 1 ? tc.n : trusted_size - 1;
        memcpy(trusted, tc.p, n);
        trusted[n] = 0;
    }
    return 0;
}
