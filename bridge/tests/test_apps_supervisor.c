/* The supervisor's handling of the guest's application events (revmd/apps.c), fed hostile
 * input: huge and binary desktop files, path traversal in ids and Icon, shell metacharacters in
 * Exec, refused icon types. Nothing may be written outside the launcher folder and every
 * entry must run revm with the VM's argv. Then the whole chain: the guest daemon (sanitizer
 * build, on a unix socket) runs the desktop service on a fake data dir and the supervisor's
 * thread turns it into entries, follows a removal, and sweeps stale entries at SYNC_DONE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "desktop/desktop_entry.h"
#include "revmd/apps.h"

static char root[128], dir[256];
static sup_apps_state st;
static pid_t guest_pid;   /* the chain test's guest daemon: killed in teardown, pass or fail */
static sup_apps *chain_apps;

static int setup(void **s)
{
    (void)s;
    snprintf(root, sizeof root, "/tmp/revm-apps-sup-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    snprintf(dir, sizeof dir, "%s/launch", root);
    sup_launcher l = {.format = SUP_LAUNCHER_XDG};
    snprintf(l.dir, sizeof l.dir, "%s", dir);
    snprintf(l.revm, sizeof l.revm, "/opt/revm/bin/revm");
    return sup_apps_state_init(&st, &l, "app");
}

static int teardown(void **s)
{
    (void)s;
    sup_apps_stop(chain_apps);
    chain_apps = NULL;
    if (guest_pid > 0) {
        kill(guest_pid, SIGKILL);
        waitpid(guest_pid, NULL, 0);
        guest_pid = 0;
    }
    sup_apps_state_fini(&st);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd);
}

static char *slurp(const char *path, size_t *len)
{
    static char buf[65536];
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    *len = fread(buf, 1, sizeof buf - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static int add(const char *id, const char *text, size_t tlen, const char *ext, const void *icon,
               size_t ilen)
{
    proto_app_event ev = {.type = PROTO_APP_ADD, .id = {id, (uint32_t)strlen(id)},
                          .text = (const uint8_t *)text, .text_len = (uint32_t)tlen,
                          .icon_ext = {ext, (uint32_t)strlen(ext)}, .icon = icon,
                          .icon_len = (uint32_t)ilen};
    char err[512];
    return sup_apps_apply(&st, &ev, err, sizeof err);
}

/* Every path under root, relative, sorted, one per line. */
static void tree(char *out, size_t cap)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "cd '%s' && find . | LC_ALL=C sort", root);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    pclose(p);
}

