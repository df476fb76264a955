/* Wire codec for the revm bridge protocol (bridge/PROTOCOL.md, the normative spec).
 *
 * Pure functions over byte buffers: no I/O, no allocation. Both ends link this file; the
 * host treats every byte it decodes as hostile, so every decoder checks every bound and
 * reports malformed input instead of trusting a length.
 * Builds with glibc and with static musl (the guest daemon). */
#ifndef BRIDGE_PROTO_H
#define BRIDGE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC 0x424d5652u /* "RVMB" little-endian */
#define PROTO_VERSION 1
#define PROTO_HDR_SIZE 12
#define PROTO_PREHELLO_MAX_FRAME 4096u
#define PROTO_MAX_FRAME_HARD (1u << 20)
#define PROTO_DEFAULT_MAX_FRAME (256u * 1024u)
#define PROTO_DEFAULT_WINDOW (1u << 20)
#define PROTO_MIN_WINDOW 4096u
#define PROTO_MAX_WINDOW (16u << 20)
#define PROTO_MAX_STR 4096u
#define PROTO_MAX_ARGS 1024u
#define PROTO_MAX_CHANNELS 1024u
#define PROTO_GUEST_CHAN_BIT 0x80000000u

/* The message table: one line per frame type, from which the type enum, the names in logs
 * and the scope and direction checks (proto_msg_info) all come. Scope: where the type may
 * appear (the control channel, any channel, an exec-style channel). Direction: who may send it. */
#define PROTO_MESSAGES(X)                                                    \
    /*  name       value scope              direction */                     \
    X(HELLO,    0x01, PROTO_SCOPE_CONTROL, PROTO_DIR_BOTH)                   \
    X(PING,     0x02, PROTO_SCOPE_CONTROL, PROTO_DIR_BOTH)                   \
    X(PONG,     0x03, PROTO_SCOPE_CONTROL, PROTO_DIR_BOTH)                   \
    X(ERROR,    0x04, PROTO_SCOPE_CONTROL, PROTO_DIR_BOTH)                   \
    X(GOODBYE,  0x05, PROTO_SCOPE_CONTROL, PROTO_DIR_BOTH)                   \
    X(OPEN,     0x10, PROTO_SCOPE_CHANNEL, PROTO_DIR_BOTH)                   \
    X(OPEN_OK,  0x11, PROTO_SCOPE_CHANNEL, PROTO_DIR_BOTH)                   \
    X(CH_ERROR, 0x12, PROTO_SCOPE_CHANNEL, PROTO_DIR_BOTH)                   \
    X(DATA,     0x13, PROTO_SCOPE_CHANNEL, PROTO_DIR_BOTH)                   \
    X(EOF,      0x14, PROTO_SCOPE_CHANNEL, PROTO_DIR_BOTH)                   \
    X(CREDIT,   0x15, PROTO_SCOPE_CHANNEL, PROTO_DIR_BOTH)                   \
    X(CLOSE,    0x16, PROTO_SCOPE_CHANNEL, PROTO_DIR_BOTH)                   \
    X(WINSIZE,  0x20, PROTO_SCOPE_EXEC,    PROTO_DIR_TO_GUEST)               \
    X(SIGNAL,   0x21, PROTO_SCOPE_EXEC,    PROTO_DIR_TO_GUEST)               \
    X(EXIT,     0x22, PROTO_SCOPE_EXEC,    PROTO_DIR_TO_HOST)

enum proto_scope { PROTO_SCOPE_CONTROL = 1, PROTO_SCOPE_CHANNEL, PROTO_SCOPE_EXEC };
enum proto_dir { PROTO_DIR_BOTH = 1, PROTO_DIR_TO_GUEST, PROTO_DIR_TO_HOST };

enum proto_type {
#define PROTO_X_ENUM(name, value, scope, dir) PROTO_##name = value,
    PROTO_MESSAGES(PROTO_X_ENUM)
#undef PROTO_X_ENUM
};

typedef struct proto_msg_info {
    const char *name;
    enum proto_scope scope;
    enum proto_dir dir;
} proto_msg_info;

/* The table entry of a frame type, or NULL for a type version 1 does not define. */
const proto_msg_info *proto_msg(uint8_t type);
/* Whether a frame of this type may come from this sender on this channel: known, sent in its
 * direction, and on the control channel exactly when its scope is the control channel. A
 * receiver answers a frame that fails this as PROTOCOL.md's Errors table says (ENOSYS on
 * chan 0, EPROTO on a channel). */
bool proto_msg_allowed(uint8_t type, uint32_t chan, bool from_guest);

enum proto_service { PROTO_SVC_EXEC = 1, PROTO_SVC_FS = 2, PROTO_SVC_DEVICE = 3,
                     PROTO_SVC_DESKTOP = 4, PROTO_SVC_PACKAGES = 5, PROTO_SVC_WINDOW = 6,
                     PROTO_SVC_DISPLAY = 7 };

enum proto_stream { PROTO_STDIN = 0, PROTO_STDOUT = 1, PROTO_STDERR = 2 };

