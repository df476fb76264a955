/* Desktop service records (PROTOCOL.md, Desktop service): round trips, every bound, and the
 * stream reassembler fed one byte at a time and with records glued together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "proto.h"

static proto_str S(const char *s) { return (proto_str){s, (uint32_t)strlen(s)}; }

static void ids(void **st)
{
    (void)st;
    assert_true(proto_app_id_ok("btop.desktop", 12));
    assert_true(proto_app_id_ok("org.gnome.Foo+bar_1-x.desktop", strlen("org.gnome.Foo+bar_1-x.desktop")));
    assert_false(proto_app_id_ok(".desktop", 8));
    assert_false(proto_app_id_ok(".x.desktop", 10));
    assert_false(proto_app_id_ok("../x.desktop", 12));
    assert_false(proto_app_id_ok("a/b.desktop", 11));
    assert_false(proto_app_id_ok("btop", 4));
    assert_false(proto_app_id_ok("bt op.desktop", 13));
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big + 256 - 8, ".desktop", 8);
    assert_false(proto_app_id_ok(big, 256));
    memcpy(big + 255 - 8, ".desktop", 8);
    assert_true(proto_app_id_ok(big, 255));
}

static void open_request(void **st)
{
    (void)st;
    uint8_t f[64];
    size_t n = proto_enc_desktop_open(f, sizeof f, 7);
    assert_int_equal(n, PROTO_HDR_SIZE + 6);
    proto_hdr h;
    assert_true(proto_hdr_decode(f, 4096, &h));
    assert_int_equal(h.type, PROTO_OPEN);
    assert_int_equal(h.chan, 7);
    uint16_t svc;
    assert_true(proto_dec_open_service(f + PROTO_HDR_SIZE, h.len, &svc));
    assert_int_equal(svc, PROTO_SVC_DESKTOP);
    assert_true(proto_dec_desktop_open(f + PROTO_HDR_SIZE + 2, 4));
    const uint8_t bad[4] = {1, 0, 0, 0};
    assert_false(proto_dec_desktop_open(bad, 4));
    assert_false(proto_dec_desktop_open(bad, 3));
    const uint8_t longer[5] = {0};
    assert_false(proto_dec_desktop_open(longer, 5));
}

static void round_trip(void **st)
{
    (void)st;
    static uint8_t buf[PROTO_APP_STREAM_BUF];
    const char text[] = "[Desktop Entry]\nType=Application\nName=btop++\nExec=btop\n";
    uint8_t icon[300];
    for (size_t i = 0; i < sizeof icon; i++)
        icon[i] = (uint8_t)i;
    proto_app_event add = {.type = PROTO_APP_ADD, .id = S("btop.desktop"),
                           .text = (const uint8_t *)text, .text_len = sizeof text - 1,
                           .icon_ext = S("png"), .icon = icon, .icon_len = sizeof icon};
    size_t n = proto_enc_app_record(buf, sizeof buf, &add);
    assert_true(n > 4);
    proto_app_event ev;
    assert_true(proto_dec_app_record(buf + 4, n - 4, &ev));
    assert_int_equal(ev.type, PROTO_APP_ADD);
    assert_int_equal(ev.id.n, 12);
    assert_memory_equal(ev.id.s, "btop.desktop", 12);
    assert_int_equal(ev.text_len, sizeof text - 1);
    assert_memory_equal(ev.text, text, sizeof text - 1);
    assert_int_equal(ev.icon_len, sizeof icon);
    assert_memory_equal(ev.icon, icon, sizeof icon);
    /* every truncation is malformed, and so is a trailing byte */
    for (size_t k = 4; k < n; k++)
        assert_false(proto_dec_app_record(buf + 4, k - 4, &ev));
    buf[n] = 0;
    assert_false(proto_dec_app_record(buf + 4, n - 3, &ev));

    proto_app_event rm = {.type = PROTO_APP_REMOVE, .id = S("btop.desktop")};
    n = proto_enc_app_record(buf, sizeof buf, &rm);
    assert_true(proto_dec_app_record(buf + 4, n - 4, &ev));
    assert_int_equal(ev.type, PROTO_APP_REMOVE);
    proto_app_event done = {.type = PROTO_APP_SYNC_DONE};
    n = proto_enc_app_record(buf, sizeof buf, &done);
    assert_int_equal(n, 5);
    assert_true(proto_dec_app_record(buf + 4, 1, &ev));
    assert_int_equal(ev.type, PROTO_APP_SYNC_DONE);
}

