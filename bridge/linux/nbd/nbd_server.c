/* NBD export over a device channel (nbd_server.h). */
#include "nbd_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NBD_MAGIC 0x4e42444d41474943ull       /* "NBDMAGIC" */
#define NBD_OPT_MAGIC 0x49484156454f5054ull   /* "IHAVEOPT" */
#define NBD_REP_MAGIC 0x0003e889045565a9ull
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_FLAG_FIXED_NEWSTYLE 1u
#define NBD_FLAG_NO_ZEROES 2u
enum { NBD_OPT_EXPORT_NAME = 1, NBD_OPT_ABORT = 2, NBD_OPT_LIST = 3, NBD_OPT_INFO = 6,
       NBD_OPT_GO = 7 };
enum { NBD_REP_ACK = 1, NBD_REP_SERVER = 2, NBD_REP_INFO = 3 };
#define NBD_REP_ERR_UNSUP 0x80000001u
#define NBD_REP_ERR_INVALID 0x80000003u
enum { NBD_INFO_EXPORT = 0, NBD_INFO_BLOCK_SIZE = 3 };
enum { NBD_TF_HAS_FLAGS = 1, NBD_TF_READ_ONLY = 2, NBD_TF_SEND_FLUSH = 4, NBD_TF_SEND_FUA = 8,
       NBD_TF_SEND_TRIM = 32 };
enum { NBD_CMD_READ = 0, NBD_CMD_WRITE = 1, NBD_CMD_DISC = 2, NBD_CMD_FLUSH = 3, NBD_CMD_TRIM = 4,
       NBD_CMD_CACHE = 5 };
#define NBD_CMD_FLAG_FUA 1u
#define NBD_MAX_OPTION 4096u
#define NBD_MAX_CLIENTS 32
#define NBD_CLIENT_MAX_INFLIGHT 128u
#define NBD_CLIENT_MAX_BYTES (64u << 20)
/* Option replies not yet read by the client: past this, its options are not read either. */
#define NBD_MAX_HS_BACKLOG (64u * 1024u)
#define NBD_READ_CHUNK (256u * 1024u)
/* A client still negotiating after this long is dropped: clients that connect and stall
 * must not hold the NBD_MAX_CLIENTS slots forever. */
#define NBD_HANDSHAKE_SECONDS 30

typedef struct nbd_client nbd_client;

typedef struct nbd_req {
    dev_blk_req br;
    nbd_client *c;
    uint64_t handle;
    uint8_t *buf;
    uint8_t hdr[16];
    size_t out_len, out_off; /* reply bytes: header, then data for a successful read */
    struct nbd_req *next;
} nbd_req;

struct nbd_client {
    nbd_server *srv;
    int fd;
    enum { PH_FLAGS, PH_OPTS, PH_DATA, PH_DEAD } phase;
    bool no_zeroes, closing;
    time_t hs_deadline;
    uint8_t in[16 + NBD_MAX_OPTION];
    size_t in_len;
    nbd_req *cur;        /* a write whose payload is being read */
    size_t cur_got;
    uint8_t *hs_out;     /* handshake bytes to send */
    size_t hs_len, hs_off, hs_cap;
    nbd_req *out_head, *out_tail;
    unsigned inflight;
    size_t inflight_bytes;
    /* Bytes read but not yet handled because the client was over its limits (held_len >
     * held_off): they are handled as replies drain, and the socket is not read meanwhile. */
    uint8_t *held;
    size_t held_off, held_len;
    nbd_client *next;
};

struct nbd_server {
    int lfd;
    char path[108];
    char export_name[256];
    dev_blk *blk;
    nbd_client *clients;
    nbd_client *polled[NBD_MAX_CLIENTS + 1];
    size_t npolled;
};

