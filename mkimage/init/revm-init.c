/* revm-init: /init of every revm initramfs (PID 1 until the real init runs).
 *
 * Its whole job: make the root disk mountable, mount it, and hand over to the
 * image's init (runit on Void) exactly as if the kernel had mounted root itself.
 *   1. mount /proc, /sys and devtmpfs on /dev (module loading and device nodes
 *      need them, and the kernel does not mount devtmpfs into an initramfs);
 *   2. read the kernel command line: root=, rootfstype=, rootflags=, ro/rw, init=,
 *      revm.rootwait=SECONDS, revm.debug;
 *   3. load the modules listed in /etc/revm-init.modules (mkimage wrote them
 *      dependencies first, so no modprobe logic is needed here): now those the
 *      machine has hardware for or that drive no device, the rest in the
 *      background once the root is mounted (see "Which modules wait");
 *   4. wait for the root block device (virtio probing is asynchronous);
 *   5. mount it on /newroot, move /dev /proc /sys there, free the initramfs,
 *      make /newroot the root;
 *   6. when the image has the bridge daemon, prepare what programs expect of a
 *      booted system (/run, /dev/pts, /dev/shm, tmpfs mounts of /etc/fstab, the
 *      hostname, loopback up) and start the daemon, so the host can use the VM
 *      while the distribution's stage 1 still runs (revm.early_bridge=0: no);
 *   7. exec init.
 * Any failure prints one line naming what failed and powers the VM off: a VM that
 * stops is something the host notices and reports; a panic loop is not.
 *
 * Built static against musl with -Os: it is the only program in the initramfs. The steps
 * that are more than a few lines have files of their own: modules.c (3), early-bridge.c (6);
 * init-util.c has the messages and the fatal path they share. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "early-bridge.h"
#include "init-util.h"
#include "modules.h"

#define NEWROOT "/newroot"

/* ---------- kernel command line ---------- */

struct options {
    char root[256];
    char fstype[64];
    char flags[512];
    char init[256];
    bool readonly;
    bool early_bridge;
    int rootwait_s;
};

static void copy_opt(char *dst, size_t size, const char *val)
{
    snprintf(dst, size, "%s", val);
}

/* The kernel allows double quotes around values with spaces: root="..." */
static void unquote(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++)
        if (*r != '"')
            *w++ = *r;
    *w = '\0';
}

static void parse_cmdline(char *line, struct options *o)
{
    char *save = NULL;
    bool in_quote = false;
    /* Split on spaces outside quotes. */
    for (char *p = line; *p; p++) {
        if (*p == '"')
            in_quote = !in_quote;
        else if ((*p == ' ' || *p == '\n' || *p == '\t') && !in_quote)
            *p = '\x01';
    }
    for (char *tok = strtok_r(line, "\x01", &save); tok; tok = strtok_r(NULL, "\x01", &save)) {
        unquote(tok);
        if (strncmp(tok, "root=", 5) == 0)
            copy_opt(o->root, sizeof o->root, tok + 5);
        else if (strncmp(tok, "rootfstype=", 11) == 0)
            copy_opt(o->fstype, sizeof o->fstype, tok + 11);
        else if (strncmp(tok, "rootflags=", 10) == 0)
            copy_opt(o->flags, sizeof o->flags, tok + 10);
        else if (strncmp(tok, "init=", 5) == 0)
            copy_opt(o->init, sizeof o->init, tok + 5);
        else if (strcmp(tok, "ro") == 0)
            o->readonly = true;
        else if (strcmp(tok, "rw") == 0)
            o->readonly = false;
        else if (strncmp(tok, "revm.rootwait=", 14) == 0)
            o->rootwait_s = atoi(tok + 14);
        else if (strcmp(tok, "revm.debug") == 0 || strcmp(tok, "revm.debug=1") == 0)
            debug = true;
        else if (strncmp(tok, "revm.early_bridge=", 18) == 0)
            o->early_bridge = atoi(tok + 18) != 0;
    }
    if (o->rootwait_s <= 0 || o->rootwait_s > 3600)
        o->rootwait_s = 30;
}

static void read_cmdline(struct options *o)
{
    char line[4096] = "";
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, line, sizeof line - 1);
        line[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    parse_cmdline(line, o);
}

/* ---------- root device ---------- */

/* Names the block devices the kernel did find, to make a wrong root= obvious. */
static void list_block_devices(char *out, size_t size)
{
    out[0] = '\0';
    DIR *d = opendir("/sys/class/block");
    if (!d)
        return;
    struct dirent *de;
    size_t used = 0;
    while ((de = readdir(d)) && used + strlen(de->d_name) + 2 < size) {
        if (de->d_name[0] == '.')
            continue;
        used += (size_t)snprintf(out + used, size - used, "%s%s", used ? " " : "", de->d_name);
    }
    closedir(d);
}

