/* revm mount / umount / volumes (the filesystem service, PROTOCOL.md "Filesystem service").
 * A mount is a revm-fuse process (bridge/linux/fuse) that owns the service channel: revm
 * connects to the VM's bridge, hands the connected fd to revm-fuse, waits for its one-line
 * "ok" or error, and returns, leaving revm-fuse running in its own session. revm cp is in
 * fs_cp.c. */
#include "fs_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../fs/fsc.h"
#include "proto.h"
#include "rb_state.h"
#include "rb_svc.h"

fsc *cli_fs_open(const cli_opts *o, const char *volume, rb_svc **svc)
{
    int fd = cli_connect_bridge(o);
    if (fd < 0)
        return NULL;
    char err[512];
    *svc = rb_svc_open(fd, PROTO_SVC_FS, 0, volume, 2, err, sizeof err);
    if (!*svc) {
        fprintf(stderr, "revm: VM %s: cannot open the filesystem service: %s\n", o->vm, err);
        return NULL;
    }
    fsc *c = fsc_new(rb_svc_fd(*svc), !*volume, 120000, err, sizeof err);
    if (!c) {
        fprintf(stderr, "revm: VM %s: volume %s: %s\n", o->vm, *volume ? volume : "list", err);
        rb_svc_close(*svc);
        return NULL;
    }
    return c;
}

/* Where each volume of this VM is mounted on the host ("" when it is not). */
static void mounted_at(const char *vm, const char *volume, char *out, size_t cap)
{
    out[0] = 0;
    FILE *f = fopen("/proc/self/mounts", "r");
    if (!f)
        return;
    char want[200], line[4096];
    snprintf(want, sizeof want, "revm:%s:%s", vm, volume);
    while (fgets(line, sizeof line, f)) {
        char src[256], dir[2048], type[64];
        if (sscanf(line, "%255s %2047s %63s", src, dir, type) == 3 && !strcmp(src, want) &&
            !strcmp(type, "fuse.revm")) {
            snprintf(out, cap, "%s", dir);
            break;
        }
    }
    fclose(f);
}

static void human(uint64_t b, char *out, size_t cap)
{
    const char *u = "BKMGTP";
    double v = (double)b;
    while (v >= 1024 && u[1]) {
        v /= 1024;
        u++;
    }
    snprintf(out, cap, *u == 'B' ? "%.0f%c" : "%.1f%c", v, *u);
}

/* Lists volumes into names (for mount's check) and optionally prints the table. */
static int list_volumes(const cli_opts *o, bool print, const char *want, bool *found)
{
    rb_svc *svc;
    fsc *c = cli_fs_open(o, "", &svc);
    if (!c)
        return 1;
    uint8_t *buf = malloc(PROTO_FS_MAX_IO);
    proto_fs_dirit it;
    int rc = buf ? fsc_volumes(c, buf, PROTO_FS_MAX_IO, &it) : ENOMEM;
    if (rc) {
        fprintf(stderr, "revm: VM %s: cannot list volumes: %s\n", o->vm, strerror(rc));
        free(buf);
        fsc_free(c);
        rb_svc_close(svc);
        return 1;
    }
    if (print)
        printf("%-24s %-8s %9s %9s %-4s %s\n", "VOLUME", "FS", "SIZE", "FREE", "RO", "MOUNTED");
    proto_fs_volume v;
    int k;
    while ((k = proto_fs_vol_next(&it, &v)) == 1) {
        char name[72], where[2048], sz[16], fr[16];
        snprintf(name, sizeof name, "%.*s", (int)v.name.n, v.name.s);
        if (want && !strcmp(name, want))
            *found = true;
        if (!print)
            continue;
        mounted_at(o->vm, name, where, sizeof where);
        human(v.size, sz, sizeof sz);
        human(v.free, fr, sizeof fr);
        printf("%-24s %-8.*s %9s %9s %-4s %s\n", name, (int)v.fstype.n, v.fstype.s, sz, fr,
               v.flags & PROTO_FS_INFO_RDONLY ? "yes" : "no", *where ? where : "-");
    }
    if (k < 0) {
        fprintf(stderr, "revm: VM %s: malformed volume list from the guest\n", o->vm);
        rc = 1;
    }
    free(buf);
    fsc_free(c);
    rb_svc_close(svc);
    return rc ? 1 : 0;
}

int cli_cmd_volumes(const cli_opts *o, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "revm: usage: revm [--vm VM] volumes\n");
        return 2;
    }
    return list_volumes(o, true, NULL, NULL);
}

static int mkdir_p(const char *path)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) < 0 && errno != EEXIST)
                return -1;
            *s = '/';
        }
    return mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

