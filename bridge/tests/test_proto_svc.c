/* Service channels (PROTOCOL.md, Service channels): the OPEN request, the record framing, the
 * reassembler fed one byte at a time and with records glued together, and every bound; then
 * rb_svc's local socket against a real local helper and a real guest daemon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"
#include "rb_svc.h"

static void open_request(void **st)
{
    (void)st;
    uint8_t f[PROTO_HDR_SIZE + 16 + PROTO_SVC_MAX_ARG];
    size_t n = proto_enc_svc_open(f, sizeof f, 9, PROTO_SVC_FS, 3, "ext4.data", 9);
    assert_int_equal(n, PROTO_HDR_SIZE + 2 + 4 + 4 + 9);
    proto_hdr h;
    assert_true(proto_hdr_decode(f, 4096, &h));
    assert_int_equal(h.type, PROTO_OPEN);
    assert_int_equal(h.chan, 9);
    uint16_t svc;
    assert_true(proto_dec_open_service(f + PROTO_HDR_SIZE, h.len, &svc));
    assert_int_equal(svc, PROTO_SVC_FS);
    uint32_t flags;
    proto_str arg;
    assert_true(proto_dec_svc_open(f + PROTO_HDR_SIZE + 2, h.len - 2, &flags, &arg));
    assert_int_equal(flags, 3);
    assert_int_equal(arg.n, 9);
    assert_memory_equal(arg.s, "ext4.data", 9);
    /* empty arg, trailing bytes, truncation, NUL, over the bound */
    assert_int_not_equal(proto_enc_svc_open(f, sizeof f, 1, PROTO_SVC_WINDOW, 0, NULL, 0), 0);
    assert_false(proto_dec_svc_open(f + PROTO_HDR_SIZE + 2, 7, &flags, &arg));
    uint8_t longer[16] = {0};
    assert_false(proto_dec_svc_open(longer, 9, &flags, &arg));
    assert_int_equal(proto_enc_svc_open(f, sizeof f, 1, PROTO_SVC_FS, 0, "a\0b", 3), 0);
    char big[PROTO_SVC_MAX_ARG + 1];
    memset(big, 'x', sizeof big);
    assert_int_equal(proto_enc_svc_open(f, sizeof f, 1, PROTO_SVC_FS, 0, big, sizeof big), 0);
    assert_int_not_equal(proto_enc_svc_open(f, sizeof f, 1, PROTO_SVC_FS, 0, big, sizeof big - 1), 0);
    assert_true(proto_svc_is_record_service(PROTO_SVC_DISPLAY));
    assert_false(proto_svc_is_record_service(PROTO_SVC_EXEC));
    assert_false(proto_svc_is_record_service(PROTO_SVC_DESKTOP));
}

/* Three records glued together, fed in every chunk size from 1 byte to all at once. */
static void reassembly(void **st)
{
    (void)st;
    uint8_t s[3 * PROTO_REC_HDR + 100 + 0 + 7];
    size_t n = 0;
    uint8_t body[100];
    for (int i = 0; i < 100; i++)
        body[i] = (uint8_t)i;
    proto_rec_hdr(s + n, 0x31, 7, 100), n += PROTO_REC_HDR;
    memcpy(s + n, body, 100), n += 100;
    proto_rec_hdr(s + n, 0x32, 0, 0), n += PROTO_REC_HDR;
    proto_rec_hdr(s + n, 0x33, 0xffffffffu, 7), n += PROTO_REC_HDR;
    memcpy(s + n, "abcdefg", 7), n += 7;
    static uint8_t buf[4 + 200];
    for (size_t chunk = 1; chunk <= n; chunk++) {
        proto_rec_stream rs;
        proto_rec_stream_init(&rs, buf, 200);
        int got = 0;
        for (size_t off = 0; off < n;) {
            size_t k = n - off < chunk ? n - off : chunk, used;
            while (k) {
                proto_rec r;
                int st2 = proto_rec_stream_feed(&rs, s + off, k, &used, &r);
                assert_int_not_equal(st2, PROTO_BAD_FRAME);
                off += used, k -= used;
                if (st2 != PROTO_FRAME)
                    continue;
                if (got == 0) {
                    assert_int_equal(r.type, 0x31);
                    assert_int_equal(r.tag, 7);
                    assert_int_equal(r.body_len, 100);
                    assert_memory_equal(r.body, body, 100);
                } else if (got == 1) {
                    assert_int_equal(r.type, 0x32);
                    assert_int_equal(r.body_len, 0);
                } else {
                    assert_int_equal(r.tag, 0xffffffffu);
                    assert_memory_equal(r.body, "abcdefg", 7);
                }
                got++;
            }
        }
        assert_int_equal(got, 3);
    }
}

