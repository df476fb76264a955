/* Launch profiles are user-editable configuration: any bytes must give a profile or an
 * error, never a crash; and a profile that parses must always give a QEMU command line. */
#include <stddef.h>
#include <stdint.h>

#include "revmd/profile.h"
#include "revmd/qemu_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sup_profile p;
    char err[512];
    if (sup_profile_parse((const char *)data, size, "fuzz.ini", "/img", &p, err, sizeof err) == 0) {
        sup_launch l = {.qemu = "qemu", .state_dir = "/s", .accel = SUP_ACCEL_TCG};
        sup_argv a;
        if (sup_qemu_args(&p, &l, &a, err, sizeof err) == 0)
            sup_argv_free(&a);
    }
    return 0;
}
