#include "cpio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_io.h"
#include "outfile.h"

/* newc names are limited by the kernel's PATH_MAX; refuse longer ones up front. */
#define CPIO_NAME_MAX 4095

void cpio_begin(cpio_writer *w, int fd, uint32_t mtime, const char *label)
{
    w->fd = fd;
    w->mtime = mtime;
    w->next_ino = 1;
    w->offset = 0;
    w->label = label ? label : "cpio archive";
    w->used = 0;
}

static int flush_buf(cpio_writer *w, mk_err *err)
{
    if (cm_write_all(w->fd, w->buf, w->used) < 0)
        return mk_fail_errno(err, errno, "%s: write", w->label);
    w->used = 0;
    return 0;
}

static int put(cpio_writer *w, const void *data, size_t len, mk_err *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        if (w->used == sizeof w->buf && flush_buf(w, err) < 0)
            return -1;
        size_t room = sizeof w->buf - w->used;
        size_t n = len < room ? len : room;
        memcpy(w->buf + w->used, p, n);
        w->used += n;
        w->offset += n;
        p += n;
        len -= n;
    }
    return 0;
}

/* newc aligns both the header+name and the file data to 4 bytes. */
static int pad4(cpio_writer *w, mk_err *err)
{
    static const unsigned char zeros[4];
    size_t pad = (size_t)((4 - (w->offset & 3)) & 3);
    return pad ? put(w, zeros, pad, err) : 0;
}

static int entry(cpio_writer *w, const char *name, uint32_t mode, uint32_t nlink,
                 uint32_t rmajor, uint32_t rminor, const void *data, size_t len, mk_err *err)
{
    while (name[0] == '/')
        name++;
    size_t namelen = strlen(name);
    if (namelen == 0 || namelen > CPIO_NAME_MAX)
        return mk_fail(err, "%s: invalid entry name \"%s\"", w->label, name);
    if (len > UINT32_MAX)
        return mk_fail(err, "%s: %s: too large for cpio newc (max 4 GiB)", w->label, name);
    /* The trailer itself has inode 0, like GNU cpio writes it. */
    uint32_t ino = strcmp(name, "TRAILER!!!") == 0 ? 0 : w->next_ino++;
    char hdr[111];
    /* magic ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor
     * namesize check: thirteen 8-digit hex fields after the magic. */
    snprintf(hdr, sizeof hdr,
             "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0u, 0u,
             nlink, w->mtime, (uint32_t)len, 0u, 0u, rmajor, rminor, (uint32_t)(namelen + 1),
             0u);
    if (put(w, hdr, 110, err) < 0 || put(w, name, namelen + 1, err) < 0 || pad4(w, err) < 0)
        return -1;
    if (len > 0 && (put(w, data, len, err) < 0 || pad4(w, err) < 0))
        return -1;
    return 0;
}

int cpio_add_dir(cpio_writer *w, const char *name, uint32_t mode, mk_err *err)
{
    return entry(w, name, S_IFDIR | (mode & 07777), 2, 0, 0, NULL, 0, err);
}

int cpio_add_file(cpio_writer *w, const char *name, uint32_t mode, const void *data,
                  size_t len, mk_err *err)
{
    return entry(w, name, S_IFREG | (mode & 07777), 1, 0, 0, data, len, err);
}

int cpio_add_symlink(cpio_writer *w, const char *name, const char *target, mk_err *err)
{
    /* A symlink's "data" is its target, without a terminating NUL. */
    return entry(w, name, S_IFLNK | 0777, 1, 0, 0, target, strlen(target), err);
}

int cpio_add_node(cpio_writer *w, const char *name, uint32_t mode, uint32_t major,
                  uint32_t minor, mk_err *err)
{
    uint32_t type = mode & S_IFMT;
    if (type != S_IFCHR && type != S_IFBLK)
        return mk_fail(err, "%s: %s: not a device node type", w->label, name);
    return entry(w, name, type | (mode & 07777), 1, major, minor, NULL, 0, err);
}

int cpio_finish(cpio_writer *w, mk_err *err)
{
    static const unsigned char zeros[512];
    if (entry(w, "TRAILER!!!", 0, 1, 0, 0, NULL, 0, err) < 0)
        return -1;
    /* Block-align the end like cpio(1) does; the kernel skips trailing zeros. */
    size_t pad = (size_t)((512 - (w->offset & 511)) & 511);
    if (pad && put(w, zeros, pad, err) < 0)
        return -1;
    return flush_buf(w, err);
}