static void hostile(void **s)
{
    (void)s;
    const char png[] = "\x89PNG fake";
    const char *evil =
        "[Desktop Entry]\nType=Application\nName=Evil\n"
        "Exec=sh -c \"rm -rf ~; $(id) `id` > /tmp/x\" ; reboot %f\n"
        "Icon=../../../../../../tmp/evil-icon\nTryExec=/bin/true\n";
    assert_int_equal(add("evil.desktop", evil, strlen(evil), "png", png, sizeof png - 1), 0);
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/revm-app-evil.desktop", dir);
    char *text = slurp(path, &len);
    assert_non_null(text);
    static desktop_entry e;
    char err[256];
    assert_int_equal(desktop_entry_parse(text, len, NULL, &e, err, sizeof err), 0);
    /* revm --vm app gui -- sh -c "..." ; reboot (a graphical entry: Terminal is not set): the
     * guest's words are arguments, never a program */
    assert_true(e.exec_argc >= 6);
    assert_string_equal(e.exec_argv[0], "/opt/revm/bin/revm");
    assert_string_equal(e.exec_argv[1], "--vm");
    assert_string_equal(e.exec_argv[2], "app");
    assert_string_equal(e.exec_argv[3], "gui");
    assert_string_equal(e.exec_argv[4], "--");
    assert_string_equal(e.exec_argv[5], "sh");
    assert_string_equal(e.exec_argv[7], "rm -rf ~; $(id) `id` > /tmp/x");
    assert_non_null(strstr(text, "Icon="));
    assert_non_null(strstr(text, "/launch/icons/revm-app-evil.png"));

    /* ids that try to leave the folder are refused before anything is written */
    assert_int_equal(add("../../x.desktop", evil, strlen(evil), "", NULL, 0), -1);
    assert_int_equal(add("/etc/passwd.desktop", evil, strlen(evil), "", NULL, 0), -1);
    assert_int_equal(add("a/b.desktop", evil, strlen(evil), "", NULL, 0), -1);
    /* refused icon type: no entry */
    assert_int_equal(add("exe.desktop", evil, strlen(evil), "exe", "MZ", 2), -1);
    /* huge and binary desktop files */
    static char huge[DESKTOP_MAX_BYTES + 100];
    memset(huge, 'A', sizeof huge);
    memcpy(huge, "[Desktop Entry]\nName=", 21);
    assert_int_equal(add("huge.desktop", huge, sizeof huge, "", NULL, 0), -1);
    char bin[4096];
    srand(7);
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof bin; i++)
            bin[i] = (char)rand();
        memcpy(bin, "[Desktop Entry]\nType=Application\nName=", 38);
        (void)add("bin.desktop", bin, sizeof bin, "", NULL, 0);
    }
    /* not visible or no program: refused, and an entry it had before goes away */
    const char *ok = "[Desktop Entry]\nType=Application\nName=Ok\nExec=ok\n";
    assert_int_equal(add("ok.desktop", ok, strlen(ok), "", NULL, 0), 0);
    const char *gone = "[Desktop Entry]\nType=Application\nName=Ok\nExec=ok\nNoDisplay=true\n";
    assert_int_equal(add("ok.desktop", gone, strlen(gone), "", NULL, 0), -1);
    snprintf(path, sizeof path, "%s/revm-app-ok.desktop", dir);
    assert_int_not_equal(access(path, F_OK), 0);

    char t[4096];
    tree(t, sizeof t);
    /* only the launcher folder, the evil entry (with its icon) and maybe a bin.desktop */
    char *line = strtok(t, "\n");
    for (; line; line = strtok(NULL, "\n"))
        assert_true(!strcmp(line, ".") || !strncmp(line, "./launch", 8));
    snprintf(path, sizeof path, "%s/icons/revm-app-evil.png", dir);
    assert_int_equal(access(path, F_OK), 0);

    /* removal */
    proto_app_event rm = {.type = PROTO_APP_REMOVE, .id = {"evil.desktop", 12}};
    assert_int_equal(sup_apps_apply(&st, &rm, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/revm-app-evil.desktop", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/icons/revm-app-evil.png", dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void sweep(void **s)
{
    (void)s;
    const char *ok = "[Desktop Entry]\nType=Application\nName=Ok\nExec=ok\n";
    /* a previous session's entries and another VM's */
    assert_int_equal(add("old.desktop", ok, strlen(ok), "", NULL, 0), 0);
    sup_apps_state other;
    assert_int_equal(sup_apps_state_init(&other, &st.l, "driver"), 0);
    char err[256];
    proto_app_event ev = {.type = PROTO_APP_ADD, .id = {"x.desktop", 9}, .text = (const uint8_t *)ok,
                          .text_len = (uint32_t)strlen(ok)};
    assert_int_equal(sup_apps_apply(&other, &ev, err, sizeof err), 0);
    sup_apps_state_fini(&other);
    /* a new session lists only "new" */
    st.n = 0;
    assert_int_equal(add("new.desktop", ok, strlen(ok), "", NULL, 0), 0);
    proto_app_event done = {.type = PROTO_APP_SYNC_DONE};
    assert_int_equal(sup_apps_apply(&st, &done, err, sizeof err), 0);
    char p[512];
    snprintf(p, sizeof p, "%s/revm-app-old.desktop", dir);
    assert_int_not_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/revm-app-new.desktop", dir);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/revm-driver-x.desktop", dir);
    assert_int_equal(access(p, F_OK), 0);
}

static bool wait_file(const char *p, bool present, int ms)
{
    for (int i = 0; i < ms / 20; i++) {
        if ((access(p, F_OK) == 0) == present)
            return true;
        usleep(20000);
    }
    return false;
}

static void put(const char *rel, const char *text)
{
    char p[512], cmd[600];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", p);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void chain(void **s)
{
    (void)s;
    const char *build = getenv("BUILD");
    char guestd[512], sock[300], data[300];
    snprintf(guestd, sizeof guestd, "%s/tests/bin/revm-guestd", build ? build : "build");
    if (access(guestd, X_OK) != 0)
        skip();
    snprintf(sock, sizeof sock, "%s/g.sock", root);
    snprintf(data, sizeof data, "%s/data", root);
    put("data/applications/btop.desktop",
        "[Desktop Entry]\nType=Application\nName=btop++\nExec=btop\nIcon=btop\nTerminal=true\n");
    put("data/icons/hicolor/48x48/apps/btop.png", "PNG48");
    /* a stale entry of this VM from an earlier run */
    put("launch/revm-app-stale.desktop", "[Desktop Entry]\n");
    pid_t g = guest_pid = fork();
    assert_true(g >= 0);
    if (g == 0) {
        setenv("XDG_DATA_DIRS", data, 1);
        char arg[320];
        snprintf(arg, sizeof arg, "unix:%s", sock);
        execl(guestd, guestd, "--listen", arg, "--quiet", (char *)NULL);
        _exit(127);
    }
    char p[512];
    for (int i = 0; i < 250 && access(sock, F_OK) != 0; i++)
        usleep(20000);
    setenv("REVM_LAUNCHER_DIR", dir, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sup_apps *a = chain_apps = sup_apps_start("app", sock);
    assert_non_null(a);
    snprintf(p, sizeof p, "%s/revm-app-btop.desktop", dir);
    assert_true(wait_file(p, true, 10000));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    snprintf(p, sizeof p, "%s/icons/revm-app-btop.png", dir);
    assert_true(wait_file(p, true, 2000));
    snprintf(p, sizeof p, "%s/revm-app-stale.desktop", dir);
    assert_true(wait_file(p, false, 2000));
    print_message("entry after connect: %ld ms\n",
                  (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    /* the package goes away */
    snprintf(p, sizeof p, "%s/applications/btop.desktop", data);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(unlink(p), 0);
    snprintf(p, sizeof p, "%s/revm-app-btop.desktop", dir);
    assert_true(wait_file(p, false, 5000));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("entry removed after: %ld ms\n",
                  (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    /* and comes back */
    put("data/applications/btop.desktop",
        "[Desktop Entry]\nType=Application\nName=btop++\nExec=btop\nIcon=btop\n");
    assert_true(wait_file(p, true, 5000));
    unsetenv("REVM_LAUNCHER_DIR");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(chain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
