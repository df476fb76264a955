/* mkimage: builds the driver, filesystem and app VM images from a rootfs tarball.
 *
 * Pipeline: arguments -> (fake)root session -> fetch and verify the tarball ->
 * extract it ONCE into a base tree -> per variant: derive the variant's tree from the
 * base (copies of the kept subset; the last variant consumes the base), customize,
 * install kernel modules, write the initramfs, build the disk, copy the kernel,
 * write the report. Every output is first written into a hidden staging directory
 * inside OUT and renamed to its final name only once ALL variants are built, so a
 * failed or interrupted run leaves no file under a final name. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "checksum.h"
#include "customize.h"
#include "customize_derive.h"
#include "disk.h"
#include "extract.h"
#include "fetch.h"
#include "initramfs.h"
#include "kernel.h"
#include "kmod.h"
#include "mkerr.h"
#include "outfile.h"
#include "paths.h"
#include "privilege.h"
#include "progress.h"
#include "report.h"
#include "variant.h"
#include "void_default.h"

#define MKIMAGE_VERSION "0.1.0"
#define MAX_VARIANTS 16
#define MAX_INSTALLS 64

static const char usage[] =
    "usage: mkimage [--variant driver|filesystem|app|all]... [--rootfs URL|FILE]\n"
    "               [--sha256 HEX | --sha256sums URL|FILE] [--signature URL|FILE --pubkey KEY|FILE]\n"
    "               --kernel DIR|PKG [--bridge FILE] [--install SRC:DEST[:MODE]]...\n"
    "               [--variants-dir DIR] [--cache DIR] [--work DIR] [--fs btrfs|ext4]\n"
    "               [--size 5G] [--connect-timeout S] [--stall-timeout S] [--retries N]\n"
    "               [--quiet] --out DIR\n"
    "\n"
    "Builds bootable VM images from a rootfs tarball. For each variant V it writes\n"
    "OUT/V.qcow2, OUT/V.vmlinuz, OUT/V.initramfs and OUT/V.report.json, then prints a\n"
    "summary. Without --variant all three variants are built; without --rootfs the\n"
    "Void musl ROOTFS (pinned SHA-256) is downloaded.\n"
    "\n"
    "  --variant NAME      driver, filesystem, app, all, or a NAME.ini in --variants-dir\n"
    "  --rootfs SRC        tarball: http(s):// or file:// URL, or a path\n"
    "  --sha256 HEX        expected SHA-256 of the tarball\n"
    "  --sha256sums SRC    checksum list to look the tarball up in (BSD or GNU format)\n"
    "  --signature SRC     minisign signature of the checksum list (needs --pubkey)\n"
    "  --pubkey KEY|FILE   minisign public key\n"
    "  --kernel DIR|PKG    kernel tree (boot/vmlinuz-VER, lib/modules/VER) or .deb/.xbps\n"
    "  --bridge FILE       static revm-guestd, installed and enabled as revm-bridge\n"
    "  --install S:D[:M]   copy host file S to D in every image (mode M, octal)\n"
    "  --variants-dir DIR  where NAME.ini files live (default: <prefix>/lib/revm/variants)\n"
    "  --cache DIR         download cache (default: ~/.cache/revm/mkimage)\n"
    "  --work DIR          scratch space for the staged trees (default: inside OUT)\n"
    "  --fs TYPE           root filesystem, btrfs (default) or ext4\n"
    "  --size N[KMGT]      virtual disk size (default 5G)\n"
    "  --connect-timeout S give up connecting after S seconds (default 30)\n"
    "  --stall-timeout S   give up when a download sends nothing for S seconds (30)\n"
    "  --retries N         download attempts after the first failure (default 3)\n"
    "  --quiet             no progress or stage lines\n"
    "  --out DIR           output directory (created)\n";

typedef struct opts {
    const char *variants[MAX_VARIANTS];
    size_t n_variants;
    const char *rootfs, *sha256, *sums, *sig, *pubkey, *kernel, *bridge;
    const char *installs[MAX_INSTALLS];
    size_t n_installs;
    const char *variants_dir, *cache, *work, *fs, *out;
    uint64_t size;
    long connect_timeout, stall_timeout;
    int retries; /* fetch_request convention: 0 default, < 0 none */
    bool quiet;
} opts;

static bool quiet;

