/* Starting the bridge daemon before runit (early-bridge.h). */
#include "early-bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_file.h"
#include "init-util.h"

/* True when DIR is a mount point: its device differs from its parent's. */
static bool is_mountpoint(const char *dir)
{
    char parent[256];
    struct stat a, b;
    snprintf(parent, sizeof parent, "%s/..", dir);
    return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* Mounts like runit's stage 1 does (Void's core-services/00-pseudofs.sh), which then sees
 * them mounted and skips them: only where the root has the directory. */
static void mount_if_missing(const char *src, const char *dir, const char *type,
                             unsigned long flags, const char *data)
{
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || is_mountpoint(dir))
        return;
    if (mount(src, dir, type, flags, data) < 0)
        info("mount %s on %s: %s", type, dir, strerror(errno));
}

/* tmpfs lines of /etc/fstab (Void's has /tmp): stage 1's `mount -a` would mount them over
 * whatever a program run through the bridge had written there meanwhile. Only tmpfs: it
 * needs no device, fsck or module, so mounting it now is what stage 1 would do, earlier. */
static void mount_fstab_tmpfs(void)
{
    FILE *f = setmntent("/etc/fstab", "re");
    if (!f)
        return;
    struct mntent *m;
    while ((m = getmntent(f))) {
        if (strcmp(m->mnt_type, "tmpfs") != 0 || hasmntopt(m, "noauto"))
            continue;
        static const struct {
            const char *name;
            unsigned long flag;
        } known[] = {{"ro", MS_RDONLY},     {"nosuid", MS_NOSUID},   {"nodev", MS_NODEV},
                     {"noexec", MS_NOEXEC}, {"noatime", MS_NOATIME}, {"relatime", MS_RELATIME},
                     {"nodiratime", MS_NODIRATIME}, {"strictatime", MS_STRICTATIME}};
        unsigned long flags = 0;
        char data[256] = "", opts[512], *save = NULL;
        size_t used = 0;
        snprintf(opts, sizeof opts, "%s", m->mnt_opts);
        for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
            size_t k = 0, nk = sizeof known / sizeof *known;
            while (k < nk && strcmp(o, known[k].name) != 0)
                k++;
            if (k < nk)
                flags |= known[k].flag;
            else if (strcmp(o, "defaults") && strcmp(o, "rw") && strcmp(o, "auto") &&
                     strcmp(o, "suid") && strcmp(o, "dev") && strcmp(o, "exec") &&
                     strncmp(o, "x-", 2) && used + strlen(o) + 2 < sizeof data)
                used += (size_t)snprintf(data + used, sizeof data - used, "%s%s",
                                         used ? "," : "", o); /* size=, mode=, ... */
        }
        mount_if_missing(m->mnt_fsname, m->mnt_dir, "tmpfs", flags, data[0] ? data : NULL);
    }
    endmntent(f);
}

/* /etc/hostname, as stage 1 sets it (05-misc.sh): the first word of the first line. */
static void set_hostname(void)
{
    char name[72];
    ssize_t n = cm_read_file_buf("/etc/hostname", name, sizeof name - 1);
    if (n < 0)
        return;
    name[n] = '\0';
    name[strcspn(name, " \t\r\n")] = '\0';
    if (name[0] && sethostname(name, strlen(name)) < 0)
        info("sethostname %s: %s", name, strerror(errno));
}

/* `ip link set up dev lo`, as stage 1 does: programs may talk to localhost at once. */
static void loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            info("loopback up: %s", strerror(errno));
    }
    close(s);
}

/* Starts the bridge daemon in the new root before the distribution's init: what runit's
 * stage 1 and 2 cost before the daemon would start (seconds of shell under TCG) is then no
 * longer between boot and ready. First what programs run through the bridge expect of a
 * booted system, done here in C where stage 1 would fork a program per step. The daemon
 * gets what runsv would give it (own session, PATH only, stdin /dev/null, output to the
 * console); runit's service adopts it (bridge/revm-guestd/adopt.c). */
void start_bridge(void)
{
    if (access(GUESTD, X_OK) < 0)
        return; /* an image without the bridge */
    mount_if_missing("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    mkdir("/dev/pts", 0755);
    mkdir("/dev/shm", 0755);
    mount_if_missing("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,gid=5");
    mount_if_missing("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_fstab_tmpfs();
    set_hostname();
    loopback_up();

    /* The daemon closes its end of this pipe when the host has answered. Until then runit's
     * stage 1 waits: under TCG a VM often has one vCPU, and stage 1's shell scripts would
     * take it from the handshake (with stage 1 held back, the first request after ready was
     * answered about 0.1 s sooner, measured). */
    int ready[2] = {-1, -1};
    if (pipe2(ready, O_CLOEXEC) < 0)
        info("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        info("fork: %s", strerror(errno));
        close(ready[0]);
        close(ready[1]);
        return;
    }
    if (pid == 0) {
        setsid();
        int nfd = open("/dev/null", O_RDONLY);
        int cfd = open("/dev/console", O_WRONLY | O_NOCTTY);
        if (nfd >= 0)
            dup2(nfd, 0);
        if (cfd >= 0) {
            dup2(cfd, 1);
            dup2(cfd, 2);
        }
        /* The pipe's write end becomes fd 3, inherited (dup2 clears close-on-exec; when it
         * is fd 3 already, dup2 would do nothing). */
        char *env[] = {"PATH=/usr/bin:/usr/sbin:/bin:/sbin", NULL, NULL};
        if (ready[1] >= 0 &&
            (ready[1] == 3 ? fcntl(3, F_SETFD, 0) == 0 : dup2(ready[1], 3) == 3))
            env[1] = GUESTD_READY_FD_ENV "=3";
        for (int fd = env[1] ? 4 : 3; fd < 64; fd++)
            close(fd);
        static char *const args[] = {GUESTD, NULL};
        execve(GUESTD, args, env);
        _exit(127);
    }
    info("started %s early (pid %d)", GUESTD, (int)pid);
    if (ready[0] < 0)
        return;
    close(ready[1]);
    long t0 = now_ms(), waited;
    struct pollfd p = {.fd = ready[0], .events = POLLIN};
    /* Closed (POLLHUP), or a daemon that exited: both end the wait. */
    while ((waited = now_ms() - t0) < GUESTD_READY_WAIT_MS &&
           poll(&p, 1, (int)(GUESTD_READY_WAIT_MS - waited)) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    info("%s after %ld ms", p.revents ? "bridge handshake done (or the daemon ended)"
                                      : "no bridge handshake: starting the init anyway",
         now_ms() - t0);
}