static void put_be(uint8_t *o, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        o[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static int hs_put(nbd_client *c, const void *p, size_t n)
{
    if (c->hs_len + n > c->hs_cap) {
        size_t cap = (c->hs_len + n) * 2;
        uint8_t *q = realloc(c->hs_out, cap);
        if (!q)
            return -1;
        c->hs_out = q;
        c->hs_cap = cap;
    }
    memcpy(c->hs_out + c->hs_len, p, n);
    c->hs_len += n;
    return 0;
}

static void opt_reply(nbd_client *c, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
    uint8_t h[20];
    put_be(h, NBD_REP_MAGIC, 8);
    put_be(h + 8, opt, 4);
    put_be(h + 12, type, 4);
    put_be(h + 16, len, 4);
    if (hs_put(c, h, sizeof h) < 0 || (len && hs_put(c, data, len) < 0))
        c->phase = PH_DEAD;
}

static uint16_t tflags(const nbd_server *s)
{
    const proto_blk_info *in = dev_blk_info(s->blk);
    uint16_t f = NBD_TF_HAS_FLAGS | NBD_TF_SEND_FLUSH | NBD_TF_SEND_FUA;
    if (in->flags & PROTO_BLK_RO)
        f |= NBD_TF_READ_ONLY;
    if (in->flags & PROTO_BLK_CAN_TRIM)
        f |= NBD_TF_SEND_TRIM;
    return f;
}

static void handle_option(nbd_client *c, uint32_t opt, const uint8_t *d, uint32_t len)
{
    nbd_server *s = c->srv;
    uint64_t size = dev_blk_info(s->blk)->size;
    switch (opt) {
    case NBD_OPT_EXPORT_NAME: {
        uint8_t b[8 + 2 + 124] = {0};
        put_be(b, size, 8);
        put_be(b + 8, tflags(s), 2);
        if (hs_put(c, b, c->no_zeroes ? 10 : sizeof b) < 0)
            c->phase = PH_DEAD;
        else
            c->phase = PH_DATA;
        return;
    }
    case NBD_OPT_ABORT:
        opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
        c->closing = true;
        return;
    case NBD_OPT_LIST: {
        if (len) {
            opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
            return;
        }
        uint8_t b[4 + 256];
        uint32_t n = (uint32_t)strlen(s->export_name);
        put_be(b, n, 4);
        memcpy(b + 4, s->export_name, n);
        opt_reply(c, opt, NBD_REP_SERVER, b, 4 + n);
        opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
        return;
    }
    case NBD_OPT_INFO:
    case NBD_OPT_GO: {
        /* u32 name length, name, u16 count, count x u16 info requests */
        if (len < 6) {
            opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
            return;
        }
        uint64_t nlen = get_be(d, 4);
        if (nlen > len - 6 || 6 + nlen + 2 * get_be(d + 4 + nlen, 2) != len) {
            opt_reply(c, opt, NBD_REP_ERR_INVALID, NULL, 0);
            return;
        }
        uint8_t b[14];
        put_be(b, NBD_INFO_EXPORT, 2);
        put_be(b + 2, size, 8);
        put_be(b + 10, tflags(s), 2);
        opt_reply(c, opt, NBD_REP_INFO, b, 12);
        put_be(b, NBD_INFO_BLOCK_SIZE, 2);
        put_be(b + 2, 1, 4);
        put_be(b + 6, 4096, 4);
        put_be(b + 10, DEV_BLK_MAX_REQ, 4);
        opt_reply(c, opt, NBD_REP_INFO, b, 14);
        opt_reply(c, opt, NBD_REP_ACK, NULL, 0);
        if (opt == NBD_OPT_GO && c->phase != PH_DEAD)
            c->phase = PH_DATA;
        return;
    }
    default:
        opt_reply(c, opt, NBD_REP_ERR_UNSUP, NULL, 0);
        return;
    }
}

static uint32_t nbd_errno(uint32_t e)
{
    switch (e) {
    case 0: case EPERM: case EIO: case ENOMEM: case EINVAL: case ENOSPC: case EOVERFLOW:
    case ENOTSUP: case ESHUTDOWN:
        return e;
    case EROFS: case EACCES:
        return EPERM;
    default:
        return EIO;
    }
}

static void queue_reply(nbd_client *c, nbd_req *q, uint32_t error)
{
    put_be(q->hdr, NBD_SIMPLE_REPLY_MAGIC, 4);
    put_be(q->hdr + 4, nbd_errno(error), 4);
    put_be(q->hdr + 8, q->handle, 8);
    q->out_len = 16 + (q->br.op == PROTO_BLK_READ && !error ? q->br.length : 0);
    q->out_off = 0;
    q->next = NULL;
    if (c->out_tail)
        c->out_tail->next = q;
    else
        c->out_head = q;
    c->out_tail = q;
}

static void req_done(dev_blk_req *br, uint32_t error)
{
    nbd_req *q = br->ctx;
    nbd_client *c = q->c;
    if (c->phase == PH_DEAD) {
        /* The client struct is freed by nbd_server_step's sweep, not here: this runs inside
         * other clients' submits, whose loops may hold a pointer to it. */
        c->inflight--;
        free(q->buf);
        free(q);
        return;
    }
    queue_reply(c, q, error);
}

static void submit(nbd_client *c, nbd_req *q)
{
    c->inflight++;
    c->inflight_bytes += q->br.length;
    dev_blk_submit(c->srv->blk, &q->br);
}

/* A complete 28-byte request header in c->in. */
static void handle_request(nbd_client *c)
{
    const uint8_t *h = c->in;
    uint32_t magic = (uint32_t)get_be(h, 4);
    uint16_t flags = (uint16_t)get_be(h + 4, 2), type = (uint16_t)get_be(h + 6, 2);
    uint64_t handle = get_be(h + 8, 8), off = get_be(h + 16, 8);
    uint32_t len = (uint32_t)get_be(h + 24, 4);
    if (magic != NBD_REQUEST_MAGIC) {
        c->phase = PH_DEAD;
        return;
    }
    if (type == NBD_CMD_DISC) {
        c->closing = true;
        return;
    }
    if (type == NBD_CMD_WRITE && len > DEV_BLK_MAX_REQ) {
        c->phase = PH_DEAD; /* its payload cannot be skipped safely: drop the client */
        return;
    }
    nbd_req *q = calloc(1, sizeof *q);
    if (!q) {
        c->phase = PH_DEAD;
        return;
    }
    q->c = c;
    q->handle = handle;
    q->br.ctx = q;
    q->br.done = req_done;
    q->br.offset = off;
    q->br.length = len;
    switch (type) {
    case NBD_CMD_READ:
    case NBD_CMD_WRITE:
        q->br.op = type == NBD_CMD_READ ? PROTO_BLK_READ : PROTO_BLK_WRITE;
        q->br.flags = (type == NBD_CMD_WRITE && (flags & NBD_CMD_FLAG_FUA)) ? PROTO_BLK_WRITE_FUA : 0;
        if (len == 0 || len > DEV_BLK_MAX_REQ || !(q->buf = malloc(len))) {
            c->inflight++;
            q->br.length = 0;
            queue_reply(c, q, len == 0 || len > DEV_BLK_MAX_REQ ? EINVAL : ENOMEM);
            return;
        }
        q->br.buf = q->buf;
        if (type == NBD_CMD_WRITE) {
            c->cur = q;
            c->cur_got = 0;
            return;
        }
        submit(c, q);
        return;
    case NBD_CMD_FLUSH:
        q->br.op = PROTO_BLK_FLUSH;
        q->br.length = 0;
        submit(c, q);
        return;
    case NBD_CMD_TRIM:
        q->br.op = PROTO_BLK_TRIM;
        submit(c, q);
        return;
    case NBD_CMD_CACHE: /* a hint: nothing to do */
        c->inflight++;
        q->br.length = 0;
        queue_reply(c, q, 0);
        return;
    default:
        c->inflight++;
        q->br.length = 0;
        queue_reply(c, q, EINVAL);
        return;
    }
}

/* True when the client must wait for its replies to drain before more of its input is
 * handled: this bounds the requests (and their buffers) and the option replies a client that
 * does not read can make us hold. */
static bool over_limit(const nbd_client *c)
{
    return c->hs_len - c->hs_off > NBD_MAX_HS_BACKLOG || c->inflight >= NBD_CLIENT_MAX_INFLIGHT ||
           c->inflight_bytes >= NBD_CLIENT_MAX_BYTES;
}

/* Consumes input bytes according to the phase; stops at a message boundary when the client
 * is over its limits. Returns the bytes consumed. */
static size_t on_input(nbd_client *c, const uint8_t *p, size_t n)
{
    const uint8_t *start = p;
    while (n && c->phase != PH_DEAD && !c->closing) {
        if (!c->cur && c->in_len == 0 && over_limit(c))
            break;
        if (c->cur) {
            size_t k = c->cur->br.length - c->cur_got;
            if (k > n)
                k = n;
            memcpy(c->cur->buf + c->cur_got, p, k);
            c->cur_got += k, p += k, n -= k;
            if (c->cur_got == c->cur->br.length) {
                nbd_req *q = c->cur;
                c->cur = NULL;
                submit(c, q);
            }
            continue;
        }
        size_t want;
        if (c->phase == PH_FLAGS)
            want = 4;
        else if (c->phase == PH_OPTS)
            want = c->in_len < 16 ? 16 : 16 + (size_t)get_be(c->in + 12, 4);
        else
            want = 28;
        if (c->phase == PH_OPTS && c->in_len >= 16 &&
            (get_be(c->in, 8) != NBD_OPT_MAGIC || get_be(c->in + 12, 4) > NBD_MAX_OPTION)) {
            c->phase = PH_DEAD;
            return (size_t)(p - start);
        }
        size_t k = want - c->in_len;
        if (k > n)
            k = n;
        memcpy(c->in + c->in_len, p, k);
        c->in_len += k, p += k, n -= k;
        if (c->in_len < want)
            continue;
        if (c->phase == PH_OPTS && want == 16 && get_be(c->in + 12, 4) != 0)
            continue; /* now read the option's data */
        if (c->phase == PH_FLAGS) {
            uint32_t f = (uint32_t)get_be(c->in, 4);
            if (!(f & NBD_FLAG_FIXED_NEWSTYLE) || (f & ~3u)) {
                c->phase = PH_DEAD;
                return (size_t)(p - start);
            }
            c->no_zeroes = f & NBD_FLAG_NO_ZEROES;
            c->phase = PH_OPTS;
        } else if (c->phase == PH_OPTS) {
            if (get_be(c->in, 8) != NBD_OPT_MAGIC) {
                c->phase = PH_DEAD;
                return (size_t)(p - start);
            }
            handle_option(c, (uint32_t)get_be(c->in + 8, 4), c->in + 16,
                          (uint32_t)get_be(c->in + 12, 4));
        } else {
            handle_request(c);
        }
        c->in_len = 0;
    }
    return (size_t)(p - start);
}

static void client_free(nbd_client *c)
{
    nbd_server *s = c->srv;
    for (nbd_client **pp = &s->clients; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    free(c->hs_out);
    free(c->held);
    free(c);
}

/* Ends a client: its socket now; the struct when the engine has finished its requests. */
static void client_close(nbd_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->phase = PH_DEAD;
    if (c->cur) {
        free(c->cur->buf);
        free(c->cur);
        c->cur = NULL;
    }
    for (nbd_req *q = c->out_head, *n; q; q = n) {
        n = q->next;
        c->inflight--;
        free(q->buf);
        free(q);
    }
    c->out_head = c->out_tail = NULL;
    if (c->inflight == 0)
        client_free(c);
}

/* Keeps input the client sent beyond its limits (at most one read's worth). */
static int hold_input(nbd_client *c, const uint8_t *p, size_t n)
{
    if (!c->held && !(c->held = malloc(NBD_READ_CHUNK)))
        return -1;
    memcpy(c->held, p, n);
    c->held_off = 0;
    c->held_len = n;
    return 0;
}

static int client_write(nbd_client *c)
{
    while (c->hs_off < c->hs_len) {
        ssize_t w = send(c->fd, c->hs_out + c->hs_off, c->hs_len - c->hs_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->hs_off += (size_t)w;
    }
    c->hs_off = c->hs_len = 0;
    while (c->out_head) {
        nbd_req *q = c->out_head;
        while (q->out_off < q->out_len) {
            const uint8_t *p;
            size_t left;
            if (q->out_off < 16)
                p = q->hdr + q->out_off, left = 16 - q->out_off;
            else
                p = q->buf + (q->out_off - 16), left = q->out_len - q->out_off;
            ssize_t w = send(c->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            q->out_off += (size_t)w;
        }
        c->out_head = q->next;
        if (!c->out_head)
            c->out_tail = NULL;
        c->inflight--;
        c->inflight_bytes -= q->br.length;
        free(q->buf);
        free(q);
    }
    return 0;
}

nbd_server *nbd_server_new(const char *path, const char *export_name, dev_blk *blk, char *err,
                           size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "NBD socket path too long: %s", path);
        return NULL;
    }
    nbd_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->export_name, sizeof s->export_name, "%s", export_name);
    s->blk = blk;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s->lfd, 16) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
        if (s->lfd >= 0)
            close(s->lfd);
        free(s);
        return NULL;
    }
    return s;
}

