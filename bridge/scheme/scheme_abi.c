/* Raw Redox schemev2 layouts: see scheme_abi.h and scheme/README.md for the sources. */
#include "scheme_abi.h"

#include <errno.h>
#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Sqe (repr(C)): opcode@0 u8, flags@1 u8, rsvd@2 u16, tag@4 u32, args@8 6*u64, caller@56 u64. */
void scheme_sqe_encode(const scheme_sqe *sqe, uint8_t out[SCHEME_SQE_SIZE])
{
    out[0] = sqe->opcode;
    out[1] = sqe->flags;
    put16(out + 2, sqe->rsvd);
    put32(out + 4, sqe->tag);
    for (int i = 0; i < 6; i++)
        put64(out + 8 + 8 * i, sqe->args[i]);
    put64(out + 56, sqe->caller);
}

void scheme_sqe_decode(const uint8_t in[SCHEME_SQE_SIZE], scheme_sqe *sqe)
{
    sqe->opcode = in[0];
    sqe->flags = in[1];
    sqe->rsvd = get16(in + 2);
    sqe->tag = get32(in + 4);
    for (int i = 0; i < 6; i++)
        sqe->args[i] = get64(in + 8 + 8 * i);
    sqe->caller = get64(in + 56);
}

/* Cqe (repr(C)): flags@0 u8, extra@1 [u8;3], tag@4 u32, result@8 u64. */
void scheme_cqe_encode(const scheme_cqe *cqe, uint8_t out[SCHEME_CQE_SIZE])
{
    out[0] = cqe->flags;
    memcpy(out + 1, cqe->extra, 3);
    put32(out + 4, cqe->tag);
    put64(out + 8, cqe->result);
}

void scheme_cqe_decode(const uint8_t in[SCHEME_CQE_SIZE], scheme_cqe *cqe)
{
    cqe->flags = in[0];
    memcpy(cqe->extra, in + 1, 3);
    cqe->tag = get32(in + 4);
    cqe->result = get64(in + 8);
}

uint32_t scheme_sqe_uid(const scheme_sqe *sqe)
{
    return (uint32_t)sqe->args[5];
}

uint32_t scheme_sqe_gid(const scheme_sqe *sqe)
{
    return (uint32_t)(sqe->args[5] >> 32);
}

void scheme_sqe_set_caller(scheme_sqe *sqe, uint32_t uid, uint32_t gid, uint64_t pid)
{
    sqe->args[5] = (uint64_t)uid | ((uint64_t)gid << 32);
    sqe->caller = pid;
}

static const char *const op_names[SCHEME_OP_COUNT] = {
    "open", "rmdir", "unlink", "close", "dup", "read", "write", "fsize", "fchmod", "fchown",
    "fcntl", "fevent", "sendfd", "fpath", "frename", "fstat", "fstatvfs", "fsync", "ftruncate",
    "futimens", "mmap_prep", "request_mmap", "mremap", "munmap", "msync", "cancel", "getdents",
    "close_msg", "call", "openat", "flink", "recvfd", "unlinkat", "std_fs_call", "detach",
};

const char *scheme_opcode_name(unsigned opcode)
{
    return opcode < SCHEME_OP_COUNT ? op_names[opcode] : NULL;
}

/* Redox's errno table (syscall::error, 1..=131) is Linux's asm-generic numbering, including
 * the two slots Linux leaves as aliases (41 EWOULDBLOCK, 58 EDEADLOCK), which a Linux host
 * never produces. relibc's C headers define EWOULDBLOCK as EAGAIN (11), so a service answering
 * "would block" with EAGAIN is understood by C callers on Redox. */
#define REDOX_MAX_ERRNO 131

int scheme_errno_to_redox(int host_errno)
{
    return host_errno >= 1 && host_errno <= REDOX_MAX_ERRNO ? host_errno : EIO;
}

int scheme_errno_from_redox(int redox_errno)
{
    if (redox_errno == 41)
        return EAGAIN;
    if (redox_errno == 58)
        return EDEADLK;
    return redox_errno >= 1 && redox_errno <= REDOX_MAX_ERRNO ? redox_errno : EIO;
}

uint64_t scheme_result_encode(int64_t v)
{
    if (v >= 0)
        return (uint64_t)v;
    int e = v < -4095 ? EIO : (int)-v;
    return (uint64_t)-(int64_t)scheme_errno_to_redox(e);
}