static void wait_for_root(const struct options *o)
{
    if (strncmp(o->root, "/dev/", 5) != 0)
        die("root=%s: only /dev/NAME is supported (no udev here for UUID= or LABEL=)", o->root);
    long deadline = now_ms() + o->rootwait_s * 1000L;
    for (;;) {
        struct stat st;
        if (stat(o->root, &st) == 0 && S_ISBLK(st.st_mode))
            return;
        if (now_ms() > deadline) {
            char devs[200];
            list_block_devices(devs, sizeof devs);
            die("root device %s did not appear within %d s (block devices: %s)", o->root,
                o->rootwait_s, devs[0] ? devs : "none");
        }
        sleep_ms(20);
    }
}

/* ---------- switching root ---------- */

/* Frees the initramfs (it lives in RAM for as long as the VM runs otherwise):
 * deletes everything on the initramfs filesystem, not descending into other
 * filesystems such as the freshly mounted root. */
static void delete_tree(int dfd, dev_t rootdev, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != rootdev)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0 && depth < 32)
                delete_tree(sub, rootdev, depth + 1);
            else if (sub >= 0)
                close(sub);
            unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
        } else {
            unlinkat(dirfd(d), de->d_name, 0);
        }
    }
    closedir(d);
}

static void move_or_unmount(const char *dir)
{
    char target[64];
    snprintf(target, sizeof target, NEWROOT "%s", dir);
    /* Keep the mounts when the root has the directory (runit's stage 1 sees them
     * mounted and skips them); otherwise they cannot stay and are detached. */
    if (mount(dir, target, NULL, MS_MOVE, NULL) < 0) {
        info("cannot move %s (%s), unmounting it", dir, strerror(errno));
        umount2(dir, MNT_DETACH);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    struct options o = {.root = "/dev/vda", .fstype = "btrfs", .init = "/sbin/init",
                        .readonly = true, .early_bridge = true};

    umask(022);
    mkdir("/proc", 0555);
    mkdir("/sys", 0555);
    mkdir("/dev", 0755);
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        die("mount /proc: %s", strerror(errno));
    if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        die("mount /sys: %s", strerror(errno));
    if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") < 0)
        die("mount /dev: %s", strerror(errno));
    /* If the kernel found no /dev/console to give us, get one now that devtmpfs
     * exists, so that messages (and the final error) reach the console. */
    if (fcntl(2, F_GETFD) < 0) {
        int fd = open("/dev/console", O_RDWR | O_NOCTTY);
        if (fd >= 0) {
            for (int i = 0; i < 3; i++)
                if (fd != i)
                    dup2(fd, i);
            if (fd > 2)
                close(fd);
        }
    }

    read_cmdline(&o);
    info("root=%s rootfstype=%s rootflags=%s %s init=%s", o.root, o.fstype, o.flags,
         o.readonly ? "ro" : "rw", o.init);

    long t0 = now_ms();
    int n = load_modules();
    info("%d modules loaded in %ld ms", n, now_ms() - t0);

    wait_for_root(&o);
    info("%s appeared after %ld ms", o.root, now_ms() - t0);

    unsigned long flags = o.readonly ? MS_RDONLY : 0;
    if (mount(o.root, NEWROOT, o.fstype, flags, o.flags[0] ? o.flags : NULL) < 0) {
        int en = errno;
        if (en == ENODEV)
            die("mount %s: filesystem type %s unknown to the kernel (module missing from "
                "the initramfs?)", o.root, o.fstype);
        die("mount %s on " NEWROOT " as %s: %s", o.root, o.fstype, strerror(en));
    }

    move_or_unmount("/dev");
    move_or_unmount("/proc");
    move_or_unmount("/sys");

    /* The classic switch_root sequence: the initramfs root cannot be unmounted, so
     * the new root is moved on top of it and becomes "/" for us via chroot. */
    if (chdir(NEWROOT) < 0)
        die("chdir " NEWROOT ": %s", strerror(errno));
    struct stat rootst;
    int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd >= 0 && fstat(rootfd, &rootst) == 0)
        delete_tree(rootfd, rootst.st_dev, 0);
    else if (rootfd >= 0)
        close(rootfd);
    if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
        die("move " NEWROOT " to /: %s", strerror(errno));
    if (chroot(".") < 0 || chdir("/") < 0)
        die("chroot " NEWROOT ": %s", strerror(errno));

    /* The bridge first: with one vCPU, even a loader at nice 19 slows the handshake (a
     * module's load runs in the kernel, where it is not preempted at will). Once in the
     * new root: the loader keeps only its open module files of the initramfs, whose memory
     * returns when it ends. */
    if (o.early_bridge)
        start_bridge();
    load_rest_in_background();

    /* The kernel passes command-line words it does not know to init as arguments
     * (e.g. "single"); hand them on unchanged. */
    argv[0] = o.init;
    info("exec %s", o.init);
    execv(o.init, argv);
    die("exec %s: %s", o.init, strerror(errno));
}