/* snprintf for paths: -1 when the result would not fit (callers check where a
 * truncated path could name the wrong file). */
static int pathf(char *out, size_t sz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *out, size_t sz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, sz, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sz ? -1 : n;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- work and staging directories: removed on every exit path ---- */

static char staging_dir[PATH_MAX]; /* OUT/.mkimage-PID: outputs before their final rename */
static char work_dir[PATH_MAX];    /* staged trees */
static struct sigaction prev_action[NSIG];

/* Removes a tree even when it holds read-only directories (a rootfs has some). */
static void rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d && errno == EACCES && chmod(path, 0700) == 0)
        d = opendir(path);
    if (d) {
        struct dirent *de;
        bool chmodded = false;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char p[PATH_MAX];
            if (pathf(p, sizeof p, "%s/%s", path, de->d_name) >= (int)sizeof p)
                continue;
            if (!chmodded && access(path, W_OK) != 0) {
                chmod(path, 0700);
                chmodded = true;
            }
            rm_tree(p);
        }
        closedir(d);
    }
    rmdir(path);
}

/* Signal path: recursive removal is not async-signal-safe, fork+exec of rm is.
 * The environment is dropped so rm runs outside fakeroot (the files belong to the
 * real user, and faked may already be gone). */
static void rm_from_handler(const char *dir)
{
    if (!dir[0])
        return;
    pid_t pid = fork();
    if (pid == 0) {
        char *const argv[] = {"rm", "-rf", "--", (char *)dir, NULL};
        char *const envp[] = {NULL};
        execve("/bin/rm", argv, envp);
        execve("/usr/bin/rm", argv, envp);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
}

static void on_signal(int sig)
{
    rm_from_handler(work_dir);
    rm_from_handler(staging_dir);
    /* outfile's handler unlinks registered temporary files and re-raises. */
    sigaction(sig, &prev_action[sig], NULL);
    raise(sig);
}

static void install_cleanup_handlers(void)
{
    outfile_install_signal_handlers();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, &prev_action[sigs[i]]);
}

static void cleanup_dirs(void)
{
    if (work_dir[0])
        rm_tree(work_dir);
    if (staging_dir[0])
        rm_tree(staging_dir);
    work_dir[0] = staging_dir[0] = 0;
}

/* Scratch directories of runs that died (SIGKILL) are named after their PID. */
static void remove_stale_dirs(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    size_t pl = strlen(prefix);
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, prefix, pl) != 0)
            continue;
        char *end;
        long pid = strtol(de->d_name + pl, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
            errno == EPERM)
            continue;
        char p[PATH_MAX];
        if (pathf(p, sizeof p, "%s/%s", dir, de->d_name) < (int)sizeof p)
            rm_tree(p);
    }
    closedir(d);
}

