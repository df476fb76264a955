/* The guest's desktop service (revm-guestd/desktop.c), run in a child process over a pipe on a fake
 * data dir: initial list with filtering and icon choice, SYNC_DONE, then inotify events for an
 * application added (also in an applications/ directory created later), changed, hidden and
 * removed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "revm-guestd/desktop.h"
#include "proto.h"

static char root[128], dirs[512];
static int rfd = -1;
static pid_t child;
static proto_app_stream st;
static uint8_t stbuf[PROTO_APP_STREAM_BUF];
static uint8_t inbuf[65536];
static size_t in_have, in_off;

static void put(const char *rel, const char *text)
{
    char p[512], cmd[600];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", p);
    assert_int_equal(system(cmd), 0);
    /* write + rename, as package managers do */
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, p), 0);
}

static const char *app(const char *name, const char *extra)
{
    static char b[1024];
    snprintf(b, sizeof b, "[Desktop Entry]\nType=Application\nName=%s\nName[de]=%s-de\nExec=%s\n%s",
             name, name, name, extra);
    return b;
}

/* Next record, waiting up to ms; false on timeout. Copies the id. */
static bool next(int ms, uint8_t *type, char *id, size_t *icon_len, char *ext)
{
    for (;;) {
        if (in_off < in_have) {
            size_t used;
            proto_app_event ev;
            int r = proto_app_stream_feed(&st, inbuf + in_off, in_have - in_off, &used, &ev);
            in_off += used;
            assert_int_not_equal(r, PROTO_BAD_FRAME);
            if (r == PROTO_FRAME) {
                *type = ev.type;
                snprintf(id, 256, "%.*s", (int)ev.id.n, ev.id.s);
                if (icon_len)
                    *icon_len = ev.icon_len;
                if (ext)
                    snprintf(ext, 4, "%.*s", (int)ev.icon_ext.n, ev.icon_ext.s);
                return true;
            }
            continue;
        }
        struct pollfd p = {.fd = rfd, .events = POLLIN};
        if (poll(&p, 1, ms) <= 0)
            return false;
        ssize_t n = read(rfd, inbuf, sizeof inbuf);
        assert_true(n > 0);
        in_have = (size_t)n;
        in_off = 0;
    }
}

static int setup(void **s)
{
    (void)s;
    snprintf(root, sizeof root, "/tmp/revm-apps-guest-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    snprintf(dirs, sizeof dirs, "%s/local:%s/share", root, root);
    proto_app_stream_init(&st, stbuf);
    in_have = in_off = 0;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        child = 0;
    }
    if (rfd >= 0)
        close(rfd);
    rfd = -1;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

static void start(void)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(p[0]);
        setenv("PATH", "/bin:/usr/bin", 1);
        _exit(guest_desktop_run(p[1], dirs, "de_DE.UTF-8"));
    }
    close(p[1]);
    rfd = p[0];
}

