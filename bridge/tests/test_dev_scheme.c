/* The Redox disk.* and network.* adapters of the device service (dev/dev_scheme.h), driven
 * by request packets through the scheme harness, with a fake guest behind the engines:
 * numbered disks, deferred reads answered when the guest completes, writes, sizes, a
 * cancelled read whose late completion never reaches the caller's buffer; one frame per
 * read, blocking and non-blocking, the MAC, frames beyond the MTU refused. */
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

#include "dev/dev_scheme.h"
#include "proto.h"
#include "rb_svc.h"
#include "scheme_harness.h"

typedef struct answers {
    scheme_harness *h;
    int count;
    uint32_t tag;
    int64_t result;
    int fevents;
} answers;

static void on_complete(void *ctx, uint32_t tag, int64_t result)
{
    answers *a = ctx;
    scheme_cqe cqe;
    if (scheme_server_complete(scheme_harness_server(a->h), tag, result, &cqe)) {
        a->count++;
        a->tag = tag;
        a->result = result;
    }
}

static void on_fevent(void *ctx, void *handle, uint32_t events)
{
    (void)handle, (void)events;
    ((answers *)ctx)->fevents++;
}

static void quiet(void *ctx, const char *line)
{
    (void)ctx, (void)line;
}

static uint8_t rec[PROTO_DEV_MAX_RECORD];

static void step(dev_blk *b, int fd)
{
    struct pollfd p = {.fd = fd, .events = dev_blk_events(b)};
    poll(&p, 1, 200);
    dev_blk_step(b, p.revents);
}