static int mkdir_p(const char *path, mk_err *err)
{
    char tmp[PATH_MAX];
    if (pathf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return mk_fail(err, "%s: path too long", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return mk_fail_errno(err, errno, "%s: cannot create", tmp);
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return mk_fail_errno(err, errno, "%s: cannot create", tmp);
    return 0;
}

/* ---- arguments ---- */

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case 0: break;
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    case 'T': case 't': shift = 40; end++; break;
    default: return -1;
    }
    if (*end == 'i' || *end == 'B')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end || v == 0 || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int add_variant(opts *o, const char *name, mk_err *err)
{
    if (!strcmp(name, "all")) {
        static const char *const all[] = {"driver", "filesystem", "app"};
        for (size_t i = 0; i < 3; i++)
            if (add_variant(o, all[i], err) < 0)
                return -1;
        return 0;
    }
    if (!variant_name_valid(name))
        return mk_fail(err, "variant '%.40s': invalid name (expected driver, filesystem, app, "
                            "all or [a-z][a-z0-9_-]*)", name);
    for (size_t i = 0; i < o->n_variants; i++)
        if (!strcmp(o->variants[i], name))
            return 0;
    if (o->n_variants == MAX_VARIANTS)
        return mk_fail(err, "--variant: at most %d variants", MAX_VARIANTS);
    o->variants[o->n_variants++] = name;
    return 0;
}

/* Returns 0 to run, 1 when --help/--version was handled, -1 on error. */
static int parse_args(int argc, char **argv, opts *o, mk_err *err)
{
    enum { O_ROOTFS = 256, O_SHA, O_SUMS, O_SIG, O_PUB, O_KERNEL, O_BRIDGE, O_INSTALL,
           O_VDIR, O_CACHE, O_WORK, O_FS, O_SIZE, O_OUT, O_VERSION, O_CTO, O_STO, O_RETRIES };
    static const struct option longopts[] = {
        {"variant", required_argument, NULL, 'v'}, {"rootfs", required_argument, NULL, O_ROOTFS},
        {"sha256", required_argument, NULL, O_SHA}, {"sha256sums", required_argument, NULL, O_SUMS},
        {"signature", required_argument, NULL, O_SIG}, {"pubkey", required_argument, NULL, O_PUB},
        {"kernel", required_argument, NULL, O_KERNEL}, {"bridge", required_argument, NULL, O_BRIDGE},
        {"install", required_argument, NULL, O_INSTALL},
        {"variants-dir", required_argument, NULL, O_VDIR},
        {"cache", required_argument, NULL, O_CACHE}, {"work", required_argument, NULL, O_WORK},
        {"fs", required_argument, NULL, O_FS}, {"size", required_argument, NULL, O_SIZE},
        {"quiet", no_argument, NULL, 'q'}, {"out", required_argument, NULL, O_OUT},
        {"connect-timeout", required_argument, NULL, O_CTO},
        {"stall-timeout", required_argument, NULL, O_STO},
        {"retries", required_argument, NULL, O_RETRIES},
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->fs = "btrfs";
    o->size = 5ULL << 30;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+v:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'v': if (add_variant(o, optarg, err) < 0) return -1; break;
        case O_ROOTFS: o->rootfs = optarg; break;
        case O_SHA: o->sha256 = optarg; break;
        case O_SUMS: o->sums = optarg; break;
        case O_SIG: o->sig = optarg; break;
        case O_PUB: o->pubkey = optarg; break;
        case O_KERNEL: o->kernel = optarg; break;
        case O_BRIDGE: o->bridge = optarg; break;
        case O_INSTALL: {
            char s[PATH_MAX], d[PATH_MAX];
            unsigned m;
            if (install_spec_parse(optarg, s, sizeof s, d, sizeof d, &m, err) < 0)
                return -1;
            if (o->n_installs == MAX_INSTALLS)
                return mk_fail(err, "--install: at most %d files", MAX_INSTALLS);
            o->installs[o->n_installs++] = optarg;
            break;
        }
        case O_VDIR: o->variants_dir = optarg; break;
        case O_CACHE: o->cache = optarg; break;
        case O_WORK: o->work = optarg; break;
        case O_FS:
            if (strcmp(optarg, "btrfs") && strcmp(optarg, "ext4"))
                return mk_fail(err, "--fs %.32s: expected btrfs or ext4", optarg);
            o->fs = optarg;
            break;
        case O_SIZE:
            if (parse_size(optarg, &o->size) < 0 || o->size < (64ULL << 20))
                return mk_fail(err, "--size %.32s: expected a size of at least 64M, e.g. 5G",
                               optarg);
            break;
        case O_OUT: o->out = optarg; break;
        case O_CTO:
        case O_STO:
        case O_RETRIES: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 0 || v > 3600 ||
                (c != O_RETRIES && v == 0))
                return mk_fail(err, "%s %.32s: expected a number%s",
                               c == O_CTO ? "--connect-timeout"
                               : c == O_STO ? "--stall-timeout" : "--retries",
                               optarg, c == O_RETRIES ? " from 0 to 3600"
                                                      : " of seconds from 1 to 3600");
            if (c == O_CTO)
                o->connect_timeout = v;
            else if (c == O_STO)
                o->stall_timeout = v;
            else
                o->retries = v == 0 ? -1 : (int)v;
            break;
        }
        case 'q': o->quiet = true; break;
        case 'h': fputs(usage, stdout); return 1;
        case O_VERSION: puts("mkimage " MKIMAGE_VERSION); return 1;
        default:
            if (optopt && optopt < 256)
                return mk_fail(err, "-%c: unknown option or missing value (see --help)", optopt);
            return mk_fail(err, "%s: unknown option or missing value (see --help)",
                           argv[optind - 1]);
        }
    }
    if (optind < argc)
        return mk_fail(err, "%s: unexpected argument (see --help)", argv[optind]);
    if (!o->out)
        return mk_fail(err, "--out: required (see --help)");
    if (!o->kernel)
        return mk_fail(err, "--kernel: required (see --help)");
    if (o->sha256 && o->sums)
        return mk_fail(err, "--sha256 and --sha256sums: give one, not both");
    if ((o->sig != NULL) != (o->pubkey != NULL))
        return mk_fail(err, "--signature and --pubkey: give both or neither");
    if (o->sig && !o->sums)
        return mk_fail(err, "--signature: signs a checksum list, needs --sha256sums");
    if (!o->n_variants && add_variant(o, "all", err) < 0)
        return -1;
    if (!o->rootfs) {
        o->rootfs = VOID_DEFAULT_ROOTFS_URL;
        if (!o->sha256 && !o->sums)
            o->sha256 = VOID_DEFAULT_ROOTFS_SHA256;
    }
    return 0;
}

