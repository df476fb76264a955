/* Streaming tarball extraction: libarchive reads and decompresses, tarpath.h
 * decides what may be written, archive_write_disk writes it with full metadata.
 *
 * Speed: a decoder thread reads the archive with large sequential reads
 * (EXTRACT_READ_BLOCK) and decompresses it while the main thread parses tar and
 * creates files, so the two big costs overlap; each entry's data goes from the tar
 * stream buffer straight to write(2), and per entry there is no work beyond the path
 * checks (a few hash lookups) and what archive_write_disk itself needs. */
#include "extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"
#include "tarpath.h"

#define EXTRACT_READ_BLOCK (1u << 20)

/* Metadata is restored exactly (owner by number, never by name: no lookup function is
 * installed). libarchive's NODOTDOT and NOABSOLUTEPATHS back up tarpath.h at the cost
 * of a string scan. Its SECURE_SYMLINKS is NOT used: it opens every parent directory
 * of every entry (measured: 86k openat calls for 10k entries, 1.9 s instead of 1.0 s
 * on tmpfs, several seconds more on ext4). Instead dest must start empty, so every
 * symlink in it was made by this archive and is in our tarpath_links set, which
 * check_entry consults for every entry and hard link target: the same guarantee
 * (nothing is written through a symlink) with a few hash lookups. */
#define EXTRACT_DISK_FLAGS                                                                    \
    (ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |                  \
     ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS)

/* ---- decompression thread ----
 * Decompression (one core's worth of work for xz) and file creation (system calls,
 * the other big cost) overlap: a thread reads the compressed file with large reads
 * and decompresses it with a libarchive "raw" reader, handing fixed-size chunks of
 * tar stream to the main thread's tar reader through a small ring of buffers. */

#define PIPE_CHUNK (1u << 20)
#define PIPE_NBUF 4

typedef struct chunk_buf {
    unsigned char *data;
    ssize_t len; /* 0: end of stream; -1: error (see decode_pipe.err) */
} chunk_buf;

typedef struct decode_pipe {
    int fd;
    unsigned char *inbuf;
    uint64_t consumed;
    progress bar;
    chunk_buf bufs[PIPE_NBUF];
    size_t head, tail, filled; /* ring indices; filled = buffers ready for the reader */
    bool reader_holds;         /* the tar reader still uses bufs[head - 1] */
    bool stop;                 /* the tar reader gave up: decoder must exit */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int err_no;
    char err[512];
} decode_pipe;

/* Compressed input for the decoder: big sequential reads. */
static la_ssize_t raw_read_cb(struct archive *a, void *ctx, const void **out)
{
    decode_pipe *p = ctx;
    for (;;) {
        ssize_t n = read(p->fd, p->inbuf, EXTRACT_READ_BLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            archive_set_error(a, errno, "read error");
            return -1;
        }
        p->consumed += (uint64_t)n;
        progress_update(&p->bar, p->consumed);
        *out = p->inbuf;
        return n;
    }
}

/* Waits for a free buffer; NULL when told to stop. */
static chunk_buf *pipe_free_buf(decode_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    while (!p->stop && p->filled + (p->reader_holds ? 1 : 0) >= PIPE_NBUF)
        pthread_cond_wait(&p->cv, &p->mu);
    chunk_buf *b = p->stop ? NULL : &p->bufs[p->tail];
    pthread_mutex_unlock(&p->mu);
    return b;
}