static void service(void **s)
{
    (void)s;
    put("share/applications/btop.desktop", app("btop", "Icon=btop\nTerminal=true\n"));
    put("share/icons/hicolor/16x16/apps/btop.png", "p16");
    put("share/icons/hicolor/48x48/apps/btop.png", "p48");
    put("share/icons/hicolor/256x256/apps/btop.png", "p256");
    put("share/icons/hicolor/scalable/apps/btop.svg", "<svg/>");
    put("share/icons/hicolor/scalable/apps/vec.svg", "<svg/>");
    put("share/applications/vec.desktop", app("vec", "Icon=vec\n"));
    put("share/applications/hidden.desktop", app("hidden", "NoDisplay=true\n"));
    put("share/applications/gnome-only.desktop", app("g", "OnlyShowIn=GNOME;\n"));
    put("share/applications/notredox.desktop", app("n", "NotShowIn=Redox;\n"));
    put("share/applications/tryexec.desktop", app("t", "TryExec=/nonexistent/prog\n"));
    put("share/applications/kde/konsole.desktop", app("konsole", ""));
    /* the first data dir hides the second one's entry of the same id */
    put("local/applications/over.desktop", app("over", "Hidden=true\n"));
    put("share/applications/over.desktop", app("over", ""));
    put("share/applications/notes.txt", "x");
    start();
    uint8_t type;
    char id[256], ext[4];
    size_t icon_len;
    int n = 0;
    bool saw_btop = false, saw_vec = false, saw_konsole = false;
    while (next(5000, &type, id, &icon_len, ext) && type == PROTO_APP_ADD) {
        n++;
        if (!strcmp(id, "btop.desktop")) {
            saw_btop = true;
            assert_string_equal(ext, "png");
            assert_int_equal(icon_len, 3); /* the 48 px one */
        } else if (!strcmp(id, "vec.desktop")) {
            saw_vec = true;
            assert_string_equal(ext, "svg");
        } else if (!strcmp(id, "kde-konsole.desktop")) {
            saw_konsole = true;
            assert_int_equal(icon_len, 0);
        } else {
            fail_msg("unexpected application %s", id);
        }
    }
    assert_int_equal(type, PROTO_APP_SYNC_DONE);
    assert_int_equal(n, 3);
    assert_true(saw_btop && saw_vec && saw_konsole);

    /* added, in a subdirectory created after the start */
    put("share/applications/sub/new.desktop", app("new", ""));
    assert_true(next(3000, &type, id, NULL, NULL));
    assert_int_equal(type, PROTO_APP_ADD);
    assert_string_equal(id, "sub-new.desktop");
    put("share/applications/sub/newer.desktop", app("newer", ""));
    assert_true(next(3000, &type, id, NULL, NULL));
    assert_string_equal(id, "sub-newer.desktop");
    /* changed */
    put("share/applications/vec.desktop", app("vec2", "Icon=vec\n"));
    assert_true(next(3000, &type, id, NULL, NULL));
    assert_int_equal(type, PROTO_APP_ADD);
    assert_string_equal(id, "vec.desktop");
    /* no longer visible */
    put("share/applications/vec.desktop", app("vec2", "NoDisplay=true\n"));
    assert_true(next(3000, &type, id, NULL, NULL));
    assert_int_equal(type, PROTO_APP_REMOVE);
    assert_string_equal(id, "vec.desktop");
    /* removed */
    char p[300];
    snprintf(p, sizeof p, "%s/share/applications/btop.desktop", root);
    assert_int_equal(unlink(p), 0);
    assert_true(next(3000, &type, id, NULL, NULL));
    assert_int_equal(type, PROTO_APP_REMOVE);
    assert_string_equal(id, "btop.desktop");
    /* nothing else */
    assert_false(next(500, &type, id, NULL, NULL));
}

static void icons(void **s)
{
    (void)s;
    char out[512], ext[4];
    put("share/icons/Adwaita/32x32/apps/a.png", "a");
    put("share/icons/hicolor/scalable/apps/a.svg", "<svg/>");
    put("share/icons/hicolor/128x128/apps/a.png", "a128");
    put("share/icons/hicolor/64x64/apps/a.png", "a64");
    assert_int_equal(guest_desktop_find_icon("a", dirs, out, sizeof out, ext), 0);
    assert_non_null(strstr(out, "hicolor/64x64/apps/a.png"));
    assert_int_equal(guest_desktop_find_icon("a.png", dirs, out, sizeof out, ext), 0);
    put("share/icons/Adwaita/32x32/apps/only.png", "o");
    assert_int_equal(guest_desktop_find_icon("only", dirs, out, sizeof out, ext), 0);
    assert_non_null(strstr(out, "Adwaita"));
    assert_int_equal(guest_desktop_find_icon("../../etc/passwd", dirs, out, sizeof out, ext), -1);
    assert_int_equal(guest_desktop_find_icon("missing", dirs, out, sizeof out, ext), -1);
    snprintf(out, sizeof out, "%s/share/icons/hicolor/64x64/apps/a.png", root);
    char abs[512];
    snprintf(abs, sizeof abs, "%s", out);
    assert_int_equal(guest_desktop_find_icon(abs, dirs, out, sizeof out, ext), 0);
    assert_string_equal(ext, "png");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(service, setup, teardown),
        cmocka_unit_test_setup_teardown(icons, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