size_t nbd_server_pollfds(nbd_server *s, struct pollfd *fds, size_t cap)
{
    size_t n = 0;
    s->npolled = 0;
    if (cap && dev_blk_info(s->blk)) {
        fds[n] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        s->polled[n++] = NULL;
    }
    for (nbd_client *c = s->clients; c && n < cap && n <= NBD_MAX_CLIENTS; c = c->next) {
        if (c->fd < 0)
            continue;
        short ev = 0;
        if (c->held_off == c->held_len && !over_limit(c) && !c->closing)
            ev |= POLLIN;
        if (c->hs_len > c->hs_off || c->out_head)
            ev |= POLLOUT;
        fds[n] = (struct pollfd){.fd = c->fd, .events = ev};
        s->polled[n++] = c;
    }
    s->npolled = n;
    return n;
}

static void accept_one(nbd_server *s)
{
    int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    size_t count = nbd_server_clients(s);
    nbd_client *c = count < NBD_MAX_CLIENTS ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        close(fd);
        return;
    }
    c->srv = s;
    c->fd = fd;
    c->phase = PH_FLAGS;
    c->hs_deadline = time(NULL) + NBD_HANDSHAKE_SECONDS;
    uint8_t g[18];
    put_be(g, NBD_MAGIC, 8);
    put_be(g + 8, NBD_OPT_MAGIC, 8);
    put_be(g + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, 2);
    c->next = s->clients;
    s->clients = c;
    if (hs_put(c, g, sizeof g) < 0 || client_write(c) < 0)
        client_close(c);
}