static void disk_scheme(void **st)
{
    (void)st;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    dev_blk *b = dev_blk_new("disk0", quiet, NULL);
    dev_blk_attach(b, sv[0]);
    proto_blk_info in = {.size = 1u << 20, .sector = 512, .max_io = 65536, .queue = 4,
                         .flags = PROTO_BLK_CAN_FLUSH};
    uint8_t body[64];
    assert_int_equal(rb_svc_send(sv[1], PROTO_BLK_INFO, 0, body, proto_enc_blk_info(body, sizeof body, &in)), 0);
    step(b, sv[0]);
    assert_non_null(dev_blk_info(b));

    answers a = {0};
    dev_scheme_hooks hooks = {on_complete, on_fevent, &a};
    dev_disk_scheme *d = dev_disk_scheme_new(&hooks);
    assert_int_equal(dev_disk_scheme_add(d, b), 0);
    scheme_server_config cfg = {.name = "disk.revm", .ops = &dev_disk_scheme_ops, .svc = d,
                                .root_only = true};
    scheme_harness *h = scheme_harness_new_config(&cfg);
    a.h = h;

    scheme_h_dirent ents[4];
    int64_t root = scheme_h_open(h, "", scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_DIRECTORY, 0));
    assert_true(root >= 0);
    assert_int_equal(scheme_h_readdir(h, (uint64_t)root, 256, ents, 4), 1);
    assert_string_equal(ents[0].name, "0");
    assert_int_equal(scheme_h_open(h, "1", scheme_h_flags(SCHEME_OPEN_READ, 0)), -ENOENT);
    assert_int_equal(scheme_h_open(h, "00", scheme_h_flags(SCHEME_OPEN_READ, 0)), -ENOENT);
    scheme_h_set_caller(h, 1000, 1000, 5);
    assert_int_equal(scheme_h_open(h, "0", scheme_h_flags(SCHEME_OPEN_READ, 0)), -EACCES);
    scheme_h_set_caller(h, 0, 0, 1);
    int64_t fd = scheme_h_open(h, "0", scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_WRITE, 0));
    assert_true(fd >= 0);
    assert_int_equal(scheme_h_fsize(h, (uint64_t)fd), 1u << 20);
    scheme_stat stt;
    assert_int_equal(scheme_h_fstat(h, (uint64_t)fd, &stt), 0);
    assert_int_equal(stt.mode & SCHEME_MODE_TYPE, SCHEME_MODE_BLK);
    assert_int_equal(stt.size, 1u << 20);

    /* A read waits for the guest. */
    static uint8_t buf[4096];
    assert_int_equal(scheme_h_read(h, (uint64_t)fd, buf, sizeof buf, 8192), INT64_MIN);
    uint32_t tag0 = scheme_h_last_tag(h);
    uint8_t type;
    uint32_t tag;
    size_t n;
    step(b, sv[0]);
    assert_int_equal(rb_svc_recv(sv[1], rec, sizeof rec, &type, &tag, &n), 0);
    assert_int_equal(type, PROTO_BLK_READ);
    uint8_t done[4 + 4096] = {0};
    memset(done + 4, 'R', 4096);
    assert_int_equal(rb_svc_send(sv[1], PROTO_BLK_DONE, tag, done, sizeof done), 0);
    for (int i = 0; i < 10 && !a.count; i++)
        step(b, sv[0]);
    assert_int_equal(a.count, 1);
    assert_int_equal(a.tag, tag0);
    assert_int_equal(a.result, 4096);
    assert_int_equal(buf[0], 'R');
    assert_int_equal(buf[4095], 'R');

    /* A read at the end of the disk is clamped; past it is end of file. */
    assert_int_equal(scheme_h_read(h, (uint64_t)fd, buf, sizeof buf, 1u << 20), 0);

    /* A write is FUA and answered after the guest's completion. */
    memset(buf, 'W', sizeof buf);
    assert_int_equal(scheme_h_write(h, (uint64_t)fd, buf, 512, 0), INT64_MIN);
    step(b, sv[0]);
    assert_int_equal(rb_svc_recv(sv[1], rec, sizeof rec, &type, &tag, &n), 0);
    assert_int_equal(type, PROTO_BLK_WRITE);
    assert_int_equal(n, PROTO_BLK_REQ_HDR + 512);
    assert_int_equal(rec[8], PROTO_BLK_WRITE_FUA);
    assert_int_equal(rec[PROTO_BLK_REQ_HDR], 'W');
    assert_int_equal(rb_svc_send(sv[1], PROTO_BLK_DONE, tag, done, 4), 0);
    for (int i = 0; i < 10 && a.count < 2; i++)
        step(b, sv[0]);
    assert_int_equal(a.count, 2);
    assert_int_equal(a.result, 512);

    /* A cancelled read: the server answers EINTR; the late completion touches nothing. */
    memset(buf, 0, sizeof buf);
    assert_int_equal(scheme_h_read(h, (uint64_t)fd, buf, sizeof buf, 0), INT64_MIN);
    assert_int_equal(scheme_h_cancel(h, scheme_h_last_tag(h)), -EINTR);
    step(b, sv[0]);
    assert_int_equal(rb_svc_recv(sv[1], rec, sizeof rec, &type, &tag, &n), 0);
    assert_int_equal(rb_svc_send(sv[1], PROTO_BLK_DONE, tag, done, sizeof done), 0);
    for (int i = 0; i < 5; i++)
        step(b, sv[0]);
    assert_int_equal(a.count, 2);
    assert_int_equal(buf[0], 0);
    assert_int_equal(dev_blk_pending(b), 0);

    scheme_h_close(h, (uint64_t)fd);
    scheme_harness_free(h);
    dev_blk_free(b);
    dev_disk_scheme_free(d);
    close(sv[0]);
    close(sv[1]);
}

static dev_net_scheme *the_scheme;
static void net_frame_cb(void *ctx, const uint8_t *f, size_t n)
{
    (void)ctx;
    dev_net_scheme_frame(the_scheme, f, n);
}

