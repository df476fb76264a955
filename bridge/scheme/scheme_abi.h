/* Redox scheme packet ABI (schemev2), the ONE place that knows raw layouts.
 *
 * The kernel hands a scheme daemon 64-byte requests (Sqe) on its scheme socket and takes 16-byte
 * responses (Cqe). Buffers named by a request are caller memory that the kernel has mapped into
 * the daemon; the Sqe carries daemon-visible addresses. Stat, StatVfs, TimeSpec and directory
 * entries are written into / read from those buffers in the redox_syscall crate's repr(C)
 * layouts. Everything here is encoded little-endian byte by byte (every Redox target is LE), so
 * the same code runs in the Linux harness and on Redox, and no raw struct is ever cast.
 *
 * The ABI is versioned and marked unstable upstream; scheme/README.md records which upstream
 * source each number comes from and which are inferences. Nothing outside this module (and
 * scheme_redox.c's syscalls) may depend on a raw number or offset. */
#ifndef BRIDGE_SCHEME_SCHEME_ABI_H
#define BRIDGE_SCHEME_SCHEME_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHEME_SQE_SIZE 64
#define SCHEME_CQE_SIZE 16
#define SCHEME_STAT_SIZE 104
#define SCHEME_STATVFS_SIZE 32
#define SCHEME_TIMESPEC_SIZE 16
/* DirentHeader {u64 inode; u64 next_opaque_id; u16 record_len; u8 kind}, packed. */
#define SCHEME_DIRENT_HDR_SIZE 19

/* Sqe.opcode (syscall::schemev2::Opcode). 0-2 are the legacy path opcodes (removed in
 * redox_syscall 0.7, still decoded by redox-scheme); the rest as in current upstream. */
enum scheme_opcode {
    SCHEME_OP_OPEN = 0, SCHEME_OP_RMDIR = 1, SCHEME_OP_UNLINK = 2,
    SCHEME_OP_CLOSE = 3, SCHEME_OP_DUP = 4, SCHEME_OP_READ = 5, SCHEME_OP_WRITE = 6,
    SCHEME_OP_FSIZE = 7, SCHEME_OP_FCHMOD = 8, SCHEME_OP_FCHOWN = 9, SCHEME_OP_FCNTL = 10,
    SCHEME_OP_FEVENT = 11, SCHEME_OP_SENDFD = 12, SCHEME_OP_FPATH = 13, SCHEME_OP_FRENAME = 14,
    SCHEME_OP_FSTAT = 15, SCHEME_OP_FSTATVFS = 16, SCHEME_OP_FSYNC = 17,
    SCHEME_OP_FTRUNCATE = 18, SCHEME_OP_FUTIMENS = 19,
    SCHEME_OP_MMAP_PREP = 20, SCHEME_OP_REQUEST_MMAP = 21, SCHEME_OP_MREMAP = 22,
    SCHEME_OP_MUNMAP = 23, SCHEME_OP_MSYNC = 24, SCHEME_OP_CANCEL = 25,
    SCHEME_OP_GETDENTS = 26, SCHEME_OP_CLOSE_MSG = 27, SCHEME_OP_CALL = 28,
    SCHEME_OP_OPENAT = 29, SCHEME_OP_FLINK = 30, SCHEME_OP_RECVFD = 31,
    SCHEME_OP_UNLINKAT = 32, SCHEME_OP_STD_FS_CALL = 33, SCHEME_OP_DETACH = 34,
    SCHEME_OP_COUNT = 35
};

/* Sqe.flags: no response is expected (the kernel does not wait). */
#define SCHEME_SQE_ONEWAY 0x01u
/* Cqe.flags low bits (CqeOpcode). */
#define SCHEME_CQE_RESPOND 0u
#define SCHEME_CQE_RESPOND_WITH_FD 1u
#define SCHEME_CQE_SEND_FEVENT 2u
/* Cqe.extra[0] of an open/dup answer (NewFdFlags): the kernel keeps a file offset for the new
 * fd and passes it as the read/write offset argument. Without it, offsets are meaningless
 * (streams: network frames, event files). */
#define SCHEME_FD_POSITIONED 0x01u