/* ---- per-variant work ---- */

typedef struct job {
    variant v;
    kmod_list initramfs_mods, rootfs_mods;
    variant_report rep;
    changelog changes;
    char seed[65];
    size_t order; /* position on the command line, for the summary */
} job;

/* Appends the items of b missing from a (module lists stay in dependency order). */
static int kmod_list_merge(kmod_list *a, const kmod_list *b)
{
    for (size_t i = 0; i < b->n; i++) {
        bool have = false;
        for (size_t k = 0; k < a->n && !have; k++)
            have = !strcmp(a->paths[k], b->paths[i]);
        if (have)
            continue;
        char **nv = realloc(a->paths, (a->n + 1) * sizeof *nv);
        if (!nv)
            return -1;
        a->paths = nv;
        if (!(a->paths[a->n] = strdup(b->paths[i])))
            return -1;
        a->n++;
    }
    return 0;
}

/* The variant's rootfs modules: plain names are resolved like modprobe names, items
 * with a '/' are directory prefixes under lib/modules/VER. */
static int resolve_rootfs_modules(const kernel_tree *k, const variant *v, kmod_list *out,
                                  mk_err *err)
{
    memset(out, 0, sizeof *out);
    const char *names[VARIANT_LIST_MAX], *prefixes[VARIANT_LIST_MAX];
    size_t nn = 0, np = 0;
    for (size_t i = 0; i < v->rootfs_modules.n; i++) {
        const char *m = v->rootfs_modules.v[i];
        if (strchr(m, '/'))
            prefixes[np++] = m;
        else
            names[nn++] = m;
    }
    if (nn && kmod_resolve(k, names, nn, out, err) < 0)
        return -1;
    if (np) {
        kmod_list g = {0};
        if (kmod_glob(k, prefixes, np, &g, err) < 0) {
            kmod_list_free(out);
            return -1;
        }
        int rc = kmod_list_merge(out, &g);
        kmod_list_free(&g);
        if (rc < 0) {
            kmod_list_free(out);
            return mk_fail(err, "kernel modules: out of memory");
        }
    }
    return 0;
}

static void sha_update_str(EVP_MD_CTX *c, const char *label, const char *s)
{
    EVP_DigestUpdate(c, label, strlen(label));
    EVP_DigestUpdate(c, "=", 1);
    EVP_DigestUpdate(c, s, strlen(s));
    EVP_DigestUpdate(c, "\n", 1);
}

static int sha_update_file(EVP_MD_CTX *c, const char *label, const char *path, mk_err *err)
{
    char hex[65];
    if (hash_file(path, hex, NULL, err) < 0)
        return -1;
    sha_update_str(c, label, hex);
    return 0;
}

/* The seed of a variant's disk: a digest of every input, so identical inputs give a
 * bit-identical image and any change gives new UUIDs. */