enum proto_feature { PROTO_F_EXEC = 1u << 0, PROTO_F_PTY = 1u << 1 };

enum proto_exec_flag { PROTO_EXEC_PTY = 1u << 0, PROTO_EXEC_LOGIN = 1u << 1,
                       PROTO_EXEC_NOPATH = 1u << 2 };

/* Errno values on the wire are Linux numbers (PROTOCOL.md, Errors). */
enum proto_errno {
    PROTO_EPERM = 1, PROTO_ENOENT = 2, PROTO_ESRCH = 3, PROTO_EIO = 5, PROTO_E2BIG = 7,
    PROTO_EBADF = 9, PROTO_EAGAIN = 11, PROTO_ENOMEM = 12, PROTO_EACCES = 13, PROTO_EBUSY = 16,
    PROTO_EEXIST = 17, PROTO_EINVAL = 22, PROTO_ENOSPC = 28, PROTO_ENOSYS = 38, PROTO_EPROTO = 71,
    PROTO_EMSGSIZE = 90, PROTO_EPROTONOSUPPORT = 93, PROTO_EOPNOTSUPP = 95, PROTO_ETIMEDOUT = 110,
};

typedef struct proto_hdr {
    uint32_t len;  /* payload bytes */
    uint32_t chan;
    uint8_t type;
    uint8_t flags;
} proto_hdr;

void proto_hdr_encode(uint8_t out[PROTO_HDR_SIZE], const proto_hdr *h);
/* Returns false when h->len > max_frame (a connection error: the stream cannot be trusted). */
bool proto_hdr_decode(const uint8_t in[PROTO_HDR_SIZE], uint32_t max_frame, proto_hdr *h);

/* ---- bounded payload reader: any overrun sets err and returns zeros ---- */
typedef struct proto_rd {
    const uint8_t *p;
    size_t len, off;
    bool err;
} proto_rd;

void proto_rd_init(proto_rd *r, const uint8_t *p, size_t len);
uint8_t proto_rd_u8(proto_rd *r);
uint16_t proto_rd_u16(proto_rd *r);
uint32_t proto_rd_u32(proto_rd *r);
uint64_t proto_rd_u64(proto_rd *r);
/* Points *s into the buffer (not NUL-terminated); rejects > PROTO_MAX_STR and embedded NUL. */
void proto_rd_str(proto_rd *r, const char **s, uint32_t *n);
/* true when no error occurred and every byte was consumed */
bool proto_rd_done(const proto_rd *r);

/* ---- bounded payload writer: overflow sets err ---- */
typedef struct proto_wr {
    uint8_t *p;
    size_t cap, len;
    bool err;
} proto_wr;

void proto_wr_init(proto_wr *w, uint8_t *p, size_t cap);
void proto_wr_u8(proto_wr *w, uint8_t v);
void proto_wr_u16(proto_wr *w, uint16_t v);
void proto_wr_u32(proto_wr *w, uint32_t v);
void proto_wr_u64(proto_wr *w, uint64_t v);
void proto_wr_bytes(proto_wr *w, const void *p, size_t n);
void proto_wr_str(proto_wr *w, const char *s, size_t n);

/* ---- typed messages. Decoders return false on malformed payloads. Decoded strings point
 * into the payload buffer and are NOT NUL-terminated: use the lengths. ---- */
typedef struct proto_str {
    const char *s;
    uint32_t n;
} proto_str;

typedef struct proto_hello {
    uint16_t version_min, version_max;
    uint32_t features, max_frame, window;
    proto_str agent;
} proto_hello;

typedef struct proto_exec_open {
    uint32_t flags;
    uint16_t rows, cols;
    proto_str user, cwd;
    uint32_t argc, envc;
    proto_str argv[PROTO_MAX_ARGS];
    proto_str env[PROTO_MAX_ARGS];
} proto_exec_open;

typedef struct proto_exit {
    uint8_t how; /* 0 exited, 1 killed by signal */
    int32_t value;
    uint8_t core_dumped;
} proto_exit;

/* Each encoder writes a whole frame (header + payload) into out[cap] and returns its size,
 * or 0 when it does not fit (or a string exceeds PROTO_MAX_STR). */
size_t proto_enc_hello(uint8_t *out, size_t cap, const proto_hello *m);
size_t proto_enc_u64(uint8_t *out, size_t cap, uint8_t type, uint64_t v);          /* PING, PONG */
size_t proto_enc_error(uint8_t *out, size_t cap, uint8_t type, uint32_t chan, uint32_t code,
                       const char *text); /* ERROR (chan 0) or CH_ERROR */
size_t proto_enc_empty(uint8_t *out, size_t cap, uint8_t type, uint32_t chan);     /* CLOSE */
size_t proto_enc_exec_open(uint8_t *out, size_t cap, uint32_t chan, const proto_exec_open *m);
size_t proto_enc_open_ok(uint8_t *out, size_t cap, uint32_t chan, uint32_t pid);
/* DATA header only (13 bytes: frame header + stream byte); the caller sends the data after it,
 * so bulk bytes are never copied. Returns PROTO_HDR_SIZE + 1. */
