/* Launch profiles: parsing, validation errors, and the profile -> QEMU argument list, checked
 * against one golden file per shipped profile (bridge/tests/golden/<vm>.args, one argument a
 * line). Regenerate the golden files with REVM_UPDATE_GOLDEN=1 after an intended change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revmd/profile.h"
#include "revmd/qemu_args.h"

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void check_golden(const char *vm)
{
    const char *top = getenv("TOP");
    assert_non_null(top);
    char path[4096], golden[4096], err[512];
    snprintf(path, sizeof path, "%s/bridge/profiles/%s.ini", top, vm);
    snprintf(golden, sizeof golden, "%s/bridge/tests/golden/%s.args", top, vm);
    sup_profile p;
    int rc = sup_profile_load(path, "/usr/lib/revm/images", &p, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    char state[64];
    snprintf(state, sizeof state, "/run/revm/%s", vm);
    sup_launch l = {.qemu = "qemu-system-x86_64", .state_dir = state, .accel = SUP_ACCEL_TCG};
    sup_argv a;
    assert_int_equal(sup_qemu_args(&p, &l, &a, err, sizeof err), 0);
    char got[16384] = "";
    for (size_t i = 0; i < a.n; i++) {
        strcat(got, a.v[i]);
        strcat(got, "\n");
    }
    sup_argv_free(&a);
    if (getenv("REVM_UPDATE_GOLDEN")) {
        FILE *f = fopen(golden, "w");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
    }
    const char *want = read_all(golden);
    assert_non_null(want);
    assert_string_equal(got, want);
}

static void golden_driver(void **s) { (void)s; check_golden("driver"); }
static void golden_filesystem(void **s) { (void)s; check_golden("filesystem"); }
static void golden_app(void **s) { (void)s; check_golden("app"); }

static void expect_error(const char *text, const char *want_substring)
{
    sup_profile p;
    char err[512] = "";
    assert_int_equal(sup_profile_parse(text, strlen(text), "t.ini", NULL, &p, err, sizeof err), -1);
    if (!strstr(err, want_substring))
        fail_msg("error '%s' lacks '%s'", err, want_substring);
}

#define MIN "[vm]\nname = t\n[boot]\nkernel = k\ninitramfs = i\n[disk]\nimage = d.qcow2\n"

static void errors(void **s)
{
    (void)s;
    expect_error("[vm]\nname = Bad Name\n", "t.ini:2: name: 'Bad Name' is not a VM name");
    expect_error(MIN "[vm]\ncpus = 0\n", "cpus: '0' is not 1..64");
    expect_error(MIN "[vm]\nmemory = 12T\n", "memory: '12T'");
    expect_error(MIN "[vm]\naccel = fast\n", "accel: 'fast'");
    expect_error(MIN "[vm]\nbogus = 1\n", "bogus: unknown key in [vm]");
    expect_error(MIN "[weird]\nx = 1\n", "unknown section");
    expect_error(MIN "[disk]\nextra = /a,b=c\n", "extra: '/a,b=c' is not a usable path");
    expect_error(MIN "[devices]\nvfio = 01:00.0\n", "is not a PCI address");
    expect_error("[vm]\nname = t\n", "missing [boot] kernel");
    expect_error("[vm\n", "syntax error");
    char bin[] = "[vm]\nname = t\0junk";
    sup_profile p;
    char err[256];
    assert_int_equal(sup_profile_parse(bin, sizeof bin, "b.ini", NULL, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "binary"));
}

static void relative_paths_and_net(void **s)
{
    (void)s;
    const char *t = MIN "[devices]\nnetwork = user\n[disk]\nextra_readonly = data.img\n";
    sup_profile p;
    char err[256];
    assert_int_equal(sup_profile_parse(t, strlen(t), "t.ini", "/img", &p, err, sizeof err), 0);
    assert_string_equal(p.kernel, "/img/k");
    assert_string_equal(p.disk, "/img/d.qcow2");
    sup_launch l = {.qemu = "q", .state_dir = "/s", .accel = SUP_ACCEL_KVM, .force_net_restrict = true,
                    .paused = true};
    sup_argv a;
    assert_int_equal(sup_qemu_args(&p, &l, &a, err, sizeof err), 0);
    bool restricted = false, paused = false, ro = false;
    for (size_t i = 0; i < a.n; i++) {
        restricted |= !strcmp(a.v[i], "user,id=net0,restrict=on");
        paused |= !strcmp(a.v[i], "-S");
        ro |= strstr(a.v[i], "file=/img/data.img,") && strstr(a.v[i], "format=raw") &&
              strstr(a.v[i], "readonly=on");
    }
    sup_argv_free(&a);
    assert_true(restricted && paused && ro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(golden_driver),
        cmocka_unit_test(golden_filesystem),
        cmocka_unit_test(golden_app),
        cmocka_unit_test(errors),
        cmocka_unit_test(relative_paths_and_net),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