static int compute_seed(const opts *o, const char *variants_dir, const job *j,
                        const fetch_result *fr, const kernel_tree *k, char out[65], mk_err *err)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return mk_fail(err, "seed: out of memory");
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    int rc = -1;
    char path[PATH_MAX * 2], size[32];
    sha_update_str(c, "mkimage", MKIMAGE_VERSION);
    sha_update_str(c, "rootfs", fr->sha256);
    pathf(path, sizeof path, "%s/%s.ini", variants_dir, j->v.name);
    if (sha_update_file(c, "variant", path, err) < 0)
        goto out;
    for (size_t i = 0; i < j->v.install.n; i++) {
        char s[PATH_MAX], d[PATH_MAX];
        unsigned m;
        if (install_spec_parse(j->v.install.v[i], s, sizeof s, d, sizeof d, &m, err) < 0)
            goto out;
        pathf(path, sizeof path, "%s/%s", variants_dir, s);
        if (sha_update_file(c, j->v.install.v[i], path, err) < 0)
            goto out;
    }
    for (size_t i = 0; i < o->n_installs; i++) {
        char s[PATH_MAX], d[PATH_MAX];
        unsigned m;
        if (install_spec_parse(o->installs[i], s, sizeof s, d, sizeof d, &m, err) < 0 ||
            sha_update_file(c, d, s, err) < 0)
            goto out;
    }
    if (o->bridge && sha_update_file(c, "bridge", o->bridge, err) < 0)
        goto out;
    sha_update_str(c, "kernel", k->version);
    if (sha_update_file(c, "vmlinuz", k->vmlinuz, err) < 0)
        goto out;
    sha_update_str(c, "fs", o->fs);
    pathf(size, sizeof size, "%llu", (unsigned long long)o->size);
    sha_update_str(c, "size", size);
    unsigned char md[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(c, md, &len);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    EVP_MD_CTX_free(c);
    return rc;
}

static int copy_file_out(const char *src, const char *dst, mk_err *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return mk_fail_errno(err, errno, "%s: cannot open", src);
    mk_outfile of;
    if (outfile_open(&of, dst, err) < 0) {
        close(in);
        return -1;
    }
    char buf[131072];
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(in);
            outfile_abort(&of);
            return mk_fail_errno(err, e, "%s: cannot read", src);
        }
        if (r == 0)
            break;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(of.fd, buf + off, (size_t)(r - off));
            if (w < 0) {
                int e = errno;
                close(in);
                outfile_abort(&of);
                return mk_fail_errno(err, e, "%s: cannot write", dst);
            }
            off += w;
        }
    }
    close(in);
    return outfile_commit(&of, err);
}

/* Which module directories exist in the tree (lib/modules, usr/lib/modules), so
 * that what kmod_install adds can be recorded in the changelog: the whole modules
 * directory when it is new, else just modules/VER. Resolved inside the tree. */
static unsigned modules_dirs_present(const char *root)
{
    static const char *const dirs[] = {"/usr/lib/modules", "/lib/modules"};
    unsigned mask = 0;
    tree t;
    if (tree_open(&t, root, 0, NULL, NULL) < 0)
        return 0;
    for (unsigned i = 0; i < 2; i++) {
        struct stat st;
        if (tree_lstat(&t, dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
            mask |= 1u << i;
    }
    tree_close(&t);
    return mask;
}

static void log_modules_dir(const char *root, const kernel_tree *k, unsigned before,
                            changelog *log)
{
    static const char *const dirs[] = {"/usr/lib/modules", "/lib/modules"};
    unsigned after = modules_dirs_present(root);
    for (unsigned i = 0; i < 2; i++) {
        char rel[PATH_MAX];
        if (!(after & (1u << i)))
            continue;
        if (before & (1u << i))
            pathf(rel, sizeof rel, "%s/%s", dirs[i], k->version);
        else
            pathf(rel, sizeof rel, "%s", dirs[i]);
        changelog_add(log, rel);
        return; /* /lib is usually a link to usr/lib: one entry */
    }
}

static time_t tree_epoch(const char *base)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        char *end;
        long long v = strtoll(sde, &end, 10);
        if (!*end && v >= 0)
            return (time_t)v;
    }
    /* The tarball's own /etc time: deterministic for a given tarball. */
    char p[PATH_MAX + 8];
    struct stat st;
    pathf(p, sizeof p, "%s/etc", base);
    if (stat(p, &st) == 0)
        return st.st_mtime;
    return 0;
}

