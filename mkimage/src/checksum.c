#include "checksum.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blake3.h"
#include "progress.h"

/* Large reads keep syscall overhead negligible next to hashing; 1 MiB also stays
 * well inside L2/L3 so the second digest reads the block from cache. */
#define READ_BUF (1u << 20)

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = 0;
}

void sha256_hex_of(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    to_hex(md, 32, out);
}

bool sha256_hex_normalize(const char *in, char out[65])
{
    char tmp[65];
    for (int i = 0; i < SHA256_HEX_LEN; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false; /* also stops at a NUL before 64 digits */
        tmp[i] = c;
    }
    if (in[SHA256_HEX_LEN] != 0)
        return false;
    tmp[SHA256_HEX_LEN] = 0;
    memcpy(out, tmp, sizeof tmp);
    return true;
}

int hash_file(const char *path, char sha256_hex[65], char blake3_hex[65], mk_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mk_fail_errno(err, errno, "%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return mk_fail_errno(err, e, "%s: cannot stat", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mk_fail(err, "%s: not a regular file", path);
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    unsigned char *buf = malloc(READ_BUF);
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    if (!buf || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        free(buf);
        EVP_MD_CTX_free(sha);
        close(fd);
        return mk_fail(err, "%s: out of memory while hashing", path);
    }
    blake3_hasher b3;
    blake3_hasher_init(&b3);

    progress bar;
    progress_begin(&bar, "verify", (uint64_t)st.st_size);
    uint64_t done = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, READ_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = mk_fail_errno(err, errno, "%s: read error", path);
            break;
        }
        if (n == 0)
            break;
        if (sha256_hex)
            EVP_DigestUpdate(sha, buf, (size_t)n);
        if (blake3_hex)
            blake3_hasher_update(&b3, buf, (size_t)n);
        done += (uint64_t)n;
        progress_update(&bar, done);
    }
    progress_end(&bar);
    if (rc == 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (sha256_hex) {
            EVP_DigestFinal_ex(sha, md, &mdlen);
            to_hex(md, 32, sha256_hex);
        }
        if (blake3_hex) {
            blake3_hasher_finalize(&b3, md, BLAKE3_OUT_LEN);
            to_hex(md, BLAKE3_OUT_LEN, blake3_hex);
        }
    }
    EVP_MD_CTX_free(sha);
    free(buf);
    close(fd);
    return rc;
}
