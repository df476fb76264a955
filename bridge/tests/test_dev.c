/* Device service (PROTOCOL.md, Device service): record codec bounds, and the host's block and
 * NIC engines against a fake (and hostile) guest on a socketpair: completions for unknown
 * tags, with the wrong amount of data, before BLK_INFO, records out of bounds, frames beyond
 * the MTU; requests split by max_io and limited by the queue; resend after a reconnect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dev/dev_blk.h"
#include "dev/dev_inv.h"
#include "dev/dev_net.h"
#include "proto.h"
#include "rb_svc.h"

static proto_str S(const char *s) { return (proto_str){s, (uint32_t)strlen(s)}; }

static void names_and_inventory(void **st)
{
    (void)st;
    assert_true(proto_dev_name_ok("nvme0n1", 7));
    assert_true(proto_dev_name_ok("eth0", 4));
    assert_false(proto_dev_name_ok("", 0));
    assert_false(proto_dev_name_ok(".", 1));
    assert_false(proto_dev_name_ok("..", 2));
    assert_false(proto_dev_name_ok("a/b", 3));
    assert_false(proto_dev_name_ok("a b", 3));
    char big[80];
    memset(big, 'a', sizeof big);
    assert_true(proto_dev_name_ok(big, PROTO_DEV_NAME_MAX));
    assert_false(proto_dev_name_ok(big, PROTO_DEV_NAME_MAX + 1));

    proto_dev_info d = {.kind = PROTO_DEV_BLOCK, .name = S("nvme0n1"), .driver = S("nvme"),
                        .model = S("QEMU NVMe Ctrl"), .size = 128u << 20, .sector = 512};
    uint8_t b[512];
    size_t n = proto_enc_dev_add(b, sizeof b, &d);
    assert_true(n > 0);
    proto_dev_info e;
    assert_true(proto_dec_dev_add(b, n, &e));
    assert_int_equal(e.kind, PROTO_DEV_BLOCK);
    assert_int_equal(e.size, 128u << 20);
    assert_memory_equal(e.model.s, "QEMU NVMe Ctrl", 14);
    assert_false(proto_dec_dev_add(b, n - 1, &e)); /* short */
    uint8_t longer[520];
    memcpy(longer, b, n);
    longer[n] = 0;
    assert_false(proto_dec_dev_add(longer, n + 1, &e)); /* trailing byte */
    b[0] = 9;
    assert_false(proto_dec_dev_add(b, n, &e)); /* unknown kind */
    d.model = S("bad\nmodel");
    assert_int_equal(proto_enc_dev_add(b, sizeof b, &d), 0);
    d.model = S("QEMU");
    d.name = S("../etc");
    assert_int_equal(proto_enc_dev_add(b, sizeof b, &d), 0);

    d = (proto_dev_info){.kind = PROTO_DEV_NET, .name = S("eth0"), .driver = S("e1000"),
                         .mtu = 1500, .mac = {0x52, 0x54, 0, 0xbe, 0xef, 0}, .state = 1};
    n = proto_enc_dev_add(b, sizeof b, &d);
    assert_true(proto_dec_dev_add(b, n, &e));
    char line[256];
    dev_inv_format(&e, line, sizeof line);
    assert_non_null(strstr(line, "52:54:00:be:ef:00 mtu 1500"));
    assert_non_null(strstr(line, "link up"));

    uint8_t kind;
    proto_str name;
    n = proto_enc_dev_remove(b, sizeof b, PROTO_DEV_NET, "eth0", 4);
    assert_true(proto_dec_dev_remove(b, n, &kind, &name));
    assert_int_equal(kind, PROTO_DEV_NET);
}