static void net_scheme(void **st)
{
    (void)st;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    dev_net_ops ops = {net_frame_cb, NULL};
    dev_net *n = dev_net_new("eth0", &ops, NULL);
    dev_net_attach(n, sv[0]);
    proto_net_info ni = {.mac = {0x52, 0x54, 0, 0xbe, 0xef, 1}, .mtu = 1500, .link = 1};
    uint8_t b[32];
    assert_int_equal(rb_svc_send(sv[1], PROTO_NET_INFO, 0, b, proto_enc_net_info(b, sizeof b, &ni)), 0);
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    poll(&p, 1, 500);
    dev_net_step(n, p.revents);

    answers a = {0};
    dev_scheme_hooks hooks = {on_complete, on_fevent, &a};
    the_scheme = dev_net_scheme_new(n, &hooks);
    scheme_server_config cfg = {.name = "network.revm", .ops = &dev_net_scheme_ops,
                                .svc = the_scheme, .root_only = true};
    scheme_harness *h = scheme_harness_new_config(&cfg);
    a.h = h;

    int64_t mac = scheme_h_open(h, "mac", scheme_h_flags(SCHEME_OPEN_READ, 0));
    uint8_t m[16];
    assert_int_equal(scheme_h_read(h, (uint64_t)mac, m, sizeof m, 0), 6);
    assert_memory_equal(m, ni.mac, 6);
    assert_int_equal(scheme_h_open(h, "nope", scheme_h_flags(SCHEME_OPEN_READ, 0)), -ENOENT);

    int64_t nb = scheme_h_open(h, "", scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_NONBLOCK, 0));
    uint8_t frame[2000];
    assert_int_equal(scheme_h_read(h, (uint64_t)nb, frame, sizeof frame, 0), -EAGAIN);
    assert_int_equal(scheme_h_fevent(h, (uint64_t)nb, SCHEME_EVENT_READ), 0);

    /* Two frames from the guest: queued, readiness signalled, one per read. */
    memset(frame, 0xaa, sizeof frame);
    assert_int_equal(rb_svc_send(sv[1], PROTO_NET_FRAME, 0, frame, 60), 0);
    assert_int_equal(rb_svc_send(sv[1], PROTO_NET_FRAME, 0, frame, 1514), 0);
    for (int i = 0; i < 10 && the_scheme && a.fevents < 2; i++) {
        poll(&p, 1, 100);
        dev_net_step(n, p.revents);
    }
    assert_true(a.fevents >= 2);
    assert_int_equal(scheme_h_fevent(h, (uint64_t)nb, SCHEME_EVENT_READ), SCHEME_EVENT_READ);
    assert_int_equal(scheme_h_read(h, (uint64_t)nb, frame, sizeof frame, 0), 60);
    assert_int_equal(scheme_h_read(h, (uint64_t)nb, frame, sizeof frame, 0), 1514);
    assert_int_equal(scheme_h_read(h, (uint64_t)nb, frame, sizeof frame, 0), -EAGAIN);

    /* A blocking read waits for the next frame. */
    int64_t fd = scheme_h_open(h, "", scheme_h_flags(SCHEME_OPEN_READ | SCHEME_OPEN_WRITE, 0));
    static uint8_t rbuf[2000];
    assert_int_equal(scheme_h_read(h, (uint64_t)fd, rbuf, sizeof rbuf, 0), INT64_MIN);
    assert_int_equal(rb_svc_send(sv[1], PROTO_NET_FRAME, 0, frame, 100), 0);
    for (int i = 0; i < 10 && !a.count; i++) {
        poll(&p, 1, 100);
        dev_net_step(n, p.revents);
    }
    assert_int_equal(a.count, 1);
    assert_int_equal(a.result, 100);
    assert_int_equal(rbuf[0], 0xaa);

    /* Writes: one frame each; beyond the MTU refused. */
    assert_int_equal(scheme_h_write(h, (uint64_t)fd, frame, 1519, 0), -EINVAL);
    assert_int_equal(scheme_h_write(h, (uint64_t)fd, frame, 64, 0), 64);
    dev_net_step(n, POLLOUT);
    uint8_t type;
    uint32_t tag;
    size_t len;
    assert_int_equal(rb_svc_recv(sv[1], rec, sizeof rec, &type, &tag, &len), 0);
    assert_int_equal(type, PROTO_NET_FRAME);
    assert_int_equal(len, 64);

    scheme_harness_free(h);
    dev_net_scheme_free(the_scheme);
    dev_net_free(n);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(disk_scheme),
        cmocka_unit_test(net_scheme),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