static void pipe_push(decode_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->tail = (p->tail + 1) % PIPE_NBUF;
    p->filled++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *decoder_main(void *arg)
{
    decode_pipe *p = arg;
    struct archive *raw = archive_read_new();
    struct archive_entry *e;
    chunk_buf *b = pipe_free_buf(p);
    if (!b)
        goto done;
    b->len = 0;
    if (!raw) {
        b->len = -1;
        snprintf(p->err, sizeof p->err, "out of memory");
    } else {
        /* The compressions rootfs tarballs use, all built into libarchive here; not
         * filter_all, which would run external programs (lrzip, lzop...) chosen by
         * the untrusted input's magic bytes. */
        archive_read_support_filter_xz(raw);
        archive_read_support_filter_lzma(raw);
        archive_read_support_filter_zstd(raw);
        archive_read_support_filter_gzip(raw);
        archive_read_support_filter_bzip2(raw);
        archive_read_support_format_raw(raw);
        int r = archive_read_open(raw, p, NULL, raw_read_cb, NULL);
        if (r == ARCHIVE_OK)
            r = archive_read_next_header(raw, &e);
        while (r == ARCHIVE_OK) {
            const void *data;
            size_t size;
            la_int64_t off;
            r = archive_read_data_block(raw, &data, &size, &off);
            if (r != ARCHIVE_OK)
                break;
            /* Chunks of decompressed stream, packed into PIPE_CHUNK buffers. */
            const unsigned char *d = data;
            while (size) {
                size_t room = PIPE_CHUNK - (size_t)b->len;
                size_t n = size < room ? size : room;
                memcpy(b->data + b->len, d, n);
                b->len += (ssize_t)n;
                d += n;
                size -= n;
                if ((size_t)b->len == PIPE_CHUNK) {
                    pipe_push(p);
                    if (!(b = pipe_free_buf(p)))
                        goto done;
                    b->len = 0;
                }
            }
        }
        if (b->len) { /* the last partial chunk, then the end marker or error */
            pipe_push(p);
            if (!(b = pipe_free_buf(p)))
                goto done;
        }
        b->len = 0;
        if (r != ARCHIVE_EOF) {
            b->len = -1;
            p->err_no = archive_errno(raw);
            const char *m = archive_error_string(raw);
            snprintf(p->err, sizeof p->err, "%s", m ? m : "decompression failed");
        }
    }
    pipe_push(p);
done:
    if (raw)
        archive_read_free(raw);
    return NULL;
}

/* Decompressed tar stream for the main thread's reader. */
static la_ssize_t tar_read_cb(struct archive *a, void *ctx, const void **out)
{
    decode_pipe *p = ctx;
    pthread_mutex_lock(&p->mu);
    if (p->reader_holds) { /* libarchive is done with the previous buffer */
        p->reader_holds = false;
        pthread_cond_broadcast(&p->cv);
    }
    while (!p->filled)
        pthread_cond_wait(&p->cv, &p->mu);
    chunk_buf *b = &p->bufs[p->head];
    if (b->len <= 0) { /* end marker or error: leave it queued for any later call */
        ssize_t len = b->len;
        pthread_mutex_unlock(&p->mu);
        if (len < 0) {
            archive_set_error(a, p->err_no ? p->err_no : -1, "%s", p->err);
            return -1;
        }
        return 0;
    }
    p->head = (p->head + 1) % PIPE_NBUF;
    p->filled--;
    p->reader_holds = true;
    pthread_mutex_unlock(&p->mu);
    *out = b->data;
    return b->len;
}

static void pipe_stop(decode_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

typedef struct job {
    const char *archive, *dest;
    char prefix[NAME_MAX + 2]; /* "<basename of dest>/" */
    size_t prefix_len;
    bool root_times;          /* the archive had a root entry: set its times last */
    struct timespec root_ts[2]; /* atime, mtime */
    struct archive *in, *out;
    tarpath_links links;
    extract_stats st;
    char norm[TARPATH_MAX + 1], link_norm[TARPATH_MAX + 1], q[256], q2[256];
    char full[NAME_MAX + 2 + TARPATH_MAX + 1]; /* prefix + normalized name */
} job;

static int fail_read(job *j, const char *entry, mk_err *err)
{
    const char *msg = archive_error_string(j->in);
    if (!msg)
        msg = "unknown error";
    if (!entry && j->st.entries == 0)
        return mk_fail(err, "%s: corrupt, truncated or not a tar archive: %s", j->archive, msg);
    if (entry)
        return mk_fail(err, "%s: truncated or corrupt archive (in entry \"%s\"): %s", j->archive,
                       tarpath_quote(entry, j->q, sizeof j->q), msg);
    return mk_fail(err, "%s: truncated or corrupt archive (after %llu entries): %s", j->archive,
                   (unsigned long long)j->st.entries, msg);
}

static int fail_write(job *j, const char *entry, mk_err *err)
{
    int e = archive_errno(j->out);
    const char *msg = archive_error_string(j->out);
    if (e == ENOSPC || e == EDQUOT)
        return mk_fail(err, "%s: out of disk space while writing entry \"%s\"", j->dest,
                       tarpath_quote(entry, j->q, sizeof j->q));
    return mk_fail(err, "%s: cannot write entry \"%s\": %s", j->dest,
                   tarpath_quote(entry, j->q, sizeof j->q), msg ? msg : "unknown error");
}

static int fail_through(job *j, const char *entry, const char *what, const char *link, mk_err *err)
{
    char target[256] = "";
    snprintf(j->full, sizeof j->full, "%s%s", j->prefix, link);
    ssize_t n = readlink(j->full, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    bool out = tarpath_symlink_escapes(link, target);
    return mk_fail(err, "%s: entry \"%s\": %s goes through symlink \"%s\"%s", j->archive,
                   tarpath_quote(entry, j->q, sizeof j->q), what, tarpath_quote(link, j->q2, sizeof j->q2),
                   out ? " pointing outside the tree" : "");
}

/* Applies the tarpath.h rules to one entry and rewrites its names in normalized form. */
static int check_entry(job *j, struct archive_entry *e, const char *name, mk_err *err)
{
    tarpath_status s = tarpath_normalize(name, j->norm, sizeof j->norm);
    if (s != TARPATH_OK)
        return mk_fail(err, "%s: entry \"%s\": %s", j->archive, tarpath_quote(name, j->q, sizeof j->q),
                       tarpath_reason(s));
    mode_t type = archive_entry_filetype(e);
    const char *hard = archive_entry_hardlink(e);
    if (!j->norm[0] && (type != AE_IFDIR || hard))
        return mk_fail(err, "%s: entry \"%s\": the archive root must be a directory", j->archive,
                       tarpath_quote(name, j->q, sizeof j->q));
    if (!j->norm[0]) {
        /* libarchive sets an existing directory's times at once, and every entry
         * created inside later bumps them: remember them for the end. */
        j->root_times = true;
        j->root_ts[1].tv_sec = archive_entry_mtime(e);
        j->root_ts[1].tv_nsec = archive_entry_mtime_nsec(e);
        if (archive_entry_atime_is_set(e)) {
            j->root_ts[0].tv_sec = archive_entry_atime(e);
            j->root_ts[0].tv_nsec = archive_entry_atime_nsec(e);
        } else {
            j->root_ts[0] = j->root_ts[1];
        }
    }

    char through[TARPATH_MAX + 1];
    if (tarpath_links_through(&j->links, j->norm, through, sizeof through))
        return fail_through(j, name, "path", through, err);
    if (type == AE_IFDIR && !hard && tarpath_links_has(&j->links, j->norm))
        return mk_fail(err, "%s: entry \"%s\": directory would replace symlink \"%s\"",
                       j->archive, tarpath_quote(name, j->q, sizeof j->q),
                       tarpath_quote(j->norm, j->q2, sizeof j->q2));

    if (hard) {
        s = tarpath_normalize(hard, j->link_norm, sizeof j->link_norm);
        if (s != TARPATH_OK)
            return mk_fail(err, "%s: entry \"%s\": hard link target \"%s\": %s", j->archive,
                           tarpath_quote(name, j->q, sizeof j->q), tarpath_quote(hard, j->q2, sizeof j->q2),
                           tarpath_reason(s));
        if (!j->link_norm[0])
            return mk_fail(err, "%s: entry \"%s\": hard link to the archive root", j->archive,
                           tarpath_quote(name, j->q, sizeof j->q));
        if (tarpath_links_through(&j->links, j->link_norm, through, sizeof through))
            return fail_through(j, name, "hard link target", through, err);
        snprintf(j->full, sizeof j->full, "%s%s", j->prefix, j->link_norm);
        archive_entry_set_hardlink(e, j->full);
    } else if (type == AE_IFLNK) {
        const char *target = archive_entry_symlink(e);
        if (!target || !*target)
            return mk_fail(err, "%s: entry \"%s\": symlink with an empty target", j->archive,
                           tarpath_quote(name, j->q, sizeof j->q));
    }
    /* The root entry names dest itself: as "<dest>" seen from its parent it is an
     * ordinary directory entry to libarchive (a "." entry did not get its times). */
    memcpy(j->full, j->prefix, j->prefix_len);
    if (j->norm[0])
        memcpy(j->full + j->prefix_len, j->norm, strlen(j->norm) + 1);
    else
        j->full[j->prefix_len - 1] = '\0';
    archive_entry_set_pathname(e, j->full);
    return 0;
}

static void count(job *j, struct archive_entry *e)
{
    j->st.entries++;
    if (archive_entry_hardlink(e)) {
        j->st.hardlinks++;
        return;
    }
    switch (archive_entry_filetype(e)) {
    case AE_IFREG: j->st.files++; break;
    case AE_IFDIR: j->st.dirs++; break;
    case AE_IFLNK: j->st.symlinks++; break;
    case AE_IFCHR:
    case AE_IFBLK: j->st.devices++; break;
    case AE_IFIFO: j->st.fifos++; break;
    default: break;
    }
}

static int copy_data(job *j, const char *name, mk_err *err)
{
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t off;
        int r = archive_read_data_block(j->in, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK)
            return fail_read(j, name, err);
        if (archive_write_data_block(j->out, buf, size, off) != ARCHIVE_OK)
            return fail_write(j, name, err);
        j->st.bytes += size;
    }
}

static int extract_entries(job *j, mk_err *err)
{
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(j->in, &e);
        if (r == ARCHIVE_EOF)
            break;
        /* Warnings here are character-set conversions of names; the raw bytes are kept. */
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return fail_read(j, NULL, err);
        const char *name = archive_entry_pathname(e);
        if (!name)
            return mk_fail(err, "%s: entry %llu has an unreadable name", j->archive,
                           (unsigned long long)j->st.entries + 1);
        /* Copied: check_entry rewrites the entry's name. Longer than this cannot
         * normalize to TARPATH_MAX bytes except through absurd "./" runs. */
        char orig[2 * TARPATH_MAX];
        if (strlen(name) >= sizeof orig)
            return mk_fail(err, "%s: entry \"%s\": %s", j->archive,
                           tarpath_quote(name, j->q, sizeof j->q), tarpath_reason(TARPATH_TOO_LONG));
        memcpy(orig, name, strlen(name) + 1);
        if (check_entry(j, e, orig, err) < 0)
            return -1;

        bool is_link = archive_entry_filetype(e) == AE_IFLNK && !archive_entry_hardlink(e);
        if (j->norm[0] && tarpath_links_has(&j->links, j->norm)) {
            /* Replacing one of our symlinks (not by a directory: check_entry refused
             * that): remove it first so that libarchive never follows it. */
            if (unlink(archive_entry_pathname(e)) < 0 && errno != ENOENT)
                return mk_fail_errno(err, errno, "%s: replacing symlink \"%s\"", j->dest,
                                     tarpath_quote(orig, j->q, sizeof j->q));
            tarpath_links_remove(&j->links, j->norm);
        }
        if (archive_write_header(j->out, e) != ARCHIVE_OK)
            return fail_write(j, orig, err);
        if (archive_entry_size(e) > 0 && copy_data(j, orig, err) < 0)
            return -1;
        if (archive_write_finish_entry(j->out) != ARCHIVE_OK)
            return fail_write(j, orig, err);

        /* Track symlinks so nothing is later written through them. A hard link to a
         * symlink is a symlink too. */
        if (!is_link && archive_entry_hardlink(e) && tarpath_links_has(&j->links, j->link_norm))
            is_link = true;
        if (is_link) {
            if (tarpath_links_add(&j->links, j->norm) < 0)
                return mk_fail(err, "%s: out of memory", j->archive);
        }
        count(j, e);
    }
    if (j->st.entries == 0)
        return mk_fail(err, "%s: archive contains no entries", j->archive);
    if (archive_write_close(j->out) != ARCHIVE_OK)
        return fail_write(j, "(directory metadata)", err);
    if (j->root_times) {
        j->full[j->prefix_len - 1] = '\0';
        memcpy(j->full, j->prefix, j->prefix_len - 1);
        if (utimensat(AT_FDCWD, j->full, j->root_ts, AT_SYMLINK_NOFOLLOW) < 0)
            return mk_fail_errno(err, errno, "%s: setting its times", j->dest);
    }
    return 0;
}

/* False also when dir cannot be read (the later chdir reports why). */
static bool dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return true;
    bool empty = true;
    for (struct dirent *e; empty && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = false;
    closedir(d);
    return empty;
}

int extract_archive(const char *archive, const char *dest_dir, extract_stats *st, mk_err *err)
{
    int rc = -1;
    int cwd = -1;
    bool thread_started = false;
    pthread_t decoder;
    decode_pipe pp = {.fd = -1};
    pthread_mutex_init(&pp.mu, NULL);
    pthread_cond_init(&pp.cv, NULL);
    job *j = calloc(1, sizeof *j);
    if (!j)
        return mk_fail(err, "%s: out of memory", archive);
    j->archive = archive;
    j->dest = dest_dir;
    tarpath_links_init(&j->links);

    pp.fd = open(archive, O_RDONLY | O_CLOEXEC);
    if (pp.fd < 0) {
        mk_fail_errno(err, errno, "%s", archive);
        goto out;
    }
    struct stat sb;
    if (fstat(pp.fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        mk_fail(err, "%s: not a regular file", archive);
        goto out;
    }
    posix_fadvise(pp.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    pp.inbuf = malloc(EXTRACT_READ_BLOCK);
    bool bufs_ok = pp.inbuf != NULL;
    for (size_t i = 0; i < PIPE_NBUF; i++)
        bufs_ok &= (pp.bufs[i].data = malloc(PIPE_CHUNK)) != NULL;
    j->in = archive_read_new();
    j->out = archive_write_disk_new();
    if (!bufs_ok || !j->in || !j->out) {
        mk_fail(err, "%s: out of memory", archive);
        goto out;
    }
    /* Decompression happens in the decoder thread: this reader sees plain tar. */
    archive_read_support_format_tar(j->in);
    archive_write_disk_set_options(j->out, EXTRACT_DISK_FLAGS);

    /* archive_write_disk works relative to the current directory (absolute paths are
     * refused by SECURE_NOABSOLUTEPATHS), so enter dest_dir's parent, name entries
     * "<basename of dest>/path", and come back afterwards. */
    char real[PATH_MAX];
    if (!realpath(dest_dir, real)) {
        mk_fail_errno(err, errno, "%s", dest_dir);
        goto out;
    }
    if (!dir_is_empty(real)) {
        mk_fail(err, "%s: extraction needs an empty directory", dest_dir);
        goto out;
    }
    char *slash = strrchr(real, '/');
    if (!slash || !slash[1] || strlen(slash + 1) > NAME_MAX) {
        mk_fail(err, "%s: cannot extract into this directory", dest_dir);
        goto out;
    }
    j->prefix_len = (size_t)snprintf(j->prefix, sizeof j->prefix, "%s/", slash + 1);
    if (slash == real)
        slash[1] = '\0'; /* parent is "/" */
    else
        *slash = '\0';
    cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cwd < 0) {
        mk_fail_errno(err, errno, "current directory");
        goto out;
    }
    if (chdir(real) < 0) {
        mk_fail_errno(err, errno, "%s", real);
        goto out;
    }

    progress_begin(&pp.bar, "extract", (uint64_t)sb.st_size);
    /* The decoder takes no signals: the program's handlers run on the main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int terr = pthread_create(&decoder, NULL, decoder_main, &pp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (terr) {
        mk_fail_errno(err, terr, "%s: starting the decompression thread", archive);
        goto out;
    }
    thread_started = true;
    if (archive_read_open(j->in, &pp, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
        fail_read(j, NULL, err);
    else
        rc = extract_entries(j, err);

out:
    if (thread_started) {
        pipe_stop(&pp);
        pthread_join(decoder, NULL);
        progress_end(&pp.bar);
    }
    if (j->out)
        archive_write_free(j->out); /* also applies pending directory metadata */
    if (j->in)
        archive_read_free(j->in);
    if (cwd >= 0) {
        if (fchdir(cwd) < 0 && rc == 0)
            rc = mk_fail_errno(err, errno, "returning to the working directory");
        close(cwd);
    }
    if (pp.fd >= 0)
        close(pp.fd);
    free(pp.inbuf);
    for (size_t i = 0; i < PIPE_NBUF; i++)
        free(pp.bufs[i].data);
    pthread_mutex_destroy(&pp.mu);
    pthread_cond_destroy(&pp.cv);
    if (st)
        *st = j->st;
    tarpath_links_free(&j->links);
    free(j);
    return rc;
}