static void block_records(void **st)
{
    (void)st;
    proto_blk_info in = {.size = 1u << 20, .sector = 512, .max_io = 65536, .queue = 4,
                         .flags = PROTO_BLK_CAN_FLUSH}, out;
    uint8_t b[64];
    size_t n = proto_enc_blk_info(b, sizeof b, &in);
    assert_true(proto_dec_blk_info(b, n, &out));
    assert_int_equal(out.queue, 4);
    proto_blk_info bad = in;
    bad.sector = 513;
    n = proto_enc_blk_info(b, sizeof b, &bad);
    assert_false(proto_dec_blk_info(b, n, &out));
    bad = in, bad.max_io = PROTO_DEV_MAX_IO * 2;
    n = proto_enc_blk_info(b, sizeof b, &bad);
    assert_false(proto_dec_blk_info(b, n, &out));
    bad = in, bad.queue = 0;
    n = proto_enc_blk_info(b, sizeof b, &bad);
    assert_false(proto_dec_blk_info(b, n, &out));
    bad = in, bad.size = 1000;
    n = proto_enc_blk_info(b, sizeof b, &bad);
    assert_false(proto_dec_blk_info(b, n, &out));

    assert_true(proto_blk_range_ok(0, 512, 1024, 65536));
    assert_true(proto_blk_range_ok(512, 512, 1024, 65536));
    assert_false(proto_blk_range_ok(513, 512, 1024, 65536));
    assert_false(proto_blk_range_ok(0, 0, 1024, 65536));
    assert_false(proto_blk_range_ok(UINT64_MAX - 10, 512, UINT64_MAX, 65536)); /* no wrap-around */
    assert_true(proto_blk_range_ok(UINT64_MAX - 512, 512, UINT64_MAX, 65536));
    assert_false(proto_blk_range_ok(UINT64_MAX, 1, 1024, 65536));
    assert_false(proto_blk_range_ok(0, 65537, 1u << 20, 65536));

    uint32_t err;
    const uint8_t *data;
    size_t dl;
    uint8_t done[8] = {5, 0, 0, 0, 1, 2, 3, 4};
    assert_false(proto_dec_blk_done(done, 8, &err, &data, &dl)); /* error with data */
    assert_false(proto_dec_blk_done(done, 3, &err, &data, &dl));
    done[0] = 0;
    assert_true(proto_dec_blk_done(done, 8, &err, &data, &dl));
    assert_int_equal(dl, 4);

    proto_net_info ni = {.mac = {1, 2, 3, 4, 5, 6}, .mtu = 1500, .link = 1}, no;
    n = proto_enc_net_info(b, sizeof b, &ni);
    assert_true(proto_dec_net_info(b, n, &no));
    assert_int_equal(no.mtu, 1500);
    b[6] = 10, b[7] = 0; /* mtu 10 */
    assert_false(proto_dec_net_info(b, n, &no));
    assert_true(proto_net_frame_ok(60, 1500));
    assert_true(proto_net_frame_ok(1518, 1500));
    assert_false(proto_net_frame_ok(1519, 1500));
    assert_false(proto_net_frame_ok(13, 1500));
}

/* ---- the block engine against a fake guest ---- */

typedef struct done_rec {
    int calls;
    uint32_t error;
} done_rec;

static void on_done(dev_blk_req *r, uint32_t error)
{
    done_rec *d = r->ctx;
    d->calls++;
    d->error = error;
}

static int quiet_lines;
static void quiet_log(void *ctx, const char *line)
{
    (void)ctx, (void)line;
    quiet_lines++;
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
}

static void send_info(int fd, uint64_t size, uint32_t max_io, uint32_t queue, uint32_t flags)
{
    proto_blk_info in = {.size = size, .sector = 512, .max_io = max_io, .queue = queue, .flags = flags};
    uint8_t b[64];
    size_t n = proto_enc_blk_info(b, sizeof b, &in);
    assert_int_equal(rb_svc_send(fd, PROTO_BLK_INFO, 0, b, n), 0);
}

static void send_done(int fd, uint32_t tag, uint32_t error, const void *data, size_t n)
{
    uint8_t *b = malloc(4 + n);
    b[0] = (uint8_t)error, b[1] = b[2] = b[3] = 0;
    if (n)
        memcpy(b + 4, data, n);
    assert_int_equal(rb_svc_send(fd, PROTO_BLK_DONE, tag, b, 4 + n), 0);
    free(b);
}

/* Runs the engine until the guest end has bytes or the condition holds. */
static void pump(dev_blk *b, int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = dev_blk_events(b)};
    poll(&p, 1, ms);
    dev_blk_step(b, p.revents);
}