static void bounds(void **st)
{
    (void)st;
    static uint8_t buf[4 + 64];
    proto_rec_stream rs;
    proto_rec r;
    size_t used;
    uint8_t h[PROTO_REC_HDR];
    /* over the receiver's maximum: refused from the length alone, fast path and slow path */
    proto_rec_hdr(h, 1, 1, 60);
    proto_rec_stream_init(&rs, buf, 64);
    assert_int_equal(proto_rec_stream_feed(&rs, h, sizeof h, &used, &r), PROTO_BAD_FRAME);
    proto_rec_stream_init(&rs, buf, 64);
    assert_int_equal(proto_rec_stream_feed(&rs, h, 2, &used, &r), PROTO_NEED_MORE);
    assert_int_equal(proto_rec_stream_feed(&rs, h + 2, 2, &used, &r), PROTO_BAD_FRAME);
    /* below the minimum (no room for type and tag) */
    const uint8_t tiny[4] = {4, 0, 0, 0};
    proto_rec_stream_init(&rs, buf, 64);
    assert_int_equal(proto_rec_stream_feed(&rs, tiny, 4, &used, &r), PROTO_BAD_FRAME);
    const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    proto_rec_stream_init(&rs, buf, 64);
    assert_int_equal(proto_rec_stream_feed(&rs, huge, 4, &used, &r), PROTO_BAD_FRAME);
    /* exactly the maximum is fine */
    uint8_t ok[4 + 64] = {0};
    proto_rec_hdr(ok, 2, 3, 59);
    proto_rec_stream_init(&rs, buf, 64);
    assert_int_equal(proto_rec_stream_feed(&rs, ok, sizeof ok, &used, &r), PROTO_FRAME);
    assert_int_equal(r.body_len, 59);
}

static char *test_bin(const char *name)
{
    const char *b = getenv("BUILD");
    static char p[4096];
    snprintf(p, sizeof p, "%s/tests/bin/%s", b ? b : "build", name);
    return p;
}

/* rb_svc_spawn_local with cat as the helper: records come back byte for byte, and the
 * blocking helpers refuse a record above the caller's buffer. */
static void local_helper(void **st)
{
    (void)st;
    char err[256];
    char *argv[] = {"/bin/cat", NULL};
    rb_svc *s = rb_svc_spawn_local(argv, NULL, err, sizeof err);
    assert_non_null(s);
    int fd = rb_svc_fd(s);
    static uint8_t big[300000], got[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 13);
    assert_int_equal(rb_svc_send(fd, 0x40, 5, big, sizeof big), 0);
    uint8_t type;
    uint32_t tag;
    size_t n;
    assert_int_equal(rb_svc_recv(fd, got, sizeof got, &type, &tag, &n), 0);
    assert_int_equal(type, 0x40);
    assert_int_equal(tag, 5);
    assert_int_equal(n, sizeof big);
    assert_memory_equal(got, big, n);
    assert_int_equal(rb_svc_send(fd, 0x41, 6, big, 100), 0);
    assert_int_equal(rb_svc_recv(fd, got, 99, &type, &tag, &n), -1);
    assert_int_equal(errno, EPROTO);
    rb_svc_close(s);
}

/* Through a real guest daemon: a service the guest does not install is refused with the
 * guest's reason, not a hang. */
static void daemon_refusal(void **st)
{
    (void)st;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char fdarg[16];
        int fd = dup(sv[1]); /* without CLOEXEC */
        snprintf(fdarg, sizeof fdarg, "%d", fd);
        execl(test_bin("revm-guestd"), "revm-guestd", "--fd", fdarg, "--quiet", (char *)NULL);
        _exit(127);
    }
    close(sv[1]);
    char err[256] = "";
    rb_svc *s = rb_svc_open(sv[0], PROTO_SVC_WINDOW, 0, "", -1, err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "revm-winagent"));
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_request), cmocka_unit_test(reassembly), cmocka_unit_test(bounds),
        cmocka_unit_test(local_helper), cmocka_unit_test(daemon_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