static void bounds(void **st)
{
    (void)st;
    static uint8_t buf[PROTO_APP_STREAM_BUF + 16];
    static uint8_t big[PROTO_APP_MAX_ICON + 1];
    proto_app_event ev = {.type = PROTO_APP_ADD, .id = S("x.desktop"), .text = big,
                          .text_len = PROTO_APP_MAX_TEXT, .icon_ext = S("svg"), .icon = big,
                          .icon_len = PROTO_APP_MAX_ICON};
    /* the largest legal record with the longest id fits PROTO_APP_MAX_RECORD */
    char id[PROTO_APP_MAX_ID + 1];
    memset(id, 'a', sizeof id);
    memcpy(id + PROTO_APP_MAX_ID - 8, ".desktop", 8);
    ev.id = (proto_str){id, PROTO_APP_MAX_ID};
    size_t n = proto_enc_app_record(buf, sizeof buf, &ev);
    assert_true(n > 0 && n <= PROTO_APP_STREAM_BUF);
    proto_app_event d;
    assert_true(proto_dec_app_record(buf + 4, n - 4, &d));
    ev.id = S("x.desktop");
    ev.text_len = PROTO_APP_MAX_TEXT + 1;
    assert_int_equal(proto_enc_app_record(buf, sizeof buf, &ev), 0);
    ev.text_len = 1;
    ev.icon_len = PROTO_APP_MAX_ICON + 1;
    assert_int_equal(proto_enc_app_record(buf, sizeof buf, &ev), 0);
    ev.icon_len = 1;
    ev.icon_ext = S("exe");
    assert_int_equal(proto_enc_app_record(buf, sizeof buf, &ev), 0);
    ev.icon_ext = S("");
    assert_int_equal(proto_enc_app_record(buf, sizeof buf, &ev), 0); /* icon without ext */
    ev.icon_len = 0;
    ev.id = S("../../etc/passwd");
    assert_int_equal(proto_enc_app_record(buf, sizeof buf, &ev), 0);
    /* hand-made: a text length that lies about the bytes that follow */
    const uint8_t lie[] = {PROTO_APP_ADD, 9, 0, 0, 0, 'x', '.', 'd', 'e', 's', 'k', 't', 'o', 'p',
                           0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_false(proto_dec_app_record(lie, sizeof lie, &d));
    const uint8_t unknown[] = {0x73};
    assert_false(proto_dec_app_record(unknown, 1, &d));
}

static void stream(void **st)
{
    (void)st;
    static uint8_t wire[4096], buf[PROTO_APP_STREAM_BUF];
    size_t w = 0;
    const char *names[] = {"a.desktop", "b.desktop", "c.desktop"};
    for (int i = 0; i < 3; i++) {
        proto_app_event ev = {.type = PROTO_APP_ADD, .id = S(names[i]),
                              .text = (const uint8_t *)"[Desktop Entry]\n", .text_len = 16};
        w += proto_enc_app_record(wire + w, sizeof wire - w, &ev);
    }
    proto_app_event done = {.type = PROTO_APP_SYNC_DONE};
    w += proto_enc_app_record(wire + w, sizeof wire - w, &done);
    for (int mode = 0; mode < 2; mode++) {
        proto_app_stream s;
        proto_app_stream_init(&s, buf);
        int got = 0, sync = 0;
        size_t off = 0;
        while (off < w) {
            size_t chunk = mode == 0 ? 1 : w - off, used;
            proto_app_event ev;
            int r = proto_app_stream_feed(&s, wire + off, chunk, &used, &ev);
            assert_int_not_equal(r, PROTO_BAD_FRAME);
            off += used;
            if (r == PROTO_FRAME) {
                if (ev.type == PROTO_APP_ADD) {
                    assert_memory_equal(ev.id.s, names[got], ev.id.n);
                    got++;
                } else {
                    sync++;
                }
            }
        }
        assert_int_equal(got, 3);
        assert_int_equal(sync, 1);
    }
    /* an oversized length is refused as soon as its 4 bytes are in, without buffering */
    proto_app_stream s;
    proto_app_stream_init(&s, buf);
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x70};
    size_t used;
    proto_app_event ev;
    assert_int_equal(proto_app_stream_feed(&s, huge, sizeof huge, &used, &ev), PROTO_BAD_FRAME);
    proto_app_stream_init(&s, buf);
    const uint8_t zero[] = {0, 0, 0, 0};
    assert_int_equal(proto_app_stream_feed(&s, zero, sizeof zero, &used, &ev), PROTO_BAD_FRAME);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids), cmocka_unit_test(open_request), cmocka_unit_test(round_trip),
        cmocka_unit_test(bounds), cmocka_unit_test(stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