static int build_variant(const opts *o, const char *variants_dir, const char *libdir, job *j,
                         const fetch_result *fr, const kernel_tree *k, const char *base,
                         bool consume, time_t epoch, mk_err *err)
{
    variant_report *r = &j->rep;
    const char *name = j->v.name;
    char tree[PATH_MAX * 2], outp[PATH_MAX * 2], init_bin[PATH_MAX * 2];
    if (pathf(tree, sizeof tree, "%s/%s", work_dir, name) < 0)
        return mk_fail(err, "%s: path too long", work_dir);
    double t0 = now_s();
    if (derive_tree(base, tree, &j->v, consume, err) < 0)
        return -1;
    double t1 = now_s();
    r->seconds[STAGE_DERIVE] = t1 - t0;
    customize_opts co = {
        .v = &j->v, .variants_dir = variants_dir, .bridge = o->bridge,
        .installs = o->installs, .n_installs = o->n_installs, .fs = o->fs, .epoch = epoch,
    };
    if (customize_tree(tree, &co, &j->changes, err) < 0) {
        mk_err inner = *err;
        return mk_fail(err, "variant %s: %s", name, inner.msg);
    }
    double t2 = now_s();
    r->seconds[STAGE_CUSTOMIZE] = t2 - t1;
    unsigned mods_before = modules_dirs_present(tree);
    if (j->rootfs_mods.n && kmod_install(k, &j->rootfs_mods, tree, err) < 0)
        return -1;
    log_modules_dir(tree, k, mods_before, &j->changes);
    double t3 = now_s();
    r->seconds[STAGE_MODULES] = t3 - t2;

    tree_measure m;
    if (tree_measure_dir(tree, &m, err) < 0)
        return -1;
    r->files = m.files;
    r->entries = m.entries;
    r->staged_bytes = m.bytes;

    pathf(init_bin, sizeof init_bin, "%s/revm-init", libdir);
    pathf(outp, sizeof outp, "%s/%s.initramfs", staging_dir, name);
    if (initramfs_write(k, &j->initramfs_mods, init_bin, outp, err) < 0)
        return -1;
    double t4 = now_s();
    r->seconds[STAGE_INITRAMFS] = t4 - t3;

    if (compute_seed(o, variants_dir, j, fr, k, j->seed, err) < 0)
        return -1;
    pathf(outp, sizeof outp, "%s/%s.qcow2", staging_dir, name);
    char disk_work[PATH_MAX * 2];
    pathf(disk_work, sizeof disk_work, "%s/disk-%s", work_dir, name);
    if (mkdir(disk_work, 0700) < 0)
        return mk_fail_errno(err, errno, "%s: cannot create", disk_work);
    disk_spec ds = {
        .tree = tree, .out_qcow2 = outp, .fs = o->fs, .size_bytes = o->size,
        .label = name, .seed = j->seed, .work_dir = disk_work,
    };
    disk_stats dst;
    memset(&dst, 0, sizeof dst);
    if (disk_build(&ds, &dst, err) < 0)
        return -1;
    r->qcow2_bytes = dst.qcow2_bytes;
    memcpy(r->qcow2_sha256, dst.sha256, sizeof r->qcow2_sha256);
    double t5 = now_s();
    r->seconds[STAGE_DISK] = t5 - t4;
    /* The tree is no longer needed: free its space before the next variant. */
    rm_tree(tree);
    rm_tree(disk_work);

    pathf(outp, sizeof outp, "%s/%s.vmlinuz", staging_dir, name);
    /* Every variant boots the same kernel: the first is copied (and synced), the
     * others are hard links to it in the staging directory. */
    static char first_kernel[PATH_MAX * 2];
    if (!first_kernel[0] || link(first_kernel, outp) < 0) {
        if (copy_file_out(k->vmlinuz, outp, err) < 0)
            return -1;
        pathf(first_kernel, sizeof first_kernel, "%s", outp);
    }
    r->seconds[STAGE_KERNEL] = now_s() - t5;
    r->kernel_modules = j->rootfs_mods.n;
    r->initramfs_modules = j->initramfs_mods.n;
    return 0;
}

/* Moves the staged outputs of every variant to their final names. */
static int commit_outputs(const char *out, job *jobs, size_t n, mk_err *err)
{
    static const char *const exts[] = {"qcow2", "vmlinuz", "initramfs", "report.json"};
    for (size_t i = 0; i < n; i++) {
        for (size_t e = 0; e < 4; e++) {
            char from[PATH_MAX * 2], to[PATH_MAX * 2];
            pathf(from, sizeof from, "%s/%s.%s", staging_dir, jobs[i].v.name, exts[e]);
            pathf(to, sizeof to, "%s/%s.%s", out, jobs[i].v.name, exts[e]);
            if (rename(from, to) < 0)
                return mk_fail_errno(err, errno, "%s: cannot rename into place", to);
        }
    }
    return 0;
}