size_t proto_enc_data_hdr(uint8_t *out, uint32_t chan, uint8_t stream, uint32_t n);
size_t proto_enc_stream(uint8_t *out, size_t cap, uint8_t type, uint32_t chan, uint8_t stream); /* EOF */
size_t proto_enc_credit(uint8_t *out, size_t cap, uint32_t chan, uint8_t stream, uint32_t bytes);
size_t proto_enc_winsize(uint8_t *out, size_t cap, uint32_t chan, uint16_t rows, uint16_t cols);
size_t proto_enc_signal(uint8_t *out, size_t cap, uint32_t chan, uint32_t signo);
size_t proto_enc_exit(uint8_t *out, size_t cap, uint32_t chan, const proto_exit *m);
size_t proto_enc_goodbye(uint8_t *out, size_t cap, const char *reason); /* chan 0; NULL = "" */

bool proto_dec_hello(const uint8_t *p, size_t n, proto_hello *m); /* checks magic and bounds */
bool proto_dec_u64(const uint8_t *p, size_t n, uint64_t *v);
bool proto_dec_error(const uint8_t *p, size_t n, uint32_t *code, proto_str *text);
bool proto_dec_open_service(const uint8_t *p, size_t n, uint16_t *service);
bool proto_dec_exec_open(const uint8_t *p, size_t n, proto_exec_open *m); /* after the u16 service */
bool proto_dec_open_ok(const uint8_t *p, size_t n, uint32_t *pid);
bool proto_dec_data(const uint8_t *p, size_t n, uint8_t *stream, const uint8_t **data, size_t *dn);
bool proto_dec_stream(const uint8_t *p, size_t n, uint8_t *stream);
bool proto_dec_credit(const uint8_t *p, size_t n, uint8_t *stream, uint32_t *bytes);
bool proto_dec_winsize(const uint8_t *p, size_t n, uint16_t *rows, uint16_t *cols);
bool proto_dec_signal(const uint8_t *p, size_t n, uint32_t *signo);
bool proto_dec_exit(const uint8_t *p, size_t n, proto_exit *m); /* how, core_dumped in 0..1 */
bool proto_dec_goodbye(const uint8_t *p, size_t n, proto_str *reason);
/* Bounds the decoders enforce beyond "every byte consumed": HELLO magic, version_min <=
 * version_max, max_frame in [PROTO_PREHELLO_MAX_FRAME, PROTO_MAX_FRAME_HARD], window in
 * [PROTO_MIN_WINDOW, PROTO_MAX_WINDOW]; stream bytes (DATA, EOF, CREDIT) <= PROTO_STDERR;
 * argc, envc <= PROTO_MAX_ARGS (argc 0 is accepted: login shell). DATA may carry 0 bytes. */

/* Negotiation (PROTOCOL.md, Control channel). Returns false when the version ranges do not
 * overlap; otherwise fills the agreed version, features, max_frame. */
bool proto_negotiate(const proto_hello *mine, const proto_hello *peer, uint16_t *version,
                     uint32_t *features, uint32_t *max_frame);

/* ---- incremental frame reader for non-blocking streams ----
 * Feed it bytes as they arrive; it yields whole frames. Its buffer is fixed at
 * PROTO_HDR_SIZE + limit, so a hostile peer cannot make it grow. */
typedef struct proto_reader {
    uint32_t limit;  /* max payload accepted (own announced max_frame) */
    uint8_t *buf;    /* caller-provided, PROTO_HDR_SIZE + limit bytes */
    size_t have;
    proto_hdr hdr;
    bool have_hdr;
} proto_reader;

enum proto_read_status { PROTO_NEED_MORE = 0, PROTO_FRAME = 1, PROTO_BAD_FRAME = -1 };

void proto_reader_init(proto_reader *r, uint8_t *buf, uint32_t limit);
/* Consumes up to n bytes from in, sets *used. On PROTO_FRAME, *h and *payload describe one
 * frame valid until the next call. *payload points into buf, or directly into `in` when the
 * whole frame was there and nothing was pending (no copy of bulk data): keep `in` unchanged
 * until the frame is handled. Call again with in + *used for the rest of the bytes. PROTO_BAD_FRAME: header len above limit (connection error). */
int proto_reader_feed(proto_reader *r, const uint8_t *in, size_t n, size_t *used, proto_hdr *h,
                      const uint8_t **payload);

const char *proto_type_name(uint8_t type); /* for logs; "unknown" for unknown types */


/* ==== Desktop service (service 4; PROTOCOL.md, Desktop service) — proto_desktop.c ====
 * Application events travel as records inside the channel's stream-1 DATA bytes, so they
 * get flow control and pass the multiplexer unchanged. Record: u32 len, u8 type, body. */
#define PROTO_APP_MAX_ID 255u
#define PROTO_APP_MAX_TEXT (64u * 1024u)
#define PROTO_APP_MAX_ICON (256u * 1024u)
#define PROTO_APP_MAX_RECORD 330752u /* type + body of the largest APP_ADD, rounded up */