int64_t scheme_result_decode(uint64_t r)
{
    if (r > UINT64_MAX - 4095)
        return -(int64_t)scheme_errno_from_redox((int)(UINT64_MAX - r + 1));
    return r > (uint64_t)INT64_MAX ? -(int64_t)EOVERFLOW : (int64_t)r;
}

/* Stat (repr(C), x86_64/aarch64 alignment): dev@0 ino@8 mode@16(u16) nlink@20 uid@24 gid@28
 * size@32 blksize@40(u32) blocks@48 mtime@56 mtime_nsec@64(u32) atime@72 atime_nsec@80
 * ctime@88 ctime_nsec@96, size 104. Padding is written as zero. */
void scheme_stat_encode(const scheme_stat *st, uint8_t out[SCHEME_STAT_SIZE])
{
    memset(out, 0, SCHEME_STAT_SIZE);
    put64(out + 0, st->dev);
    put64(out + 8, st->ino);
    put16(out + 16, st->mode);
    put32(out + 20, st->nlink);
    put32(out + 24, st->uid);
    put32(out + 28, st->gid);
    put64(out + 32, st->size);
    put32(out + 40, st->blksize);
    put64(out + 48, st->blocks);
    put64(out + 56, st->mtime);
    put32(out + 64, st->mtime_nsec);
    put64(out + 72, st->atime);
    put32(out + 80, st->atime_nsec);
    put64(out + 88, st->ctime);
    put32(out + 96, st->ctime_nsec);
}

void scheme_stat_decode(const uint8_t in[SCHEME_STAT_SIZE], scheme_stat *st)
{
    st->dev = get64(in + 0);
    st->ino = get64(in + 8);
    st->mode = get16(in + 16);
    st->nlink = get32(in + 20);
    st->uid = get32(in + 24);
    st->gid = get32(in + 28);
    st->size = get64(in + 32);
    st->blksize = get32(in + 40);
    st->blocks = get64(in + 48);
    st->mtime = get64(in + 56);
    st->mtime_nsec = get32(in + 64);
    st->atime = get64(in + 72);
    st->atime_nsec = get32(in + 80);
    st->ctime = get64(in + 88);
    st->ctime_nsec = get32(in + 96);
}

/* StatVfs (repr(C)): bsize@0 u32, blocks@8, bfree@16, bavail@24, size 32. */
void scheme_statvfs_encode(const scheme_statvfs *st, uint8_t out[SCHEME_STATVFS_SIZE])
{
    memset(out, 0, SCHEME_STATVFS_SIZE);
    put32(out + 0, st->bsize);
    put64(out + 8, st->blocks);
    put64(out + 16, st->bfree);
    put64(out + 24, st->bavail);
}

void scheme_statvfs_decode(const uint8_t in[SCHEME_STATVFS_SIZE], scheme_statvfs *st)
{
    st->bsize = get32(in + 0);
    st->blocks = get64(in + 8);
    st->bfree = get64(in + 16);
    st->bavail = get64(in + 24);
}

/* TimeSpec (repr(C)): sec@0 i64, nsec@8 i32, size 16. */
void scheme_timespec_encode(const scheme_timespec *ts, uint8_t out[SCHEME_TIMESPEC_SIZE])
{
    memset(out, 0, SCHEME_TIMESPEC_SIZE);
    put64(out, (uint64_t)ts->sec);
    put32(out + 8, (uint32_t)ts->nsec);
}

void scheme_timespec_decode(const uint8_t in[SCHEME_TIMESPEC_SIZE], scheme_timespec *ts)
{
    ts->sec = (int64_t)get64(in);
    ts->nsec = (int32_t)get32(in + 8);
}

/* Record: header (header_size bytes: inode@0 u64, next_opaque_id@8 u64, record_len@16 u16,
 * kind@18 u8, then zeroes), name bytes, NUL (syscall::dirent::DirentBuf::entry). */
long scheme_dirent_encode(uint8_t *out, size_t cap, uint16_t header_size, uint64_t inode,
                          uint64_t next_opaque_id, uint8_t kind, const char *name,
                          size_t name_len)
{
    if (header_size < SCHEME_DIRENT_HDR_SIZE || name_len == 0 ||
        name_len > (size_t)UINT16_MAX - header_size - 1 || memchr(name, '\0', name_len) ||
        memchr(name, '/', name_len))
        return -1;
    size_t rec = (size_t)header_size + name_len + 1;
    if (rec > cap)
        return 0;
    memset(out, 0, header_size);
    put64(out, inode);
    put64(out + 8, next_opaque_id);
    put16(out + 16, (uint16_t)rec);
    out[18] = kind;
    memcpy(out + header_size, name, name_len);
    out[header_size + name_len] = 0;
    return (long)rec;
}