int cli_cmd_mount(const cli_opts *o, int argc, char **argv)
{
    bool ro = false, nosymfollow = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--ro") || !strcmp(argv[i], "-r"))
            ro = true;
        else if (!strcmp(argv[i], "--nosymfollow"))
            nosymfollow = true;
        else {
            fprintf(stderr, "revm: mount: unknown option %s (usage: revm [--vm VM] mount [--ro] [--nosymfollow] [VOLUME] [DIR])\n", argv[i]);
            return 2;
        }
    }
    if (argc - i > 2) {
        fprintf(stderr, "revm: usage: revm [--vm VM] mount [--ro] [--nosymfollow] [VOLUME] [DIR]\n");
        return 2;
    }
    const char *volume = i < argc ? argv[i] : "root";
    if (!proto_fs_volume_name_ok(volume, strlen(volume))) {
        fprintf(stderr, "revm: mount: %s is not a volume name (see revm volumes)\n", volume);
        return 2;
    }
    char dir[PATH_MAX];
    if (i + 1 < argc) {
        snprintf(dir, sizeof dir, "%s", argv[i + 1]);
    } else {
        char state[PATH_MAX], err[256];
        if (rb_state_dir(geteuid() == 0, state, err, sizeof err) < 0) {
            fprintf(stderr, "revm: %s\n", err);
            return 1;
        }
        if ((size_t)snprintf(dir, sizeof dir, "%s/mnt/%s/%s", state, o->vm, volume) >= sizeof dir ||
            mkdir_p(dir) < 0) {
            fprintf(stderr, "revm: mount: cannot create %s: %s\n", dir, strerror(errno));
            return 1;
        }
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "revm: mount: %s is not a directory\n", dir);
        return 1;
    }
    bool found = false;
    if (list_volumes(o, false, volume, &found) != 0)
        return 1;
    if (!found) {
        fprintf(stderr, "revm: mount: VM %s has no volume %s (see revm --vm %s volumes)\n", o->vm,
                volume, o->vm);
        return 1;
    }
    int bridge = cli_connect_bridge(o);
    if (bridge < 0)
        return 1;
    int pfd[2];
    if (pipe(pfd) < 0) {
        perror("revm: pipe");
        return 1;
    }
    char prog[PATH_MAX], bfd[16], rfd[16], label[160];
    cli_sibling("revm-fuse", prog, sizeof prog);
    snprintf(bfd, sizeof bfd, "%d", bridge);
    snprintf(rfd, sizeof rfd, "%d", pfd[1]);
    snprintf(label, sizeof label, "%s:%s", o->vm, volume);
    pid_t pid = fork();
    if (pid < 0) {
        perror("revm: fork");
        return 1;
    }
    if (pid == 0) {
        close(pfd[0]);
        setsid();
        /* revm-fuse lives on after revm returns: its log goes to the state dir's mount log. */
        int dn = open("/dev/null", O_RDWR);
        if (dn >= 0) {
            dup2(dn, 0);
            dup2(dn, 1);
            close(dn);
        }
        char logp[PATH_MAX], state[PATH_MAX], lerr[128];
        int lfd = -1;
        if (rb_state_dir(geteuid() == 0, state, lerr, sizeof lerr) == 0 &&
            rb_state_vm_path(logp, sizeof logp, state, o->vm, "fs-mounts.log"))
            lfd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (lfd >= 0)
            dup2(lfd, 2);
        /* the bridge and the ready pipe pass to revm-fuse (the connect sets close-on-exec) */
        fcntl(bridge, F_SETFD, 0);
        fcntl(pfd[1], F_SETFD, 0);
        char *av[16];
        int a = 0;
        av[a++] = prog;
        av[a++] = "--ready-fd", av[a++] = rfd;
        av[a++] = "--bridge-fd", av[a++] = bfd;
        av[a++] = "--volume", av[a++] = (char *)volume;
        av[a++] = "--label", av[a++] = label;
        if (ro)
            av[a++] = "--ro";
        if (nosymfollow)
            av[a++] = "--nosymfollow";
        /* root mounts for every host user; default_permissions keeps the modes meaningful */
        if (geteuid() == 0)
            av[a++] = "--allow-other";
        av[a++] = dir;
        av[a] = NULL;
        execv(prog, av);
        fprintf(stderr, "revm: cannot run %s: %s\n", prog, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    close(bridge);
    char line[1024] = "";
    size_t n = 0;
    for (;;) {
        ssize_t k = read(pfd[0], line + n, sizeof line - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
        if (n == sizeof line - 1)
            break;
    }
    close(pfd[0]);
    line[n] = 0;
    line[strcspn(line, "\n")] = 0;
    if (strcmp(line, "ok")) {
        int status;
        waitpid(pid, &status, 0);
        if (!*line)
            snprintf(line, sizeof line, "revm-fuse ended without a word");
        fprintf(stderr, "revm: mount %s of VM %s on %s failed: %s\n", volume, o->vm, dir, line);
        return 1;
    }
    printf("%s\n", dir);
    return 0;
}

static bool is_revm_mount(const char *dir)
{
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return false;
    FILE *f = fopen("/proc/self/mounts", "r");
    if (!f)
        return false;
    char line[4096];
    bool r = false;
    while (fgets(line, sizeof line, f)) {
        char src[256], d[2048], type[64];
        if (sscanf(line, "%255s %2047s %63s", src, d, type) == 3 && !strcmp(d, real) &&
            !strcmp(type, "fuse.revm"))
            r = true;
    }
    fclose(f);
    return r;
}

int cli_cmd_umount(const cli_opts *o, int argc, char **argv)
{
    (void)o;
    if (argc != 2) {
        fprintf(stderr, "revm: usage: revm umount DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    if (!is_revm_mount(dir)) {
        fprintf(stderr, "revm: umount: %s is not a revm mount\n", dir);
        return 1;
    }
    if (umount2(dir, 0) == 0)
        return 0;
    if (errno == EBUSY) {
        fprintf(stderr, "revm: umount: %s is busy (a process has a file or its working directory "
                        "there); close it and retry\n", dir);
        return 1;
    }
    if (errno != EPERM) {
        fprintf(stderr, "revm: umount: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    /* Not root: the setuid helper of fuse3 unmounts what this user mounted. */
    pid_t pid = fork();
    if (pid == 0) {
        execlp("fusermount3", "fusermount3", "-u", "--", dir, (char *)NULL);
        fprintf(stderr, "revm: umount: cannot run fusermount3: %s\n", strerror(errno));
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "revm: umount: %s could not be unmounted\n", dir);
        return 1;
    }
    return 0;
}
