/* cpio "newc" (SVR4, magic 070701) writer: the only archive format the Linux kernel
 * unpacks as an initramfs. Written here rather than with libarchive so that every
 * byte is under our control: fixed mtime, sequential inode numbers, uid/gid 0 and
 * no host metadata, so identical inputs give identical archives. */
#ifndef MKIMAGE_CPIO_H
#define MKIMAGE_CPIO_H

#include <stddef.h>
#include <stdint.h>

#include "mkerr.h"

typedef struct cpio_writer {
    int fd;            /* output; the writer never closes it */
    uint32_t mtime;    /* stamped on every entry */
    uint32_t next_ino; /* inode numbers 1, 2, 3... in write order */
    uint64_t offset;   /* bytes written so far */
    const char *label; /* names the output in error messages */
    unsigned char buf[65536];
    size_t used;
} cpio_writer;

/* Starts an archive on fd; label names it in errors (usually its path). */
void cpio_begin(cpio_writer *w, int fd, uint32_t mtime, const char *label);

/* Entry names are relative ("dev/console", not "/dev/console"); a leading "/"
 * is stripped. Permission bits come from mode & 07777. */
int cpio_add_dir(cpio_writer *w, const char *name, uint32_t mode, mk_err *err);
int cpio_add_file(cpio_writer *w, const char *name, uint32_t mode, const void *data,
                  size_t len, mk_err *err);
int cpio_add_symlink(cpio_writer *w, const char *name, const char *target, mk_err *err);
/* Character (S_IFCHR) or block (S_IFBLK) device node; type bits are taken from mode. */
int cpio_add_node(cpio_writer *w, const char *name, uint32_t mode, uint32_t major,
                  uint32_t minor, mk_err *err);

/* Writes the TRAILER!!! entry, pads to a 512-byte boundary and flushes. */
int cpio_finish(cpio_writer *w, mk_err *err);

#endif