int scheme_dirent_decode(const uint8_t *buf, size_t len, uint16_t header_size, size_t *off,
                         scheme_dirent *ent)
{
    if (header_size < SCHEME_DIRENT_HDR_SIZE || *off > len)
        return -1;
    size_t left = len - *off;
    if (left == 0)
        return 0;
    if (left < header_size)
        return -1;
    const uint8_t *p = buf + *off;
    size_t rec = get16(p + 16);
    if (rec < (size_t)header_size + 1 || rec > left || p[rec - 1] != 0)
        return -1;
    ent->inode = get64(p);
    ent->next_opaque_id = get64(p + 8);
    ent->kind = p[18];
    ent->name = (const char *)p + header_size;
    ent->name_len = rec - header_size - 1;
    if (memchr(ent->name, '\0', ent->name_len))
        return -1;
    *off += rec;
    return 1;
}

uint32_t scheme_open_flags_decode(uint64_t raw, uint16_t *mode)
{
    uint32_t f = 0;
    if (raw & SCHEME_RAW_O_RDONLY)
        f |= SCHEME_OPEN_READ;
    if (raw & SCHEME_RAW_O_WRONLY)
        f |= SCHEME_OPEN_WRITE;
    if (raw & SCHEME_RAW_O_CREAT)
        f |= SCHEME_OPEN_CREATE;
    if (raw & SCHEME_RAW_O_TRUNC)
        f |= SCHEME_OPEN_TRUNC;
    if (raw & SCHEME_RAW_O_EXCL)
        f |= SCHEME_OPEN_EXCL;
    if (raw & SCHEME_RAW_O_DIRECTORY)
        f |= SCHEME_OPEN_DIRECTORY;
    if (raw & SCHEME_RAW_O_APPEND)
        f |= SCHEME_OPEN_APPEND;
    if (raw & SCHEME_RAW_O_NONBLOCK)
        f |= SCHEME_OPEN_NONBLOCK;
    if (raw & SCHEME_RAW_O_STAT)
        f |= SCHEME_OPEN_STAT;
    if (raw & SCHEME_RAW_O_NOFOLLOW)
        f |= SCHEME_OPEN_NOFOLLOW;
    if (raw & SCHEME_RAW_O_SYMLINK)
        f |= SCHEME_OPEN_SYMLINK;
    if (mode)
        *mode = (uint16_t)(raw & 0xFFFFu);
    return f;
}

uint64_t scheme_open_flags_encode(uint32_t f, uint16_t mode)
{
    uint64_t raw = mode;
    if (f & SCHEME_OPEN_READ)
        raw |= SCHEME_RAW_O_RDONLY;
    if (f & SCHEME_OPEN_WRITE)
        raw |= SCHEME_RAW_O_WRONLY;
    if (f & SCHEME_OPEN_CREATE)
        raw |= SCHEME_RAW_O_CREAT;
    if (f & SCHEME_OPEN_TRUNC)
        raw |= SCHEME_RAW_O_TRUNC;
    if (f & SCHEME_OPEN_EXCL)
        raw |= SCHEME_RAW_O_EXCL;
    if (f & SCHEME_OPEN_DIRECTORY)
        raw |= SCHEME_RAW_O_DIRECTORY;
    if (f & SCHEME_OPEN_APPEND)
        raw |= SCHEME_RAW_O_APPEND;
    if (f & SCHEME_OPEN_NONBLOCK)
        raw |= SCHEME_RAW_O_NONBLOCK;
    if (f & SCHEME_OPEN_STAT)
        raw |= SCHEME_RAW_O_STAT;
    if (f & SCHEME_OPEN_NOFOLLOW)
        raw |= SCHEME_RAW_O_NOFOLLOW;
    if (f & SCHEME_OPEN_SYMLINK)
        raw |= SCHEME_RAW_O_SYMLINK;
    return raw;
}

bool scheme_unlink_is_dir(uint64_t raw_flags)
{
    return (raw_flags & (SCHEME_RAW_AT_REMOVEDIR | SCHEME_RAW_O_DIRECTORY)) != 0;
}
