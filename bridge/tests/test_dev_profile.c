/* Driver VM profile keys for emulated test hardware (device service): emulated_disk = nvme:PATH |
 * scsi:PATH and emulated_nic = MODEL:LOCAL_PORT:PEER_PORT become NVMe, virtio-scsi and NIC
 * devices on the QEMU command line (NICs only on a loopback UDP socket); bad values are one
 * clear error naming the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "revmd/profile.h"
#include "revmd/qemu_args.h"

#define BASE "[vm]\nname = driver\n[boot]\nkernel = k\ninitramfs = i\n[disk]\nimage = d.qcow2\n[devices]\n"

static int has_arg(const sup_argv *a, const char *want)
{
    int n = 0;
    for (size_t i = 0; i < a->n; i++)
        n += !strcmp(a->v[i], want);
    return n;
}

static void emulated_devices(void **st)
{
    (void)st;
    const char *text = BASE "emulated_disk = nvme:/img/n.raw\nemulated_disk = scsi:/img/s.raw\n"
                            "emulated_disk = scsi:/img/t.qcow2\nemulated_nic = e1000:20001:20002\n";
    sup_profile p;
    char err[512];
    assert_int_equal(sup_profile_parse(text, strlen(text), "t.ini", NULL, &p, err, sizeof err), 0);
    assert_int_equal(p.n_emulated, 4);
    sup_launch l = {.qemu = "qemu-system-x86_64", .state_dir = "/st", .accel = SUP_ACCEL_TCG};
    sup_argv a;
    assert_int_equal(sup_qemu_args(&p, &l, &a, err, sizeof err), 0);
    assert_int_equal(has_arg(&a, "file=/img/n.raw,if=none,id=emu0,format=raw,cache=writeback,file.locking=on"), 1);
    assert_int_equal(has_arg(&a, "nvme,drive=emu0,serial=revm-emu0"), 1);
    assert_int_equal(has_arg(&a, "virtio-scsi-pci,id=emuscsi"), 1); /* one controller */
    assert_int_equal(has_arg(&a, "scsi-hd,drive=emu1,bus=emuscsi.0,serial=revm-emu1"), 1);
    assert_int_equal(has_arg(&a, "file=/img/t.qcow2,if=none,id=emu2,format=qcow2,cache=writeback,file.locking=on"), 1);
    assert_int_equal(has_arg(&a, "socket,id=emunet3,udp=127.0.0.1:20002,localaddr=127.0.0.1:20001"), 1);
    assert_int_equal(has_arg(&a, "e1000,netdev=emunet3,mac=52:54:00:be:ef:03"), 1);
    sup_argv_free(&a);
}

static void expect_error(const char *line, const char *want)
{
    char text[512];
    snprintf(text, sizeof text, BASE "%s\n", line);
    sup_profile p;
    char err[512] = "";
    assert_int_equal(sup_profile_parse(text, strlen(text), "t.ini", NULL, &p, err, sizeof err), -1);
    if (!strstr(err, want) || strchr(err, '\n'))
        fail_msg("error '%s' lacks '%s'", err, want);
}

static void bad_values(void **st)
{
    (void)st;
    expect_error("emulated_disk = floppy:/x", "emulated_disk");
    expect_error("emulated_disk = nvme:", "emulated_disk");
    expect_error("emulated_disk = nvme:/a,b", "emulated_disk"); /* would inject QEMU options */
    expect_error("emulated_nic = e1000:1:1", "emulated_nic");
    expect_error("emulated_nic = e1000:0:5", "emulated_nic");
    expect_error("emulated_nic = e1000:5:70000", "emulated_nic");
    expect_error("emulated_nic = virtio:5:6", "emulated_nic");
    expect_error("emulated_nic = e1000:5:6,hostfwd=x", "emulated_nic");
    char many[1024] = "";
    for (int i = 0; i < 9; i++)
        strcat(many, "emulated_disk = nvme:/x\n");
    many[strlen(many) - 1] = 0;
    expect_error(many, "more than 8");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(emulated_devices),
        cmocka_unit_test(bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