static int run(const opts *o, mk_err *err)
{
    char libdir[PATH_MAX], vdir_buf[PATH_MAX];
    if (paths_libdir(libdir, err) < 0)
        return -1;
    const char *variants_dir = o->variants_dir;
    if (!variants_dir) {
        pathf(vdir_buf, sizeof vdir_buf, "%s/variants", libdir);
        variants_dir = vdir_buf;
    }
    size_t n = o->n_variants;
    job *jobs = calloc(n, sizeof *jobs);
    if (!jobs)
        return mk_fail(err, "out of memory");
    int rc = -1;
    size_t loaded = 0;
    for (; loaded < n; loaded++) {
        if (variant_load(variants_dir, o->variants[loaded], &jobs[loaded].v, err) < 0)
            goto out;
        jobs[loaded].order = loaded;
    }

    /* Outputs and scratch space. */
    if (mkdir_p(o->out, err) < 0)
        goto out;
    outfile_remove_stale(o->out);
    remove_stale_dirs(o->out, ".mkimage-");
    pathf(staging_dir, sizeof staging_dir, "%s/.mkimage-%ld", o->out, (long)getpid());
    if (mkdir(staging_dir, 0700) < 0) {
        staging_dir[0] = 0;
        mk_fail_errno(err, errno, "%s/.mkimage-%ld: cannot create", o->out, (long)getpid());
        goto out;
    }
    if (o->work) {
        if (mkdir_p(o->work, err) < 0)
            goto out;
        remove_stale_dirs(o->work, "mkimage-");
        pathf(work_dir, sizeof work_dir, "%s/mkimage-%ld", o->work, (long)getpid());
    } else {
        pathf(work_dir, sizeof work_dir, "%s/work", staging_dir);
    }
    if (mkdir(work_dir, 0700) < 0) {
        mk_fail_errno(err, errno, "%s: cannot create", work_dir);
        work_dir[0] = 0;
        goto out;
    }

    /* Kernel first: a missing module fails in seconds, before any download. */
    kernel_tree k;
    char kwork[PATH_MAX * 2];
    pathf(kwork, sizeof kwork, "%s/kernel", work_dir);
    if (mkdir(kwork, 0700) < 0) {
        mk_fail_errno(err, errno, "%s: cannot create", kwork);
        goto out;
    }
    if (kernel_open(o->kernel, kwork, &k, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        job *j = &jobs[i];
        /* The root filesystem's module goes into the initramfs even when the variant
         * file names only btrfs (--fs ext4). */
        const char *names[VARIANT_LIST_MAX + 1];
        size_t nn = 0;
        bool have_fs = false;
        for (size_t m = 0; m < j->v.initramfs_modules.n; m++) {
            names[nn++] = j->v.initramfs_modules.v[m];
            have_fs |= !strcmp(j->v.initramfs_modules.v[m], o->fs);
        }
        if (!have_fs)
            names[nn++] = o->fs;
        if (kmod_resolve(&k, names, nn, &j->initramfs_mods, err) < 0 ||
            resolve_rootfs_modules(&k, &j->v, &j->rootfs_mods, err) < 0)
            goto out;
    }
    say("kernel: %s\n", k.version);

    double t0 = now_s();
    fetch_request rq = {
        .url = o->rootfs, .sha256 = o->sha256, .sums_url = o->sums, .sig_url = o->sig,
        .pubkey = o->pubkey, .cache_dir = o->cache, .connect_timeout_s = o->connect_timeout,
        .stall_timeout_s = o->stall_timeout, .retries = o->retries,
    };
    fetch_result fr;
    if (fetch_verified(&rq, &fr, err) < 0)
        goto out;
    double t1 = now_s();
    say("rootfs: %s (%llu bytes%s)\n  sha256 %s\n  blake3 %s\n", o->rootfs,
        (unsigned long long)fr.size, fr.from_cache ? ", cached" : "", fr.sha256, fr.blake3);

    char base[PATH_MAX * 2];
    pathf(base, sizeof base, "%s/base", work_dir);
    if (mkdir(base, 0755) < 0) {
        mk_fail_errno(err, errno, "%s: cannot create", base);
        goto out;
    }
    extract_stats es;
    if (extract_archive(fr.path, base, &es, err) < 0)
        goto out;
    double t2 = now_s();
    say("extracted: %llu entries, %llu bytes of files in %.2fs\n", (unsigned long long)es.entries,
        (unsigned long long)es.bytes, t2 - t1);
    if (privilege_under_fakeroot() && tree_make_readable(base, err) < 0)
        goto out;
    time_t epoch = tree_epoch(base);

    /* Build order: variants that keep the whole tree last, and the very last one
     * takes the base tree itself instead of a copy (see customize_derive.h). */
    size_t ord[MAX_VARIANTS], no = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if (derive_keeps_all(&jobs[i].v) == (pass == 1))
                ord[no++] = i;
    for (size_t x = 0; x < no; x++) {
        job *j = &jobs[ord[x]];
        variant_report *r = &j->rep;
        r->variant = j->v.name;
        r->hostname = j->v.hostname;
        r->rootfs_url = o->rootfs;
        r->rootfs_sha256 = fr.sha256;
        r->rootfs_blake3 = fr.blake3;
        r->kernel_version = k.version;
        r->fs = o->fs;
        r->seed = j->seed;
        r->changes = &j->changes;
        r->seconds[STAGE_FETCH] = t1 - t0;
        r->seconds[STAGE_EXTRACT] = t2 - t1;
        if (build_variant(o, variants_dir, libdir, j, &fr, &k, base, x + 1 == no, epoch, err) < 0)
            goto out;
        char rp[PATH_MAX * 2];
        pathf(rp, sizeof rp, "%s/%s.report.json", staging_dir, j->v.name);
        if (report_write(rp, r, err) < 0)
            goto out;
        double total = 0;
        for (int s = STAGE_DERIVE; s < STAGE_COUNT; s++)
            total += r->seconds[s];
        say("%s: built in %.2fs\n", j->v.name, total);
    }
    if (commit_outputs(o->out, jobs, n, err) < 0)
        goto out;
    variant_report reps[MAX_VARIANTS];
    for (size_t i = 0; i < n; i++)
        reps[i] = jobs[i].rep;
    report_print_table(stdout, reps, n);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        if (i < loaded)
            variant_free(&jobs[i].v);
        kmod_list_free(&jobs[i].initramfs_mods);
        kmod_list_free(&jobs[i].rootfs_mods);
        changelog_free(&jobs[i].changes);
    }
    free(jobs);
    return rc;
}

