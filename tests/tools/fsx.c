/* fsx: random file operations with data verification against an in-memory shadow copy, in
 * the spirit of the classic fsx (File System eXerciser), small enough to read.
 *
 *   fsx [-N ops] [-S seed] [-l maxlen] [-o maxio] FILE
 *
 * Operations: write at a random offset (extending the file), read and compare, truncate up
 * or down, fsync, close and reopen, and a whole-file check every 1000 ops and at the end. The
 * first mismatch prints the op number, the operation, the offset and both bytes, and exits 1.
 * The seed is printed, so a failure replays with -S. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *path;
static int fd = -1;
static uint8_t *shadow, *buf;
static size_t size, maxlen, maxio;
static unsigned long op;

static void die(const char *what)
{
    fprintf(stderr, "fsx: op %lu: %s: %s\n", op, what, strerror(errno));
    exit(1);
}

static void check(size_t off, size_t n, const char *what)
{
    ssize_t k = pread(fd, buf, n, (off_t)off);
    if (k < 0)
        die("read");
    size_t want = off >= size ? 0 : (size - off < n ? size - off : n);
    if ((size_t)k != want) {
        fprintf(stderr, "fsx: op %lu (%s): read %zd bytes at %zu, expected %zu (size %zu)\n", op,
                what, k, off, want, size);
        exit(1);
    }
    for (size_t i = 0; i < want; i++)
        if (buf[i] != shadow[off + i]) {
            fprintf(stderr, "fsx: op %lu (%s): byte at %zu is 0x%02x, expected 0x%02x\n", op, what,
                    off + i, buf[i], shadow[off + i]);
            exit(1);
        }
}

static void check_all(const char *what)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        die("fstat");
    if ((size_t)st.st_size != size) {
        fprintf(stderr, "fsx: op %lu (%s): size %lld, expected %zu\n", op, what,
                (long long)st.st_size, size);
        exit(1);
    }
    for (size_t off = 0; off < size; off += maxio)
        check(off, maxio, what);
}

int main(int argc, char **argv)
{
    unsigned long nops = 10000;
    uint64_t seed = 0;
    maxlen = 4u << 20;
    maxio = 256u << 10;
    int c;
    while ((c = getopt(argc, argv, "N:S:l:o:")) != -1) {
        if (c == 'N')
            nops = strtoul(optarg, NULL, 10);
        else if (c == 'S')
            seed = strtoull(optarg, NULL, 10);
        else if (c == 'l')
            maxlen = strtoul(optarg, NULL, 10);
        else if (c == 'o')
            maxio = strtoul(optarg, NULL, 10);
        else
            return 2;
    }
    if (optind + 1 != argc || maxlen == 0 || maxio == 0) {
        fprintf(stderr, "usage: fsx [-N ops] [-S seed] [-l maxlen] [-o maxio] FILE\n");
        return 2;
    }
    if (!seed)
        seed = (uint64_t)getpid() * 2654435761u ^ (uint64_t)time(NULL);
    rng = seed | 1;
    path = argv[optind];
    printf("fsx: %s, %lu ops, seed %llu\n", path, nops, (unsigned long long)seed);
    shadow = calloc(1, maxlen);
    buf = malloc(maxio > maxlen ? maxio : maxlen);
    if (!shadow || !buf)
        return 1;
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("open");
    for (op = 1; op <= nops; op++) {
        unsigned kind = (unsigned)(next() % 100);
        size_t off = (size_t)(next() % maxlen);
        size_t n = 1 + (size_t)(next() % maxio);
        if (off + n > maxlen)
            n = maxlen - off;
        if (kind < 40) { /* write */
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)next();
            if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
                die("write");
            memcpy(shadow + off, buf, n);
            if (off + n > size)
                size = off + n;
        } else if (kind < 80) { /* read */
            check(off, n, "read");
        } else if (kind < 90) { /* truncate */
            size_t ns = (size_t)(next() % maxlen);
            if (ftruncate(fd, (off_t)ns) < 0)
                die("truncate");
            if (ns > size)
                memset(shadow + size, 0, ns - size);
            else
                memset(shadow + ns, 0, size - ns);
            size = ns;
        } else if (kind < 94) {
            if (fsync(fd) < 0)
                die("fsync");
        } else { /* close and reopen */
            if (close(fd) < 0)
                die("close");
            fd = open(path, O_RDWR);
            if (fd < 0)
                die("reopen");
        }
        if (op % 1000 == 0)
            check_all("periodic check");
    }
    check_all("final check");
    close(fd);
    printf("fsx: %lu ops ok\n", nops);
    return 0;
}