static uint8_t rec[PROTO_DEV_MAX_RECORD];

static void recv_req(int fd, uint8_t *type, uint32_t *tag, uint64_t *off, uint32_t *len, size_t *n)
{
    assert_int_equal(rb_svc_recv(fd, rec, sizeof rec, type, tag, n), 0);
    if (*type == PROTO_BLK_READ || *type == PROTO_BLK_TRIM)
        assert_true(proto_dec_blk_range(rec, *n, off, len));
}

static void block_engine(void **st)
{
    (void)st;
    int sv[2];
    pair(sv);
    dev_blk *b = dev_blk_new("test", quiet_log, NULL);
    dev_blk_attach(b, sv[0]);
    send_info(sv[1], 1u << 20, 65536, 4, PROTO_BLK_CAN_FLUSH);
    pump(b, sv[0], 1000);
    assert_non_null(dev_blk_info(b));

    /* A 200 KiB read is split into 64 KiB pieces, at most 4 in flight. */
    static uint8_t buf[200 * 1024];
    done_rec d = {0};
    dev_blk_req r = {.op = PROTO_BLK_READ, .offset = 4096, .length = sizeof buf, .buf = buf,
                     .done = on_done, .ctx = &d};
    dev_blk_submit(b, &r);
    uint8_t type;
    uint32_t tags[4], len;
    uint64_t off;
    size_t n;
    for (int i = 0; i < 4; i++) {
        recv_req(sv[1], &type, &tags[i], &off, &len, &n);
        assert_int_equal(type, PROTO_BLK_READ);
        assert_int_equal(off, 4096 + (uint64_t)i * 65536);
        assert_int_equal(len, i < 3 ? 65536 : 200 * 1024 - 3 * 65536);
    }
    struct pollfd p = {.fd = sv[1], .events = POLLIN};
    assert_int_equal(poll(&p, 1, 50), 0); /* the queue is full: nothing more */
    static uint8_t data[65536];
    for (int i = 0; i < 4; i++) {
        memset(data, 'a' + i, sizeof data);
        send_done(sv[1], tags[i], 0, data, i < 3 ? 65536 : 200 * 1024 - 3 * 65536);
    }
    for (int i = 0; i < 20 && !d.calls; i++)
        pump(b, sv[0], 100);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.error, 0);
    assert_int_equal(buf[0], 'a');
    assert_int_equal(buf[65536], 'b');
    assert_int_equal(buf[sizeof buf - 1], 'd');

    /* Hostile completions: a tag never sent, a tag already completed, a read with too few
     * bytes. None may touch a buffer; the short one fails its request with EIO. */
    int lines = quiet_lines;
    send_done(sv[1], 0x12345600, 0, data, 100);
    send_done(sv[1], tags[0], 0, data, 65536);
    done_rec d2 = {0};
    static uint8_t small[1024];
    dev_blk_req r2 = {.op = PROTO_BLK_READ, .offset = 0, .length = sizeof small, .buf = small,
                      .done = on_done, .ctx = &d2};
    dev_blk_submit(b, &r2);
    for (int i = 0; i < 5; i++)
        pump(b, sv[0], 50);
    recv_req(sv[1], &type, &tags[0], &off, &len, &n);
    send_done(sv[1], tags[0], 0, data, 10);
    for (int i = 0; i < 20 && !d2.calls; i++)
        pump(b, sv[0], 100);
    assert_int_equal(d2.calls, 1);
    assert_int_equal(d2.error, EIO);
    assert_int_equal(dev_blk_get_stats(b)->bad_tags, 2);
    assert_int_equal(dev_blk_get_stats(b)->bad_lengths, 1);
    assert_true(quiet_lines > lines);

    /* Requests the device cannot take complete at once. */
    done_rec d3 = {0};
    dev_blk_req r3 = {.op = PROTO_BLK_WRITE, .offset = (1u << 20) - 100, .length = 200, .buf = small,
                      .done = on_done, .ctx = &d3};
    dev_blk_submit(b, &r3);
    assert_int_equal(d3.error, EINVAL);
    r3 = (dev_blk_req){.op = PROTO_BLK_TRIM, .offset = 0, .length = 512, .done = on_done, .ctx = &d3};
    dev_blk_submit(b, &r3);
    assert_int_equal(d3.error, EOPNOTSUPP);

    /* A write in flight when the channel ends is sent again on the next channel. */
    done_rec d4 = {0};
    memset(small, 'w', sizeof small);
    dev_blk_req r4 = {.op = PROTO_BLK_WRITE, .offset = 512, .length = sizeof small, .buf = small,
                      .done = on_done, .ctx = &d4};
    dev_blk_submit(b, &r4);
    assert_int_equal(rb_svc_recv(sv[1], rec, sizeof rec, &type, &tags[0], &n), 0);
    assert_int_equal(type, PROTO_BLK_WRITE);
    close(sv[1]);
    pump(b, sv[0], 100);
    dev_blk_detach(b);
    close(sv[0]);
    assert_int_equal(d4.calls, 0);
    pair(sv);
    dev_blk_attach(b, sv[0]);
    send_info(sv[1], 1u << 20, 65536, 4, PROTO_BLK_CAN_FLUSH);
    pump(b, sv[0], 1000);
    assert_int_equal(rb_svc_recv(sv[1], rec, sizeof rec, &type, &tags[0], &n), 0);
    assert_int_equal(type, PROTO_BLK_WRITE);
    assert_int_equal(n, PROTO_BLK_REQ_HDR + sizeof small);
    assert_int_equal(rec[PROTO_BLK_REQ_HDR], 'w');
    send_done(sv[1], tags[0], 0, NULL, 0);
    for (int i = 0; i < 20 && !d4.calls; i++)
        pump(b, sv[0], 100);
    assert_int_equal(d4.error, 0);
    assert_int_equal(dev_blk_get_stats(b)->resent, 1);

    /* A record length out of bounds ends the channel; pending requests are kept. */
    done_rec d5 = {0};
    dev_blk_req r5 = {.op = PROTO_BLK_FLUSH, .done = on_done, .ctx = &d5};
    dev_blk_submit(b, &r5);
    uint8_t huge[9] = {0xff, 0xff, 0xff, 0x7f, PROTO_BLK_DONE, 1, 0, 0, 0};
    assert_int_equal(write(sv[1], huge, sizeof huge), (ssize_t)sizeof huge);
    p = (struct pollfd){.fd = sv[0], .events = POLLIN};
    poll(&p, 1, 1000);
    assert_int_equal(dev_blk_step(b, p.revents), -1);
    dev_blk_detach(b);
    assert_int_equal(d5.calls, 0);
    assert_int_equal(dev_blk_pending(b), 1);
    dev_blk_free(b); /* fails what is left */
    assert_int_equal(d5.calls, 1);
    assert_int_equal(d5.error, ESHUTDOWN);
    close(sv[0]);
    close(sv[1]);
}

