/* Non-root operation: re-exec under fakeroot.
 *
 * An image must carry the tarball's owners (root:root, root:shadow, ...), device nodes,
 * setuid bits and security.* xattrs, none of which an ordinary user may create. Options
 * considered:
 *  - user namespaces (unshare -r): map only the caller's uid, so chown to other ids
 *    fails, mknod is refused, and security.capability is namespaced; also often
 *    disabled by policy.
 *  - building the filesystem without a staging tree (write btrfs ourselves): far too
 *    much code for what fakeroot already does.
 *  - fakeroot (chosen): an LD_PRELOAD library reports euid 0 and records chown, chmod,
 *    mknod and xattr calls in its daemon (faked), keyed by device and inode; later
 *    stat/lstat/getxattr/listxattr calls in the same session return the recorded
 *    values. Every child inherits the session, so `mkfs.btrfs --rootdir` run by
 *    mkimage reads the owners, device nodes and xattrs exactly as extracted and puts
 *    them into the image. Verified with fakeroot 1.31 (Debian 12): chown, mknod (char,
 *    block), mkfifo, setuid modes, security.capability, trusted.* and user.* xattrs
 *    all read back through stat/getfattr in a child process, including for hard
 *    links. Note that fakeroot keeps xattrs only in faked (the files on disk carry
 *    none): the staging tree is meaningful only inside the session, which is why the
 *    whole of mkimage, not just extraction, runs inside it.
 * The session is started by re-executing this program under `fakeroot --`; when it
 * ends, faked's records vanish with the staging tree, which mkimage deletes anyway.
 * Real root skips all this. */
#include "privilege.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool privilege_under_fakeroot(void)
{
    const char *key = getenv("FAKEROOTKEY");
    return key && *key && geteuid() == 0;
}

/* Full path of an executable named name in PATH, or "" (out is PATH_MAX bytes). */
static void find_in_path(const char *name, char *out)
{
    const char *path = getenv("PATH");
    out[0] = '\0';
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0 && len + strlen(name) + 2 <= PATH_MAX) {
            snprintf(out, PATH_MAX, "%.*s/%s", (int)len, path, name);
            if (access(out, X_OK) == 0)
                return;
        }
        path += len;
        if (*path == ':')
            path++;
    }
    out[0] = '\0';
}

int privilege_ensure(int argc, char **argv, mk_err *err)
{
    if (geteuid() == 0)
        return 0;
    const char *key = getenv("FAKEROOTKEY");
    if (key && *key)
        /* Inside fakeroot yet not root: the preload did not take (static binary,
         * setuid, or a stripped environment). Re-executing would loop. */
        return mk_fail(err, "fakeroot: session active but not in effect for this process "
                            "(run mkimage as root instead)");

    char fakeroot[PATH_MAX];
    find_in_path("fakeroot", fakeroot);
    if (!fakeroot[0])
        return mk_fail(err, "fakeroot: not found; an ordinary user needs it (Debian package "
                            "fakeroot) to give the image its owners and device nodes, "
                            "or run mkimage as root");

    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
    } else if (argc > 0 && argv[0] && strchr(argv[0], '/')) {
        snprintf(self, sizeof self, "%s", argv[0]);
    } else {
        return mk_fail(err, "cannot find this program's own path to restart it under fakeroot");
    }

    char **nargv = calloc((size_t)(argc > 0 ? argc : 1) + 3, sizeof *nargv);
    if (!nargv)
        return mk_fail(err, "out of memory");
    size_t k = 0;
    nargv[k++] = "fakeroot";
    nargv[k++] = "--";
    nargv[k++] = self;
    for (int i = 1; i < argc; i++)
        nargv[k++] = argv[i];
    nargv[k] = NULL;
    execv(fakeroot, nargv);
    int e = errno;
    free(nargv);
    return mk_fail_errno(err, e, "fakeroot: cannot run %s", fakeroot);
}