void nbd_server_step(nbd_server *s, const struct pollfd *fds, size_t n)
{
    for (size_t i = 0; i < n && i < s->npolled; i++) {
        nbd_client *c = s->polled[i];
        if (!c) {
            if (fds[i].revents & POLLIN)
                accept_one(s);
            continue;
        }
        if (!fds[i].revents)
            continue;
        if (fds[i].revents & POLLIN) {
            /* A few reads per wakeup: a 1 MiB write arrives in one step, not sixteen. */
            static uint8_t buf[NBD_READ_CHUNK];
            bool closed = false;
            for (int round = 0; round < 8 && c->phase != PH_DEAD && !c->closing; round++) {
                ssize_t k = read(c->fd, buf, sizeof buf);
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                if (k <= 0) {
                    closed = true;
                    break;
                }
                size_t used = on_input(c, buf, (size_t)k);
                if (used < (size_t)k && c->phase != PH_DEAD && !c->closing) {
                    if (hold_input(c, buf + used, (size_t)k - used) < 0)
                        c->phase = PH_DEAD;
                    break;
                }
                if ((size_t)k < sizeof buf)
                    break;
            }
            if (closed) {
                client_close(c);
                continue;
            }
        } else if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            client_close(c);
            continue;
        }
        if (c->phase == PH_DEAD || client_write(c) < 0) {
            client_close(c);
            continue;
        }
    }
    /* Replies completed by the engine since the last poll go out now. */
    for (nbd_client *c = s->clients, *next; c; c = next) {
        next = c->next;
        if (c->fd < 0)
            continue;
        if (client_write(c) == 0 && c->held_off < c->held_len && !c->closing)
            c->held_off += on_input(c, c->held + c->held_off, c->held_len - c->held_off);
        bool stalled = c->phase != PH_DATA && time(NULL) > c->hs_deadline;
        if (stalled || c->phase == PH_DEAD || client_write(c) < 0 || (c->closing && c->inflight == 0 && !c->out_head && c->hs_len == c->hs_off))
            client_close(c);
    }
    /* Closed clients whose last requests the engine has finished. */
    for (nbd_client *c = s->clients, *next; c; c = next) {
        next = c->next;
        if (c->fd < 0 && c->inflight == 0)
            client_free(c);
    }
}

size_t nbd_server_clients(const nbd_server *s)
{
    size_t n = 0;
    for (const nbd_client *c = s->clients; c; c = c->next)
        n++;
    return n;
}

void nbd_server_free(nbd_server *s)
{
    if (!s)
        return;
    while (s->clients) {
        nbd_client *c = s->clients;
        client_close(c);
        if (s->clients == c) /* requests still in the engine: it is freed first, so force */
            client_free(c);
    }
    close(s->lfd);
    unlink(s->path);
    free(s);
}
