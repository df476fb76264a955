/* The boot-time floor's /init (tests/bench/vm.sh): the kernel's first program powers the
 * machine off at once, so QEMU start-to-exit is the cost of QEMU, firmware and the kernel
 * alone. Built static with musl: nothing else is in its initramfs. */
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
    reboot(RB_POWER_OFF);
    for (;;)
        pause(); /* PID 1 must never exit (the kernel would panic) */
}