enum proto_app_type { PROTO_APP_ADD = 0x70, PROTO_APP_REMOVE = 0x71, PROTO_APP_SYNC_DONE = 0x72 };

typedef struct proto_app_event {
    uint8_t type;
    proto_str id;           /* APP_ADD, APP_REMOVE */
    const uint8_t *text;    /* APP_ADD: the .desktop file bytes */
    uint32_t text_len;
    proto_str icon_ext;     /* APP_ADD: "", "png" or "svg" */
    const uint8_t *icon;
    uint32_t icon_len;
} proto_app_event;

/* A desktop file id as the spec allows it: 1..255 of [A-Za-z0-9._+-], no leading '.',
 * ending in ".desktop". */
bool proto_app_id_ok(const char *s, size_t n);
/* OPEN frame for the desktop service (u16 service, u32 flags = 0). */
size_t proto_enc_desktop_open(uint8_t *out, size_t cap, uint32_t chan);
/* The request after the u16 service; flags must be 0. */
bool proto_dec_desktop_open(const uint8_t *p, size_t n);
/* Writes one whole record (u32 len included) into out[cap]; 0 when it does not fit or a field
 * breaks a bound (the sender must never produce what the receiver refuses). */
size_t proto_enc_app_record(uint8_t *out, size_t cap, const proto_app_event *ev);
/* Decodes type + body (the len bytes after the u32 len). Pointers refer into p. */
bool proto_dec_app_record(const uint8_t *p, size_t n, proto_app_event *ev);

/* Reassembles records from stream bytes with a fixed buffer (4 + PROTO_APP_MAX_RECORD bytes,
 * the caller's). */
typedef struct proto_app_stream {
    uint8_t *buf;
    size_t have;
} proto_app_stream;
#define PROTO_APP_STREAM_BUF (4u + PROTO_APP_MAX_RECORD)
void proto_app_stream_init(proto_app_stream *s, uint8_t *buf);
/* Consumes up to n bytes, sets *used. PROTO_FRAME: *ev holds a record, valid until the next
 * call. PROTO_NEED_MORE: all n bytes were taken. PROTO_BAD_FRAME: a length out of bounds or a
 * malformed record (the stream cannot continue). */
int proto_app_stream_feed(proto_app_stream *s, const uint8_t *in, size_t n, size_t *used,
                          proto_app_event *ev);
/* ==== end of desktop service ==== */

/* ==== Service channels (PROTOCOL.md, Service channels) — proto_svc.c ====
 * Services 2, 3, 6 and 7 run a helper process in the guest whose stdin/stdout are the
 * channel's streams 0 and 1; both directions carry records: u32 len, then len bytes of
 * u8 type, u32 tag, body. Each service bounds len by its own maximum. */
#define PROTO_SVC_MAX_ARG 1024u
#define PROTO_REC_HDR 9u   /* u32 len, u8 type, u32 tag */
#define PROTO_REC_MIN 5u   /* len covers at least type and tag */

/* True for the services that are record streams served by a guest helper. */
bool proto_svc_is_record_service(uint16_t service);
/* OPEN frame: u16 service, u32 flags, str arg (<= PROTO_SVC_MAX_ARG bytes, no NUL). */
size_t proto_enc_svc_open(uint8_t *out, size_t cap, uint32_t chan, uint16_t service,
                          uint32_t flags, const char *arg, size_t argn);
/* The request after the u16 service. */
bool proto_dec_svc_open(const uint8_t *p, size_t n, uint32_t *flags, proto_str *arg);

/* Writes the 9-byte record header for a body of body_len bytes (len = 5 + body_len). */
void proto_rec_hdr(uint8_t out[PROTO_REC_HDR], uint8_t type, uint32_t tag, size_t body_len);

typedef struct proto_rec {
    uint8_t type;
    uint32_t tag;
    const uint8_t *body;
    size_t body_len;
} proto_rec;

/* Reassembles records from stream bytes with the caller's fixed buffer of
 * 4 + max_record bytes (max_record >= PROTO_REC_MIN): a hostile peer cannot make it grow. */
typedef struct proto_rec_stream {
    uint8_t *buf;
    size_t max_record, have;
} proto_rec_stream;
void proto_rec_stream_init(proto_rec_stream *s, uint8_t *buf, size_t max_record);
/* Consumes up to n bytes, sets *used. PROTO_FRAME: *rec is one record, valid until the next
 * call (it may point into `in` when the whole record was there and nothing was pending).
 * PROTO_NEED_MORE: all n bytes were taken. PROTO_BAD_FRAME: len < PROTO_REC_MIN or above
 * max_record (the stream cannot continue). */
int proto_rec_stream_feed(proto_rec_stream *s, const uint8_t *in, size_t n, size_t *used,
                          proto_rec *rec);
/* ==== end of service channels ==== */

/* ==== Display service (PROTOCOL.md, Display service) — proto_disp.c ====
 * Records of service 7. Decoders check every count, dimension and name against the bounds
 * below: the guest side is untrusted on the host. */
