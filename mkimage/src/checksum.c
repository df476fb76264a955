#include "checksum.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blake3.h"
#include "progress.h"

/* Large reads keep syscall overhead negligible next to hashing; 1 MiB also stays
 * inside L2/L3, so the second digest finds the data in cache. */
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

int hex_digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
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

/* BLAKE3 on a helper thread while the caller's thread reads the file and runs
 * SHA-256: the two digests cost about the same, so this nearly halves the time
 * on a machine with a spare core. Two buffers alternate; job j uses buffer j % 2,
 * so the reader may be one buffer ahead of the helper. */
typedef struct b3_worker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    blake3_hasher h;
    unsigned char *bufs[2];
    size_t len[2];
    uint64_t posted, done; /* jobs handed over / finished */
    bool eof;
} b3_worker;

static void *b3_main(void *arg)
{
    b3_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->done == w->posted && !w->eof)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->done == w->posted)
            break; /* eof and nothing pending */
        uint64_t j = w->done;
        pthread_mutex_unlock(&w->mu);
        blake3_hasher_update(&w->h, w->bufs[j % 2], w->len[j % 2]);
        pthread_mutex_lock(&w->mu);
        w->done++;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Reads fd to the end feeding sha (and b3: on a helper thread when given one,
 * inline otherwise). Returns 0 or an errno value. */
static int hash_stream(int fd, EVP_MD_CTX *sha, blake3_hasher *b3, unsigned char *bufs[2],
                       b3_worker *w, progress *bar)
{
    uint64_t done = 0;
    int rc = 0;
    for (uint64_t i = 0;; i++) {
        unsigned char *buf = bufs[w ? i % 2 : 0];
        if (w) { /* wait until the helper is done with this buffer (job i - 2) */
            pthread_mutex_lock(&w->mu);
            while (i >= 2 && w->done < i - 1)
                pthread_cond_wait(&w->cv, &w->mu);
            pthread_mutex_unlock(&w->mu);
        }
        ssize_t n;
        do
            n = read(fd, buf, READ_BUF);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            rc = n < 0 ? errno : 0;
            break;
        }
        if (w) {
            pthread_mutex_lock(&w->mu);
            w->len[i % 2] = (size_t)n;
            w->posted = i + 1;
            pthread_cond_broadcast(&w->cv);
            pthread_mutex_unlock(&w->mu);
        } else if (b3) {
            blake3_hasher_update(b3, buf, (size_t)n);
        }
        if (sha)
            EVP_DigestUpdate(sha, buf, (size_t)n);
        done += (uint64_t)n;
        progress_update(bar, done);
    }
    return rc;
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

    unsigned char *bufs[2] = {malloc(READ_BUF), malloc(READ_BUF)};
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    if (!bufs[0] || !bufs[1] || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
        free(bufs[0]);
        free(bufs[1]);
        EVP_MD_CTX_free(sha);
        close(fd);
        return mk_fail(err, "%s: out of memory while hashing", path);
    }
    b3_worker w = {.bufs = {bufs[0], bufs[1]}};
    blake3_hasher_init(&w.h);
    pthread_t helper;
    /* A thread only pays off for more than a few buffers of data. */
    bool threaded = sha256_hex && blake3_hex && st.st_size > 4 * (off_t)READ_BUF &&
                    pthread_mutex_init(&w.mu, NULL) == 0;
    if (threaded && pthread_cond_init(&w.cv, NULL) != 0) {
        pthread_mutex_destroy(&w.mu);
        threaded = false;
    }
    if (threaded && pthread_create(&helper, NULL, b3_main, &w) != 0) {
        pthread_cond_destroy(&w.cv);
        pthread_mutex_destroy(&w.mu);
        threaded = false;
    }

    progress bar;
    progress_begin(&bar, "verify", (uint64_t)st.st_size);
    int e = hash_stream(fd, sha256_hex ? sha : NULL, blake3_hex ? &w.h : NULL, bufs,
                        threaded ? &w : NULL, &bar);
    progress_end(&bar);
    if (threaded) {
        pthread_mutex_lock(&w.mu);
        w.eof = true;
        pthread_cond_broadcast(&w.cv);
        pthread_mutex_unlock(&w.mu);
        pthread_join(helper, NULL);
        pthread_cond_destroy(&w.cv);
        pthread_mutex_destroy(&w.mu);
    }
    if (e == 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (sha256_hex) {
            EVP_DigestFinal_ex(sha, md, &mdlen);
            to_hex(md, 32, sha256_hex);
        }
        if (blake3_hex) {
            blake3_hasher_finalize(&w.h, md, BLAKE3_OUT_LEN);
            to_hex(md, BLAKE3_OUT_LEN, blake3_hex);
        }
    }
    EVP_MD_CTX_free(sha);
    free(bufs[0]);
    free(bufs[1]);
    close(fd);
    return e ? mk_fail_errno(err, e, "%s: read error", path) : 0;
}