/* Event flags (fevent request mask and readiness answer). */
#define SCHEME_EVENT_READ 0x1u
#define SCHEME_EVENT_WRITE 0x2u

/* Redox open flags (syscall::flag O_*); the low 16 bits of an open's flags are the mode. */
#define SCHEME_RAW_O_RDONLY 0x00010000ull
#define SCHEME_RAW_O_WRONLY 0x00020000ull
#define SCHEME_RAW_O_RDWR 0x00030000ull
#define SCHEME_RAW_O_ACCMODE 0x00030000ull
#define SCHEME_RAW_O_NONBLOCK 0x00040000ull
#define SCHEME_RAW_O_APPEND 0x00080000ull
#define SCHEME_RAW_O_CLOEXEC 0x01000000ull
#define SCHEME_RAW_O_CREAT 0x02000000ull
#define SCHEME_RAW_O_TRUNC 0x04000000ull
#define SCHEME_RAW_O_EXCL 0x08000000ull
#define SCHEME_RAW_O_DIRECTORY 0x10000000ull
#define SCHEME_RAW_O_STAT 0x20000000ull
#define SCHEME_RAW_O_SYMLINK 0x40000000ull
#define SCHEME_RAW_O_NOFOLLOW 0x80000000ull
/* unlinkat flag meaning "remove a directory" (inference: relibc's AT_REMOVEDIR). */
#define SCHEME_RAW_AT_REMOVEDIR 0x200ull

/* File type bits of Stat.st_mode (syscall::flag MODE_*, = POSIX S_IF*). */
#define SCHEME_MODE_TYPE 0xF000u
#define SCHEME_MODE_FIFO 0x1000u
#define SCHEME_MODE_CHR 0x2000u
#define SCHEME_MODE_DIR 0x4000u
#define SCHEME_MODE_BLK 0x6000u
#define SCHEME_MODE_FILE 0x8000u
#define SCHEME_MODE_SYMLINK 0xA000u
#define SCHEME_MODE_PERM 0x0FFFu

/* DirentHeader.kind (syscall::dirent::DirentKind, = DT_* values). */
enum scheme_dirent_kind {
    SCHEME_DT_UNKNOWN = 0, SCHEME_DT_CHR = 2, SCHEME_DT_DIR = 4, SCHEME_DT_BLK = 6,
    SCHEME_DT_REG = 8, SCHEME_DT_LNK = 10, SCHEME_DT_SOCK = 12
};

typedef struct scheme_sqe {
    uint8_t opcode;
    uint8_t flags;
    uint16_t rsvd;
    uint32_t tag;
    uint64_t args[6];
    uint64_t caller;    /* caller pid (context id) */
} scheme_sqe;

typedef struct scheme_cqe {
    uint8_t flags;      /* SCHEME_CQE_* */
    uint8_t extra[3];   /* extra[0]: SCHEME_FD_* of an open answer */
    uint32_t tag;       /* the Sqe's tag; event flags for SCHEME_CQE_SEND_FEVENT */
    uint64_t result;    /* value, or -errno (Redox numbering) as u64 */
} scheme_cqe;

/* syscall::data::Stat in portable form. */
typedef struct scheme_stat {
    uint64_t dev, ino;
    uint16_t mode;
    uint32_t nlink, uid, gid;
    uint64_t size;
    uint32_t blksize;
    uint64_t blocks;
    uint64_t mtime, atime, ctime;
    uint32_t mtime_nsec, atime_nsec, ctime_nsec;
} scheme_stat;

typedef struct scheme_statvfs {
    uint32_t bsize;
    uint64_t blocks, bfree, bavail;
} scheme_statvfs;

typedef struct scheme_timespec {
    int64_t sec;
    int32_t nsec;
} scheme_timespec;

/* One decoded directory record; name points into the decoded buffer (not NUL-terminated by
 * this struct: name[name_len] is the record's NUL). */
typedef struct scheme_dirent {
    uint64_t inode;
    uint64_t next_opaque_id;
    uint8_t kind;
    const char *name;
    size_t name_len;
} scheme_dirent;