#define PROTO_DISP_MAX_RECORD (4194304u + 64u) /* host to guest (UPDATE pixels + header) */
#define PROTO_DISP_MAX_EVENT 16384u            /* guest to host */
#define PROTO_DISP_MAX_PIXELS 4194304u         /* bytes of pixels in one UPDATE */
#define PROTO_DISP_MAX_DIM 8192u
#define PROTO_DISP_MAX_REFRESH 1000u
#define PROTO_DISP_MAX_CONNS 16u
#define PROTO_DISP_MAX_MODES 64u
#define PROTO_DISP_MAX_NAME 32u
#define PROTO_DISP_MAX_MSG 256u
#define PROTO_DISP_UPDATE_HDR 12u              /* u32 connector, u16 x, y, w, h */

enum proto_disp_type {
    PROTO_DISP_LIST = 0xb0, PROTO_DISP_CONNECTORS = 0xb1, PROTO_DISP_SET_MODE = 0xb2,
    PROTO_DISP_MODE = 0xb3, PROTO_DISP_UPDATE = 0xb4, PROTO_DISP_HOTPLUG = 0xb5,
    PROTO_DISP_OK = 0xbe, PROTO_DISP_ERROR = 0xbf,
};
enum { PROTO_DISP_MODE_PREFERRED = 1u };

typedef struct proto_disp_mode {
    uint16_t w, h, refresh;
    uint8_t flags;           /* PROTO_DISP_MODE_PREFERRED */
} proto_disp_mode;

typedef struct proto_disp_conn {
    uint32_t id;
    uint8_t connected;
    char name[PROTO_DISP_MAX_NAME + 1];
    uint16_t cur_w, cur_h, cur_refresh; /* 0: no mode set by this channel */
    uint8_t nmodes;
    proto_disp_mode modes[PROTO_DISP_MAX_MODES];
} proto_disp_conn;

/* CONNECTORS / HOTPLUG body. The encoder requires valid input (n <= 16, bounded modes and
 * names) and returns 0 when it is not, or when cap is too small. */
size_t proto_disp_enc_conns(uint8_t *out, size_t cap, const proto_disp_conn *c, size_t n);
/* false (with a reason in why, which may be NULL) when anything is out of bounds. */
bool proto_disp_dec_conns(const uint8_t *p, size_t n, proto_disp_conn *c, size_t max,
                          size_t *count, const char **why);

/* SET_MODE and MODE share a body: u32 connector, u16 w, h, refresh. */
size_t proto_disp_enc_mode(uint8_t *out, size_t cap, uint32_t conn, uint16_t w, uint16_t h,
                           uint16_t refresh);
/* any_size: SET_MODE accepts w = h = 0 (preferred); MODE does not. */
bool proto_disp_dec_mode(const uint8_t *p, size_t n, bool any_size, uint32_t *conn,
                         uint16_t *w, uint16_t *h, uint16_t *refresh);

/* UPDATE header (the pixels follow it). */
typedef struct proto_disp_rect {
    uint32_t conn;
    uint16_t x, y, w, h;
} proto_disp_rect;
void proto_disp_enc_update_hdr(uint8_t out[PROTO_DISP_UPDATE_HDR], const proto_disp_rect *r);
/* Checks w, h >= 1, x + w and y + h <= PROTO_DISP_MAX_DIM, and n == header + w * h * 4
 * <= header + PROTO_DISP_MAX_PIXELS; *pixels points into p. */
bool proto_disp_dec_update(const uint8_t *p, size_t n, proto_disp_rect *r,
                           const uint8_t **pixels);

size_t proto_disp_enc_error(uint8_t *out, size_t cap, uint32_t code, const char *msg);
bool proto_disp_dec_error(const uint8_t *p, size_t n, uint32_t *code, proto_str *msg);

/* True when name is 1..32 bytes of [A-Za-z0-9._-]; proto_disp_name_char: one such byte. */
bool proto_disp_name_ok(const char *s, size_t n);
bool proto_disp_name_char(char c);
/* ==== end of display service ==== */

/* ==== Filesystem service (service 2; PROTOCOL.md, Filesystem service) — proto_fs.c ====
 * Records are service-channel records (proto_rec_*). Request bodies are read and written with
 * proto_rd / proto_wr directly; these helpers cover the shared structures and the replies the
 * host decodes from an untrusted guest. */
#define PROTO_FS_MAX_IO (1u << 20)
#define PROTO_FS_MAX_RECORD (PROTO_FS_MAX_IO + 4096u)
#define PROTO_FS_MAX_NAME 255u
#define PROTO_FS_MAX_LINK 4096u
#define PROTO_FS_MAX_XATTR 65536u
#define PROTO_FS_ROOT 1u
#define PROTO_FS_ATTR_SIZE 88u
#define PROTO_FS_VERSION 1u