static void block_before_info(void **st)
{
    (void)st;
    int sv[2];
    pair(sv);
    dev_blk *b = dev_blk_new("test", quiet_log, NULL);
    dev_blk_attach(b, sv[0]);
    send_done(sv[1], 1, 0, NULL, 0);
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    poll(&p, 1, 1000);
    assert_int_equal(dev_blk_step(b, p.revents), -1);
    dev_blk_detach(b);
    pair(sv);
    dev_blk_attach(b, sv[0]);
    uint8_t junk[3] = {1, 2, 3};
    assert_int_equal(rb_svc_send(sv[1], PROTO_BLK_INFO, 0, junk, 3), 0);
    poll(&p, 1, 1000);
    p.fd = sv[0];
    poll(&p, 1, 1000);
    assert_int_equal(dev_blk_step(b, POLLIN), -1);
    dev_blk_free(b);
    close(sv[0]);
    close(sv[1]);
}

/* An error that is no errno (a Redox result would read it as a byte count) becomes EIO. */
static void block_bad_errno(void **st)
{
    (void)st;
    int sv[2];
    pair(sv);
    dev_blk *b = dev_blk_new("test", quiet_log, NULL);
    dev_blk_attach(b, sv[0]);
    send_info(sv[1], 1 << 20, 65536, 4, PROTO_BLK_CAN_FLUSH);
    pump(b, sv[0], 1000);
    done_rec d = {0};
    dev_blk_req r = {.op = PROTO_BLK_FLUSH, .done = on_done, .ctx = &d};
    dev_blk_submit(b, &r);
    uint8_t type;
    uint32_t tag;
    uint64_t off;
    uint32_t len;
    size_t n;
    recv_req(sv[1], &type, &tag, &off, &len, &n);
    assert_int_equal(type, PROTO_BLK_FLUSH);
    uint8_t body[4] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(rb_svc_send(sv[1], PROTO_BLK_DONE, tag, body, sizeof body), 0);
    for (int i = 0; i < 50 && !d.calls; i++)
        pump(b, sv[0], 100);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.error, EIO);
    dev_blk_free(b);
    close(sv[0]);
    close(sv[1]);
}

