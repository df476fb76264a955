/* Accelerator detection. /dev/kvm can exist and even run a tiny guest while QEMU still cannot
 * use it (seen with nested virtualisation: QEMU aborts setting an MSR with -cpu host, and with
 * its default CPU model the kernel hangs silently). So "auto" picks KVM only when both a real
 * 5-byte guest runs under KVM and QEMU itself starts a paused VM with exactly the options the
 * supervisor uses (-accel kvm -cpu host) and quits cleanly. Anything else means TCG. */
#include "accel.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__linux__) && defined(__x86_64__)
#include <linux/kvm.h>

/* Real-mode guest: mov al,0x5a; out 0x80,al; hlt. */
static const uint8_t probe_code[] = {0xb0, 0x5a, 0xe6, 0x80, 0xf4};

static bool kvm_runs_guest(void)
{
    bool ok = false;
    int kvm = -1, vm = -1, vcpu = -1;
    void *mem = MAP_FAILED, *run_map = MAP_FAILED;
    long run_size = 0;

    kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0 || ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        goto out;
    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        goto out;
    mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        goto out;
    memcpy(mem, probe_code, sizeof probe_code);
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0x1000, .memory_size = 0x1000,
        .userspace_addr = (uint64_t)(uintptr_t)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        goto out;
    vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vcpu < 0 || run_size <= 0)
        goto out;
    run_map = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run_map == MAP_FAILED)
        goto out;
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        goto out;
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        goto out;
    struct kvm_regs regs = {.rip = 0x1000, .rflags = 0x2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        goto out;
    struct kvm_run *run = run_map;
    bool saw_out = false;
    for (int i = 0; i < 4; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0)
            goto out;
        if (run->exit_reason == KVM_EXIT_IO && run->io.direction == KVM_EXIT_IO_OUT &&
            run->io.port == 0x80 && ((uint8_t *)run)[run->io.data_offset] == 0x5a) {
            saw_out = true;
            continue;
        }
        if (run->exit_reason == KVM_EXIT_HLT) {
            ok = saw_out;
            break;
        }
        break; /* anything else: the guest did not run as written */
    }
out:
    if (run_map != MAP_FAILED)
        munmap(run_map, (size_t)run_size);
    if (mem != MAP_FAILED)
        munmap(mem, 0x1000);
    if (vcpu >= 0)
        close(vcpu);
    if (vm >= 0)
        close(vm);
    if (kvm >= 0)
        close(kvm);
    return ok;
}
#else
static bool kvm_runs_guest(void) { return false; } /* Redox: QEMU is TCG only */
#endif

/* Starts `qemu -accel kvm -cpu host -S` with QMP on stdin and asks it to quit; true when it
 * exits 0 within 10 s. */
static bool qemu_starts_kvm(const char *qemu)
{
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return false;
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        return false;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(in[0], 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp(qemu, qemu, "-accel", "kvm", "-cpu", "host", "-M", "q35", "-m", "64",
               "-nodefaults", "-no-user-config", "-display", "none", "-S", "-qmp", "stdio",
               (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    static const char cmds[] = "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"quit\"}\n";
    ssize_t wr = write(in[1], cmds, sizeof cmds - 1);
    (void)wr; /* a dead QEMU is detected by its exit status below */
    int status = 0;
    struct timespec tick = {0, 50 * 1000 * 1000};
    for (int i = 0; i < 200; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            close(in[1]);
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        nanosleep(&tick, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(in[1]);
    return false;
}

enum sup_accel sup_accel_resolve(enum sup_accel wanted, const char *qemu, const char **why)
{
    static int cached = -1; /* the answer cannot change while we run */
    if (wanted != SUP_ACCEL_AUTO) {
        *why = "set by the profile";
        return wanted;
    }
    if (cached < 0)
        cached = kvm_runs_guest() && qemu_starts_kvm(qemu);
    *why = cached ? "KVM runs guests here" : "KVM unusable here, using TCG";
    return cached ? SUP_ACCEL_KVM : SUP_ACCEL_TCG;
}
