/* Launcher entries: the Exec line written for a VM application must parse back (with our own
 * desktop parser) to exactly "revm --vm VM -- <the app's argv>", whatever the app's argv holds;
 * desktop-file-validate must accept the file; names and icons stay inside the folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "revmd/launcher.h"

static char dir[256];

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/revm-launcher-test-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[65536];
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static void round_trip(void **s)
{
    (void)s;
    static desktop_entry app, back;
    char err[256];
    const char *src = "[Desktop Entry]\nType=Application\nName=Evil \"$(rm -rf ~)\"\n"
                      "Exec=sh -c \"echo \\\\\"a\\\\\\\\b\\\\\" \\\\$HOME `x`; 100%%\" --x='q' %F\n"
                      "Terminal=true\nCategories=System;Bad/Cat;Monitor;\n";
    assert_int_equal(desktop_entry_parse(src, strlen(src), NULL, &app, err, sizeof err), 0);
    sup_launcher l = {.format = SUP_LAUNCHER_XDG};
    snprintf(l.dir, sizeof l.dir, "%s", dir);
    snprintf(l.revm, sizeof l.revm, "/usr/bin/revm");
    const uint8_t png[] = {0x89, 'P', 'N', 'G'};
    if (sup_launcher_write(&l, "app", "../../evil.desktop", &app, png, sizeof png, "png", err, sizeof err))
        fail_msg("%s", err);
    char path[512];
    snprintf(path, sizeof path, "%s/revm-app-_._.._evil.desktop", dir);
    size_t len;
    char *text = slurp(path, &len);
    assert_non_null(text);
    assert_int_equal(desktop_entry_parse(text, len, NULL, &back, err, sizeof err), 0);
    assert_int_equal(back.exec_argc, app.exec_argc + 4);
    assert_string_equal(back.exec_argv[0], "/usr/bin/revm");
    assert_string_equal(back.exec_argv[1], "--vm");
    assert_string_equal(back.exec_argv[2], "app");
    assert_string_equal(back.exec_argv[3], "--");
    for (size_t i = 0; i < app.exec_argc; i++)
        assert_string_equal(back.exec_argv[4 + i], app.exec_argv[i]);
    assert_true(back.terminal);
    assert_non_null(strstr(text, "Categories=System;Monitor;X-revm-app;"));
    assert_non_null(strstr(back.name, "(app VM)"));
    snprintf(path, sizeof path, "%s/icons/revm-app-_._.._evil.png", dir);
    assert_int_equal(access(path, R_OK), 0);
    if (access("/usr/bin/desktop-file-validate", X_OK) == 0) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "desktop-file-validate '%s/revm-app-_._.._evil.desktop'", dir);
        assert_int_equal(system(cmd), 0);
    }
    /* removal takes entry and icon; clearing a VM takes everything of that VM only */
    sup_launcher_remove(&l, "app", "../../evil.desktop");
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(sup_launcher_write(&l, "app", "a", &app, NULL, 0, NULL, err, sizeof err), 0);
    assert_int_equal(sup_launcher_write(&l, "dev", "a", &app, NULL, 0, NULL, err, sizeof err), 0);
    sup_launcher_clear_vm(&l, "app");
    snprintf(path, sizeof path, "%s/revm-app-a.desktop", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/revm-dev-a.desktop", dir);
    assert_int_equal(access(path, F_OK), 0);
}

static void redox_manifest(void **s)
{
    (void)s;
    static desktop_entry app;
    char err[256];
    const char *src = "[Desktop Entry]\nType=Application\nName=btop++\nExec=btop --utf-force\nTerminal=true\n";
    assert_int_equal(desktop_entry_parse(src, strlen(src), NULL, &app, err, sizeof err), 0);
    sup_launcher l = {.format = SUP_LAUNCHER_REDOX};
    snprintf(l.dir, sizeof l.dir, "%s", dir);
    snprintf(l.revm, sizeof l.revm, "/usr/bin/revm");
    assert_int_equal(sup_launcher_write(&l, "app", "btop.desktop", &app, NULL, 0, NULL, err, sizeof err), 0);
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/revm-app-btop", dir);
    char *text = slurp(path, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "name=btop++ (app VM)\n"));
    assert_non_null(strstr(text, "/bin/revm-app-btop\n"));
    snprintf(path, sizeof path, "%s/bin/revm-app-btop.argv", dir);
    text = slurp(path, &len);
    const char want[] = "-t\0--vm\0app\0--\0btop\0--utf-force";
    assert_int_equal(len, sizeof want);
    assert_memory_equal(text, want, sizeof want);
    assert_int_equal(sup_launcher_write(&l, "app", "///", &app, NULL, 0, NULL, err, sizeof err), -1);
    uint8_t big[16];
    assert_int_equal(sup_launcher_write(&l, "app", "x", &app, big, sizeof big, "exe", err, sizeof err), -1);
}

/* A graphical entry (Terminal=false) starts through `revm gui`, which shows its windows. */
static void gui_entry(void **s)
{
    (void)s;
    static desktop_entry app;
    char err[256];
    const char *src = "[Desktop Entry]\nType=Application\nName=XTerm\nExec=xterm -ls\n";
    assert_int_equal(desktop_entry_parse(src, strlen(src), NULL, &app, err, sizeof err), 0);
    sup_launcher l = {.format = SUP_LAUNCHER_XDG};
    snprintf(l.dir, sizeof l.dir, "%s", dir);
    snprintf(l.revm, sizeof l.revm, "/usr/bin/revm");
    assert_int_equal(sup_launcher_write(&l, "app", "xterm.desktop", &app, NULL, 0, NULL, err, sizeof err), 0);
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/revm-app-xterm.desktop", dir);
    char *text = slurp(path, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "Exec=\"/usr/bin/revm\" --vm app gui -- \"xterm\" \"-ls\"\n"));
    assert_non_null(strstr(text, "Terminal=false\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(redox_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(gui_entry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