/* ---- the NIC engine ---- */

typedef struct net_seen {
    int frames, infos;
    size_t last;
} net_seen;

static void on_frame(void *ctx, const uint8_t *f, size_t n)
{
    (void)f;
    net_seen *s = ctx;
    s->frames++;
    s->last = n;
}

static void on_info(void *ctx, const proto_net_info *ni)
{
    (void)ni;
    ((net_seen *)ctx)->infos++;
}

static void net_engine(void **st)
{
    (void)st;
    int sv[2];
    pair(sv);
    net_seen seen = {0};
    dev_net_ops ops = {on_frame, on_info};
    dev_net *n = dev_net_new("eth0", &ops, &seen);
    dev_net_attach(n, sv[0]);
    uint8_t f[1600] = {0};
    assert_false(dev_net_send(n, f, 60)); /* no NET_INFO yet: dropped */
    proto_net_info ni = {.mac = {2, 0, 0, 0, 0, 1}, .mtu = 1500, .link = 1};
    uint8_t b[32];
    size_t k = proto_enc_net_info(b, sizeof b, &ni);
    assert_int_equal(rb_svc_send(sv[1], PROTO_NET_INFO, 0, b, k), 0);
    assert_int_equal(rb_svc_send(sv[1], PROTO_NET_FRAME, 0, f, 60), 0);
    assert_int_equal(rb_svc_send(sv[1], PROTO_NET_FRAME, 0, f, 1519), 0); /* above MTU */
    assert_int_equal(rb_svc_send(sv[1], PROTO_NET_FRAME, 0, f, 10), 0);   /* runt */
    assert_int_equal(rb_svc_send(sv[1], PROTO_NET_FRAME, 0, f, 1518), 0);
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    for (int i = 0; i < 10 && seen.frames < 2; i++) {
        poll(&p, 1, 100);
        assert_int_equal(dev_net_step(n, p.revents), 0);
    }
    assert_int_equal(seen.infos, 1);
    assert_int_equal(seen.frames, 2);
    assert_int_equal(seen.last, 1518);
    assert_int_equal(dev_net_get_stats(n)->dropped_bad, 2);
    assert_true(dev_net_send(n, f, 60));
    assert_false(dev_net_send(n, f, 1519));
    dev_net_step(n, 0);
    uint8_t type;
    uint32_t tag;
    size_t len;
    assert_int_equal(rb_svc_recv(sv[1], rec, sizeof rec, &type, &tag, &len), 0);
    assert_int_equal(type, PROTO_NET_FRAME);
    assert_int_equal(len, 60);
    /* An unknown record type ends the channel. */
    assert_int_equal(rb_svc_send(sv[1], PROTO_BLK_DONE, 1, f, 4), 0);
    poll(&p, 1, 1000);
    assert_int_equal(dev_net_step(n, p.revents), -1);
    dev_net_free(n);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_and_inventory),
        cmocka_unit_test(block_records),
        cmocka_unit_test(block_engine),
        cmocka_unit_test(block_before_info),
        cmocka_unit_test(block_bad_errno),
        cmocka_unit_test(net_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