void scheme_sqe_encode(const scheme_sqe *sqe, uint8_t out[SCHEME_SQE_SIZE]);
void scheme_sqe_decode(const uint8_t in[SCHEME_SQE_SIZE], scheme_sqe *sqe);
void scheme_cqe_encode(const scheme_cqe *cqe, uint8_t out[SCHEME_CQE_SIZE]);
void scheme_cqe_decode(const uint8_t in[SCHEME_CQE_SIZE], scheme_cqe *cqe);

/* Caller identity carried by every request: uid = args[5] low half, gid = high half, pid =
 * Sqe.caller (redox-scheme CallerCtx). */
uint32_t scheme_sqe_uid(const scheme_sqe *sqe);
uint32_t scheme_sqe_gid(const scheme_sqe *sqe);
void scheme_sqe_set_caller(scheme_sqe *sqe, uint32_t uid, uint32_t gid, uint64_t pid);

/* Opcode name for logs ("openat"), or NULL when unknown. */
const char *scheme_opcode_name(unsigned opcode);

/* Host errno (positive, from <errno.h>) <-> Redox errno. Redox numbers 1..131 are Linux's
 * asm-generic table; the mapping is the identity inside that range and EIO outside it. */
int scheme_errno_to_redox(int host_errno);
int scheme_errno_from_redox(int redox_errno);
/* Cqe.result of a value (>= 0) or of -host_errno (< 0). */
uint64_t scheme_result_encode(int64_t value_or_neg_errno);
/* Inverse: >= 0 value, or -host_errno. Values in the top 4095 are errors (Error::demux). */
int64_t scheme_result_decode(uint64_t result);

/* Struct codecs. Encoders write exactly the *_SIZE bytes. */
void scheme_stat_encode(const scheme_stat *st, uint8_t out[SCHEME_STAT_SIZE]);
void scheme_stat_decode(const uint8_t in[SCHEME_STAT_SIZE], scheme_stat *st);
void scheme_statvfs_encode(const scheme_statvfs *st, uint8_t out[SCHEME_STATVFS_SIZE]);
void scheme_statvfs_decode(const uint8_t in[SCHEME_STATVFS_SIZE], scheme_statvfs *st);
void scheme_timespec_encode(const scheme_timespec *ts, uint8_t out[SCHEME_TIMESPEC_SIZE]);
void scheme_timespec_decode(const uint8_t in[SCHEME_TIMESPEC_SIZE], scheme_timespec *ts);

/* Writes one directory record at out (cap bytes free) with a header of header_size bytes
 * (>= SCHEME_DIRENT_HDR_SIZE; the part past the known header is zeroed). Returns the record
 * length, 0 when it does not fit, or -1 when the name is not encodable (empty, too long for
 * u16 record_len, or containing NUL or '/'). */
long scheme_dirent_encode(uint8_t *out, size_t cap, uint16_t header_size, uint64_t inode,
                          uint64_t next_opaque_id, uint8_t kind, const char *name,
                          size_t name_len);
/* Reads the record at *off of buf[0..len). 1: *ent filled and *off advanced; 0: end of the
 * buffer; -1: malformed (record_len short of header + NUL, past the end, or no NUL). */
int scheme_dirent_decode(const uint8_t *buf, size_t len, uint16_t header_size, size_t *off,
                         scheme_dirent *ent);

/* Open flags in portable form (decoded from the raw Redox flags). */
#define SCHEME_OPEN_READ 0x001u
#define SCHEME_OPEN_WRITE 0x002u
#define SCHEME_OPEN_CREATE 0x004u
#define SCHEME_OPEN_TRUNC 0x008u
#define SCHEME_OPEN_EXCL 0x010u
#define SCHEME_OPEN_DIRECTORY 0x020u
#define SCHEME_OPEN_APPEND 0x040u
#define SCHEME_OPEN_NONBLOCK 0x080u
#define SCHEME_OPEN_STAT 0x100u      /* open only to stat (no read/write) */
#define SCHEME_OPEN_NOFOLLOW 0x200u
#define SCHEME_OPEN_SYMLINK 0x400u   /* open the link itself */
uint32_t scheme_open_flags_decode(uint64_t raw, uint16_t *mode);
uint64_t scheme_open_flags_encode(uint32_t flags, uint16_t mode);
bool scheme_unlink_is_dir(uint64_t raw_flags);

#endif