enum proto_fs_type {
    PROTO_FS_INFO = 0x30, PROTO_FS_LOOKUP = 0x31, PROTO_FS_FORGET = 0x32,
    PROTO_FS_GETATTR = 0x33, PROTO_FS_SETATTR = 0x34, PROTO_FS_READLINK = 0x35,
    PROTO_FS_MKDIR = 0x36, PROTO_FS_MKNOD = 0x37, PROTO_FS_SYMLINK = 0x38, PROTO_FS_LINK = 0x39,
    PROTO_FS_UNLINK = 0x3a, PROTO_FS_RMDIR = 0x3b, PROTO_FS_RENAME = 0x3c, PROTO_FS_OPEN = 0x3d,
    PROTO_FS_CREATE = 0x3e, PROTO_FS_READ = 0x3f, PROTO_FS_WRITE = 0x40,
    PROTO_FS_RELEASE = 0x41, PROTO_FS_FSYNC = 0x42, PROTO_FS_OPENDIR = 0x43,
    PROTO_FS_READDIR = 0x44, PROTO_FS_RELEASEDIR = 0x45, PROTO_FS_STATFS = 0x46,
    PROTO_FS_GETXATTR = 0x47, PROTO_FS_SETXATTR = 0x48, PROTO_FS_LISTXATTR = 0x49,
    PROTO_FS_REMOVEXATTR = 0x4a, PROTO_FS_VOLUMES = 0x4b, PROTO_FS_ERR = 0x4f,
};
enum proto_fs_setattr_valid {
    PROTO_FS_SET_MODE = 1u << 0, PROTO_FS_SET_UID = 1u << 1, PROTO_FS_SET_GID = 1u << 2,
    PROTO_FS_SET_SIZE = 1u << 3, PROTO_FS_SET_ATIME = 1u << 4, PROTO_FS_SET_MTIME = 1u << 5,
    PROTO_FS_SET_ATIME_NOW = 1u << 6, PROTO_FS_SET_MTIME_NOW = 1u << 7,
};
#define PROTO_FS_RENAME_NOREPLACE 1u
#define PROTO_FS_RENAME_EXCHANGE 2u
#define PROTO_FS_INFO_RDONLY 1u

typedef struct proto_fs_attr {
    uint64_t ino, size, blocks;
    uint32_t mode, nlink, uid, gid;
    uint64_t rdev;
    uint32_t blksize;
    int64_t atime, mtime, ctime;
    uint32_t atime_ns, mtime_ns, ctime_ns;
} proto_fs_attr;

typedef struct proto_fs_entry {
    uint64_t node;
    proto_fs_attr attr;
} proto_fs_entry;

void proto_fs_wr_attr(proto_wr *w, const proto_fs_attr *a);
void proto_fs_wr_entry(proto_wr *w, const proto_fs_entry *e);
/* false (and r->err) on a short body or nsec >= 10^9. */
bool proto_fs_rd_attr(proto_rd *r, proto_fs_attr *a);
bool proto_fs_rd_entry(proto_rd *r, proto_fs_entry *e);
/* Whole-body decoders for replies: every byte consumed, every bound checked. */
bool proto_fs_dec_attr(const uint8_t *p, size_t n, proto_fs_attr *a);
bool proto_fs_dec_entry(const uint8_t *p, size_t n, proto_fs_entry *e);
bool proto_fs_dec_u64(const uint8_t *p, size_t n, uint64_t *v); /* OPEN, OPENDIR fh */
bool proto_fs_dec_u32(const uint8_t *p, size_t n, uint32_t *v); /* WRITE, ERR, size queries */
bool proto_fs_dec_create(const uint8_t *p, size_t n, proto_fs_entry *e, uint64_t *fh);

/* One path component as the protocol allows it: 0 when fine, else EINVAL (empty, '/', NUL,
 * "." or "..") or ENAMETOOLONG (> PROTO_FS_MAX_NAME). */
int proto_fs_name_check(const char *s, size_t n);

typedef struct proto_fs_info {
    uint32_t version, max_io, flags;
    proto_str volume, fstype;
} proto_fs_info;
bool proto_fs_dec_info(const uint8_t *p, size_t n, proto_fs_info *m); /* max_io 4096..MAX_IO */

typedef struct proto_fs_statfs {
    uint64_t blocks, bfree, bavail, files, ffree;
    uint32_t bsize, frsize, namemax;
} proto_fs_statfs;
void proto_fs_wr_statfs(proto_wr *w, const proto_fs_statfs *s);
bool proto_fs_dec_statfs(const uint8_t *p, size_t n, proto_fs_statfs *s);

/* READDIR reply, walked one entry at a time. Names are checked: "." and ".." are allowed
 * (node 0), anything else must pass proto_fs_name_check; a plus entry's node must be non-zero
 * for other names. */
typedef struct proto_fs_dirent {
    uint64_t next;
    uint32_t dtype;
    proto_str name;
    proto_fs_entry entry; /* plus only */
} proto_fs_dirent;
typedef struct proto_fs_dirit {
    proto_rd r;
    uint32_t left;
    bool plus;
} proto_fs_dirit;
/* false when the count is missing or larger than the body could hold. */
bool proto_fs_dir_begin(proto_fs_dirit *it, const uint8_t *p, size_t n, bool plus);
/* 1: *d holds an entry; 0: the end, the body fully and correctly consumed; -1: malformed. */
int proto_fs_dir_next(proto_fs_dirit *it, proto_fs_dirent *d);

