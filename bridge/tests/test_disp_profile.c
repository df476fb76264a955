/* The profile key that gives a VM an emulated GPU for the display service ([devices] display =
 * none | bochs | virtio-gpu) and the QEMU device it becomes; a bad value is one clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "revmd/profile.h"
#include "revmd/qemu_args.h"

static const char *base = "[vm]\nname = driver\n[boot]\nkernel = /k\ninitramfs = /i\n[disk]\nimage = /d.qcow2\n";

static int parse(const char *devices, sup_profile *p, char *err, size_t errlen)
{
    char text[1024];
    snprintf(text, sizeof text, "%s[devices]\n%s", base, devices);
    return sup_profile_parse(text, strlen(text), "t.ini", NULL, p, err, errlen);
}

/* The -device value following "-device" that names a GPU, or NULL. */
static const char *gpu_arg(const sup_profile *p)
{
    static char found[64];
    sup_launch l = {.qemu = "qemu-system-x86_64", .state_dir = "/run/x", .accel = SUP_ACCEL_TCG};
    sup_argv a;
    char err[256];
    assert_int_equal(sup_qemu_args(p, &l, &a, err, sizeof err), 0);
    const char *r = NULL;
    for (size_t i = 0; i + 1 < a.n; i++)
        if (!strcmp(a.v[i], "-device") && (!strcmp(a.v[i + 1], "bochs-display") ||
                                           !strcmp(a.v[i + 1], "virtio-gpu-pci"))) {
            snprintf(found, sizeof found, "%s", a.v[i + 1]);
            r = found;
        }
    /* -display none stays: the picture is read with QMP screendump, never shown locally. */
    bool none = false;
    for (size_t i = 0; i + 1 < a.n; i++)
        none |= !strcmp(a.v[i], "-display") && !strcmp(a.v[i + 1], "none");
    assert_true(none);
    sup_argv_free(&a);
    return r;
}

static void display_key(void **st)
{
    (void)st;
    sup_profile p;
    char err[256];
    assert_int_equal(parse("", &p, err, sizeof err), 0);
    assert_int_equal(p.display, SUP_DISPLAY_NONE);
    assert_null(gpu_arg(&p));
    assert_int_equal(parse("display = none\n", &p, err, sizeof err), 0);
    assert_null(gpu_arg(&p));
    assert_int_equal(parse("display = bochs\n", &p, err, sizeof err), 0);
    assert_string_equal(gpu_arg(&p), "bochs-display");
    assert_int_equal(parse("display = virtio-gpu\n", &p, err, sizeof err), 0);
    assert_string_equal(gpu_arg(&p), "virtio-gpu-pci");
    assert_int_equal(parse("display = vga\n", &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "display"));
    assert_non_null(strstr(err, "'vga' is not none, bochs or virtio-gpu"));
    assert_null(strchr(err, '\n'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(display_key)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
