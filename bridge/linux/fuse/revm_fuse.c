/* revm-fuse: one filesystem-service volume as a FUSE mount (Linux hosts).
 *
 *   revm-fuse [--ro] [--allow-other] [--nosymfollow] [--label VM:VOLUME] [--timeout MS] [--ready-fd N] [--debug]
 *             [--max-dir-entries N] (--bridge-fd N --volume NAME | --local HELPER ARG) MOUNTPOINT
 *
 * --bridge-fd: a connected bridge stream (revm passes the one cli_connect_bridge gave it) on
 * which this program opens service 2 for NAME. --local: runs `HELPER --service fs ARG` as a
 * child (tests, no VM). --ready-fd: once mounted (or failed) one line goes there: "ok" or the
 * error, so `revm mount` can report it and return. Runs in the foreground until unmounted or
 * until the service ends (the VM stopped), then unmounts. */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fuse_ops.h"
#include "proto.h"
#include "rb_svc.h"

static struct fuse_session *session;
static char mountpoint[4096];
static volatile int stopping; /* set before the session is torn down */

static void ready(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ready(int fd, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (strcmp(line, "ok"))
        fprintf(stderr, "revm-fuse: %s\n", line);
    if (fd >= 0) {
        dprintf(fd, "%s\n", line);
        close(fd);
    }
}

/* The kernel starts a FUSE mount with 128 KiB of readahead whatever max_readahead we ask
 * for; each read request is a round trip to the guest, so sequential reads want bigger ones,
 * and several of them in flight: a window of RA_REQUESTS max_io reads keeps the guest helper
 * busy while the host copies the previous replies out (measured locally: 1 MiB window
 * 1.3-1.8 GiB/s, 4 MiB 2.1, 16 MiB 2.6; bigger gave nothing more). The kernel only grows the
 * window that far for reads that stay sequential. Best effort (needs root; harmless to skip). */
#define RA_REQUESTS 16u
static void raise_readahead(const char *mp, uint32_t max_io)
{
    struct stat st;
    if (stat(mp, &st) < 0)
        return;
    char p[128];
    snprintf(p, sizeof p, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
    FILE *f = fopen(p, "w");
    if (f) {
        fprintf(f, "%u\n", RA_REQUESTS * (max_io / 1024));
        fclose(f);
    }
}

/* Ends the mount when the service ends (VM stopped, helper died): unmounting makes the
 * session loop return, so the host never keeps a dead mount. */
static void *watch_main(void *arg)
{
    fsc *c = arg;
    /* Here, not before the loop: stat() of the mount needs the loop to answer. */
    raise_readahead(mountpoint, fsc_get_info(c)->max_io);
    while (!fsc_dead(c))
        if (stopping)
            return NULL;
        else
            usleep(200 * 1000);
    fprintf(stderr, "revm-fuse: the filesystem service ended; unmounting %s\n", mountpoint);
    fuse_session_exit(session);
    fuse_session_unmount(session);
    return NULL;
}

static int usage(void)
{
    fprintf(stderr, "usage: revm-fuse [--ro] [--allow-other] [--nosymfollow] [--timeout MS] [--ready-fd N] "
                    "(--bridge-fd N --volume NAME | --local HELPER ARG) MOUNTPOINT\n");
    return 2;
}

int main(int argc, char **argv)
{
    int bridge_fd = -1, ready_fd = -1;
    const char *volume = NULL, *helper = NULL, *larg = NULL, *label = NULL;
    bool ro = false, allow_other = false, debug = false, nosymfollow = false;
    unsigned timeout_ms = 120000;
    uint64_t max_dir = 1u << 22; /* entries per directory listing; a guest cannot loop us */
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--ro"))
            ro = true;
        else if (!strcmp(a, "--rw"))
            ro = false;
        else if (!strcmp(a, "--label") && i + 1 < argc)
            label = argv[++i];
        else if (!strcmp(a, "--nosymfollow"))
            nosymfollow = true;
        else if (!strcmp(a, "--allow-other"))
            allow_other = true;
        else if (!strcmp(a, "--debug"))
            debug = true;
        else if (!strcmp(a, "--timeout") && i + 1 < argc)
            timeout_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--max-dir-entries") && i + 1 < argc)
            max_dir = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--ready-fd") && i + 1 < argc)
            ready_fd = atoi(argv[++i]);
        else if (!strcmp(a, "--bridge-fd") && i + 1 < argc)
            bridge_fd = atoi(argv[++i]);
        else if (!strcmp(a, "--volume") && i + 1 < argc)
            volume = argv[++i];
        else if (!strcmp(a, "--local") && i + 2 < argc)
            helper = argv[++i], larg = argv[++i];
        else
            return usage();
    }
    if (i + 1 != argc || (!helper && (bridge_fd < 0 || !volume)))
        return usage();
    snprintf(mountpoint, sizeof mountpoint, "%s", argv[i]);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    rb_svc *svc;
    if (helper) {
        char *hargv[] = {(char *)helper, "--service", "fs", (char *)larg, NULL};
        svc = rb_svc_spawn_local(hargv, NULL, err, sizeof err);
    } else {
        svc = rb_svc_open(bridge_fd, PROTO_SVC_FS, 0, volume, 2, err, sizeof err);
    }
    if (!svc) {
        ready(ready_fd, "cannot open the filesystem service: %s", err);
        return 1;
    }
    fsc *c = fsc_new(rb_svc_fd(svc), false, timeout_ms, err, sizeof err);
    if (!c) {
        const char *why = rb_svc_why(svc);
        ready(ready_fd, "volume %s: %s%s%s", volume ? volume : larg, err, *why ? ": " : "", why);
        rb_svc_close(svc);
        return 1;
    }
    const fsc_info *info = fsc_get_info(c);
    char fsname[160], opts[512];
    /* revm volumes finds its mounts by this name: revm:VM:VOLUME. */
    snprintf(fsname, sizeof fsname, "fsname=revm:%s", label ? label : info->volume);
    snprintf(opts, sizeof opts, "default_permissions,subtype=revm%s%s",
             ro || info->rdonly ? ",ro" : "", allow_other ? ",allow_other" : "");
    char *fargv[] = {"revm-fuse", "-o", fsname, "-o", opts, debug ? "-d" : NULL, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(debug ? 6 : 5, fargv);
    revm_fuse rf = {c, max_dir};
    session = fuse_session_new(&args, &revm_fuse_ops, sizeof revm_fuse_ops, &rf);
    fuse_opt_free_args(&args);
    if (!session) {
        ready(ready_fd, "cannot start a FUSE session (is /dev/fuse there?)");
        fsc_free(c);
        rb_svc_close(svc);
        return 1;
    }
    if (fuse_set_signal_handlers(session) != 0 || fuse_session_mount(session, mountpoint) != 0) {
        ready(ready_fd, "cannot mount on %s (does it exist, and may this user mount there?)",
              mountpoint);
        fuse_remove_signal_handlers(session);
        fuse_session_destroy(session);
        fsc_free(c);
        rb_svc_close(svc);
        return 1;
    }
    /* Symlinks of an untrusted guest can point anywhere on the host; --nosymfollow makes the
     * host kernel refuse to follow them through this mount (readlink still works). */
    if (nosymfollow && mount(NULL, mountpoint, NULL,
                             MS_REMOUNT | MS_BIND | MS_NOSYMFOLLOW | MS_NOSUID | MS_NODEV |
                                 (ro || info->rdonly ? MS_RDONLY : 0), NULL) < 0) {
        ready(ready_fd, "cannot set nosymfollow on %s: %s", mountpoint, strerror(errno));
        fuse_session_unmount(session);
        fuse_remove_signal_handlers(session);
        fuse_session_destroy(session);
        fsc_free(c);
        rb_svc_close(svc);
        return 1;
    }
    ready(ready_fd, "ok");
    pthread_t watcher;
    pthread_create(&watcher, NULL, watch_main, c);
    struct fuse_loop_config *lc = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(lc, 16);
    int rc = fuse_session_loop_mt(session, lc);
    fuse_loop_cfg_destroy(lc);
    stopping = 1;
    pthread_join(watcher, NULL);
    fuse_remove_signal_handlers(session);
    fuse_session_unmount(session);
    char last[160];
    unsigned faults = fsc_faults(c, last, sizeof last);
    if (faults)
        fprintf(stderr, "revm-fuse: %u faulty replies from the guest (last: %s)\n", faults, last);
    fuse_session_destroy(session);
    fsc_free(c);
    rb_svc_close(svc);
    return rc < 0 ? 1 : 0;
}