/* VOLUMES reply, walked the same way. Names pass proto_fs_volume_name_ok. */
typedef struct proto_fs_volume {
    proto_str name, fstype;
    uint64_t size, free;
    uint32_t flags;
} proto_fs_volume;
bool proto_fs_vol_begin(proto_fs_dirit *it, const uint8_t *p, size_t n);
int proto_fs_vol_next(proto_fs_dirit *it, proto_fs_volume *v);
/* A volume name: 1..64 bytes of [A-Za-z0-9._-], not starting with '.'. */
bool proto_fs_volume_name_ok(const char *s, size_t n);
/* ==== end of filesystem service ==== */

/* ==== Window service (PROTOCOL.md, Window service (service 6)) — proto_win.c ====
 * Records of the window service: the guest agent reports top-level windows and damaged
 * pixels, the host sends input, focus, resize, close and clipboard. Decoders check every
 * field's own bounds; checking against the host's window table is bridge/win/'s job. */
#define PROTO_WIN_MAX_DIM 8192u
#define PROTO_WIN_MAX_WINDOWS 1024u
#define PROTO_WIN_MAX_RECT_PIXELS 262144u
#define PROTO_WIN_MAX_RECORD (PROTO_REC_MIN + 17u + 4u * PROTO_WIN_MAX_RECT_PIXELS + 42u)
#define PROTO_WIN_MAX_TITLE 1024u
#define PROTO_WIN_MAX_CLASS 256u
#define PROTO_WIN_MAX_DISPLAY 64u
#define PROTO_WIN_MAX_CLIP 1048576u
#define PROTO_WIN_OVERRIDE 1u /* CREATE flags bit 0 */

enum proto_win_type {
    PROTO_WIN_READY = 0x80, PROTO_WIN_CREATE = 0x81, PROTO_WIN_DESTROY = 0x82,
    PROTO_WIN_MAP = 0x83, PROTO_WIN_GEOMETRY = 0x84, PROTO_WIN_TITLE = 0x85,
    PROTO_WIN_CLASS = 0x86, PROTO_WIN_TRANSIENT = 0x87, PROTO_WIN_DAMAGE = 0x88,
    PROTO_WIN_KEY = 0x89, PROTO_WIN_POINTER = 0x8a, PROTO_WIN_FOCUS = 0x8b,
    PROTO_WIN_RESIZE = 0x8c, PROTO_WIN_CLOSE = 0x8d, PROTO_WIN_REFRESH = 0x8e,
    PROTO_WIN_CLIPBOARD = 0x8f,
};
enum proto_win_enc { PROTO_WIN_ENC_RAW = 0, PROTO_WIN_ENC_RUNS = 1 };

/* One window record, decoded. Which fields mean something depends on type:
 * READY w,h (screen), s1 display; CREATE id,x,y,w,h,flags,aux (transient_for); DESTROY id;
 * MAP id,flags (mapped); GEOMETRY id,x,y,w,h; TITLE id,s1; CLASS id,s1 (instance),s2 (class);
 * TRANSIENT id,aux; DAMAGE id,x,y,w,h,flags (encoding),data,data_len; KEY id,flags (down),
 * aux (keysym); POINTER id,x,y,flags (button),down; FOCUS id,flags; RESIZE id,w,h; CLOSE id;
 * REFRESH id (0 = all); CLIPBOARD s1 (up to PROTO_WIN_MAX_CLIP bytes). Strings point into the
 * record and are not NUL-terminated. */
typedef struct proto_win_msg {
    uint8_t type;
    uint32_t id;
    int32_t x, y;
    uint16_t w, h;
    uint8_t flags, down;
    uint32_t aux;
    proto_str s1, s2;
    const uint8_t *data;
    uint32_t data_len;
} proto_win_msg;

/* The whole record (header included) into out; its length, or 0 when a field is out of its
 * bounds or it does not fit cap. */
size_t proto_win_encode(uint8_t *out, size_t cap, uint32_t tag, const proto_win_msg *m);
/* A record's body; false when malformed (unknown type, field out of bounds, trailing bytes). */
bool proto_win_decode(uint8_t type, const uint8_t *body, size_t n, proto_win_msg *m);
/* Runs encoding (PROTOCOL.md): px[0..npx) into out; bytes written, or 0 when cap is too small
 * (the caller then sends raw). */
size_t proto_win_runs_encode(const uint32_t *px, size_t npx, uint8_t *out, size_t cap);
/* DAMAGE pixels into a w x h rectangle at dst (rows stride_px pixels apart). Writes only
 * inside the rectangle; false (rectangle contents then unspecified) when the data does not
 * give exactly w*h pixels. */
bool proto_win_pixels_decode(uint8_t encoding, const uint8_t *data, size_t n, uint32_t *dst,
                             size_t stride_px, uint16_t w, uint16_t h);
/* ==== end of window service ==== */

/* ==== Device service (PROTOCOL.md, Device service (service 3)) — proto_dev.c ====
 * Record bodies of the device service: the inventory, block requests and completions, NIC
 * frames. Encoders write a body into a caller buffer (0 when it does not fit or a value is
 * out of bounds); decoders check every bound, since the host decodes what a guest sends. */