/* mkfs.btrfs, mke2fs and depmod live in sbin, which an ordinary user's PATH often
 * lacks (Debian). Appending keeps the user's own choices first. */
static void path_add_sbin(void)
{
    const char *path = getenv("PATH");
    char buf[8192];
    snprintf(buf, sizeof buf, "%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    static const char *const dirs[] = {"/usr/local/sbin", "/usr/sbin", "/sbin"};
    for (size_t i = 0; i < 3; i++) {
        size_t dl = strlen(dirs[i]);
        bool have = false;
        for (const char *p = buf; (p = strstr(p, dirs[i])); p += dl)
            if ((p == buf || p[-1] == ':') && (p[dl] == ':' || p[dl] == 0))
                have = true;
        size_t bl = strlen(buf);
        if (!have && bl + dl + 2 < sizeof buf) {
            buf[bl] = ':';
            memcpy(buf + bl + 1, dirs[i], dl + 1);
        }
    }
    setenv("PATH", buf, 1);
}

int main(int argc, char **argv)
{
    mk_err err = {{0}};
    opts o;
    int pr = parse_args(argc, argv, &o, &err);
    if (pr > 0)
        return 0;
    if (pr < 0) {
        fprintf(stderr, "mkimage: %s\n", err.msg);
        return 2;
    }
    quiet = o.quiet;
    path_add_sbin();
    if (o.quiet)
        progress_set_quiet(true);
    if (privilege_ensure(argc, argv, &err) < 0) {
        fprintf(stderr, "mkimage: %s\n", err.msg);
        return 1;
    }
    install_cleanup_handlers();
    int rc = run(&o, &err);
    cleanup_dirs();
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "mkimage: %s\n", err.msg);
        return 1;
    }
    return 0;
}