#define PROTO_DEV_MAX_IO (1u << 20)
#define PROTO_DEV_MAX_RECORD (PROTO_DEV_MAX_IO + 64u)
#define PROTO_DEV_NAME_MAX 64u
#define PROTO_DEV_DRIVER_MAX 64u
#define PROTO_DEV_MODEL_MAX 128u
#define PROTO_DEV_MAX_QUEUE 256u
#define PROTO_DEV_ETH_HDR 14u
#define PROTO_DEV_MIN_MTU 68u
#define PROTO_DEV_MAX_MTU 65535u
#define PROTO_DEV_FRAME_OVERHEAD 18u /* Ethernet header + one VLAN tag */
#define PROTO_DEV_MAX_FRAME (PROTO_DEV_MAX_MTU + PROTO_DEV_FRAME_OVERHEAD)

enum proto_dev_type {
    PROTO_DEV_ADD = 0x50,
    PROTO_DEV_REMOVE = 0x51,
    PROTO_DEV_SYNC = 0x52,
    PROTO_BLK_INFO = 0x58,
    PROTO_BLK_READ = 0x59,
    PROTO_BLK_WRITE = 0x5a,
    PROTO_BLK_FLUSH = 0x5b,
    PROTO_BLK_TRIM = 0x5c,
    PROTO_BLK_DONE = 0x5d,
    PROTO_NET_INFO = 0x60,
    PROTO_NET_FRAME = 0x61,
};
enum proto_dev_kind { PROTO_DEV_BLOCK = 1, PROTO_DEV_NET = 2 };
enum proto_blk_flag { PROTO_BLK_RO = 1u << 0, PROTO_BLK_CAN_FLUSH = 1u << 1,
                      PROTO_BLK_CAN_TRIM = 1u << 2 };
#define PROTO_BLK_WRITE_FUA 1u
#define PROTO_DEV_OPEN_RO 1u /* OPEN flags of a block channel */
#define PROTO_BLK_REQ_HDR 12u   /* u64 offset, u32 length|flags */

typedef struct proto_dev_info {
    uint8_t kind;
    proto_str name, driver, model;
    uint64_t size;
    uint32_t sector, mtu;
    uint8_t mac[6];
    uint8_t state;
} proto_dev_info;

typedef struct proto_blk_info {
    uint64_t size;
    uint32_t sector, max_io, queue, flags;
} proto_blk_info;

typedef struct proto_net_info {
    uint8_t mac[6];
    uint32_t mtu;
    uint8_t link;
} proto_net_info;

/* True when n bytes are 1..PROTO_DEV_NAME_MAX of [A-Za-z0-9._-] (not "." or ".."). */
bool proto_dev_name_ok(const char *s, size_t n);

size_t proto_enc_dev_add(uint8_t *out, size_t cap, const proto_dev_info *d);
bool proto_dec_dev_add(const uint8_t *p, size_t n, proto_dev_info *d);
size_t proto_enc_dev_remove(uint8_t *out, size_t cap, uint8_t kind, const char *name, size_t namen);
bool proto_dec_dev_remove(const uint8_t *p, size_t n, uint8_t *kind, proto_str *name);

size_t proto_enc_blk_info(uint8_t *out, size_t cap, const proto_blk_info *b);
/* Also checks: sector a power of two 512..65536, max_io a multiple of sector <= MAX_IO,
 * queue 1..MAX_QUEUE, size a multiple of sector. */
bool proto_dec_blk_info(const uint8_t *p, size_t n, proto_blk_info *b);
/* BLK_READ and BLK_TRIM: u64 offset, u32 length. */
size_t proto_enc_blk_range(uint8_t *out, size_t cap, uint64_t offset, uint32_t length);
bool proto_dec_blk_range(const uint8_t *p, size_t n, uint64_t *offset, uint32_t *length);
/* BLK_WRITE: the 12-byte head (u64 offset, u32 flags); the data follows it in the body. */
void proto_enc_blk_write_head(uint8_t out[PROTO_BLK_REQ_HDR], uint64_t offset, uint32_t flags);
bool proto_dec_blk_write(const uint8_t *p, size_t n, uint64_t *offset, uint32_t *flags,
                         const uint8_t **data, size_t *datalen);
/* BLK_DONE: u32 error, then data (reads). */
bool proto_dec_blk_done(const uint8_t *p, size_t n, uint32_t *error, const uint8_t **data,
                        size_t *datalen);
/* True when [offset, offset+length) is inside a device of `size` bytes and 1 <= length <= max. */
bool proto_blk_range_ok(uint64_t offset, uint64_t length, uint64_t size, uint32_t max_io);

size_t proto_enc_net_info(uint8_t *out, size_t cap, const proto_net_info *ni);
bool proto_dec_net_info(const uint8_t *p, size_t n, proto_net_info *ni);
/* True when a frame of n bytes is acceptable on a link of this MTU. */
bool proto_net_frame_ok(size_t n, uint32_t mtu);
/* ==== end of device service ==== */

#endif
