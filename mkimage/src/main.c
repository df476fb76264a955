/* mkimage: builds the driver, filesystem and app VM images from a rootfs tarball.
 *
 * Pipeline: arguments -> (fake)root session -> fetch and verify the tarball ->
 * extract it ONCE into a base tree -> per variant: derive the variant's tree from the
 * base (copies of the kept subset; the last variant consumes the base), customize,
 * install kernel modules, write the initramfs, build the disk, copy the kernel,
 * write the report. Every output is first written into a hidden staging directory
 * inside OUT (scratch.h) and renamed to its final name only once ALL variants are
 * built, so a failed or interrupted run leaves no file under a final name.
 * Arguments: cli.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "checksum.h"
#include "cli.h"
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
#include "scratch.h"
#include "variant.h"
#include "void_repo.h"


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

/* ---- per-variant work ---- */

typedef struct job {
    variant v;
    kmod_list initramfs_mods, rootfs_mods;
    variant_report rep;
    changelog changes;
    char seed[65];
    size_t order; /* position on the command line, for the summary */
    /* The disk stage runs in the background (disk_build_start) while the next variant is
     * prepared; these stay valid until disk_build_finish or disk_build_abort. */
    disk_job *disk;
    disk_spec ds;
    char tree[PATH_MAX * 2], qcow2[PATH_MAX * 2], disk_work[PATH_MAX * 2];
    double disk_t0;
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
static int compute_seed(const cli_opts *o, const char *variants_dir, const job *j,
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

static int build_variant(const cli_opts *o, const char *variants_dir, const char *init_bin, job *j,
                         const fetch_result *fr, const kernel_tree *k, const char *base,
                         bool consume, time_t epoch, mk_err *err)
{
    variant_report *r = &j->rep;
    const char *name = j->v.name;
    const char *work_dir = scratch_work_dir(), *staging_dir = scratch_staging_dir();
    char tree[PATH_MAX * 2], outp[PATH_MAX * 2];
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

    pathf(outp, sizeof outp, "%s/%s.initramfs", staging_dir, name);
    if (initramfs_write(k, &j->initramfs_mods, init_bin, outp, err) < 0)
        return -1;
    double t4 = now_s();
    r->seconds[STAGE_INITRAMFS] = t4 - t3;

    if (compute_seed(o, variants_dir, j, fr, k, j->seed, err) < 0)
        return -1;
    pathf(j->tree, sizeof j->tree, "%s", tree);
    pathf(j->qcow2, sizeof j->qcow2, "%s/%s.qcow2", staging_dir, name);
    pathf(j->disk_work, sizeof j->disk_work, "%s/disk-%s", work_dir, name);
    if (mkdir(j->disk_work, 0700) < 0)
        return mk_fail_errno(err, errno, "%s: cannot create", j->disk_work);
    j->ds = (disk_spec){
        .tree = j->tree, .out_qcow2 = j->qcow2, .fs = o->fs, .size_bytes = o->size,
        .label = name, .seed = j->seed, .work_dir = j->disk_work,
    };
    j->disk_t0 = t4;
    if (disk_build_start(&j->ds, &j->disk, err) < 0) {
        j->disk = NULL;
        return -1;
    }
    r->kernel_modules = j->rootfs_mods.n;
    r->initramfs_modules = j->initramfs_mods.n;
    return 0;
}

/* Second half of a variant: waits for its disk stage, frees its tree, adds the kernel. */
static int finish_variant(job *j, const kernel_tree *k, mk_err *err)
{
    variant_report *r = &j->rep;
    const char *name = j->v.name, *staging_dir = scratch_staging_dir();
    char outp[PATH_MAX * 2];
    disk_stats dst;
    memset(&dst, 0, sizeof dst);
    disk_job *dj = j->disk;
    j->disk = NULL;
    if (disk_build_finish(dj, &dst, err) < 0)
        return -1;
    r->qcow2_bytes = dst.qcow2_bytes;
    memcpy(r->qcow2_sha256, dst.sha256, sizeof r->qcow2_sha256);
    double t5 = now_s();
    r->seconds[STAGE_DISK] = t5 - j->disk_t0;
    /* The tree is no longer needed: free its space. */
    scratch_rm_tree(j->tree);
    scratch_rm_tree(j->disk_work);

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
    return 0;
}

/* Moves the staged outputs of every variant to their final names. */
static int commit_outputs(const char *out, job *jobs, size_t n, mk_err *err)
{
    static const char *const exts[] = {"qcow2", "vmlinuz", "initramfs", "report.json"};
    const char *staging_dir = scratch_staging_dir();
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

/* Opens the kernel and resolves every variant's module lists against it. */
static int open_kernel(const cli_opts *o, const char *src, const char *kwork, job *jobs, size_t n,
                       kernel_tree *k, mk_err *err)
{
    if (kernel_open(src, kwork, k, err) < 0)
        return -1;
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
        if (kmod_resolve(k, names, nn, &j->initramfs_mods, err) < 0 ||
            resolve_rootfs_modules(k, &j->v, &j->rootfs_mods, err) < 0)
            return -1;
    }
    say("kernel: %s\n", k->version);
    return 0;
}

static int run(const cli_opts *o, mk_err *err)
{
    char libdir[PATH_MAX], vdir_buf[PATH_MAX], init_bin[PATH_MAX];
    if (paths_libdir(libdir, err) < 0 || paths_data("revm-init", init_bin, err) < 0)
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
    if (scratch_create(o->out, o->work, err) < 0)
        goto out;
    const char *work_dir = scratch_work_dir(), *staging_dir = scratch_staging_dir();

    /* A given kernel first: a missing module fails in seconds, before any download.
     * The repository kernel needs the rootfs (its trusted keys): after extraction. */
    kernel_tree k;
    char kwork[PATH_MAX * 2];
    pathf(kwork, sizeof kwork, "%s/kernel", work_dir);
    if (mkdir(kwork, 0700) < 0) {
        mk_fail_errno(err, errno, "%s: cannot create", kwork);
        goto out;
    }
    if (o->kernel && open_kernel(o, o->kernel, kwork, jobs, n, &k, err) < 0)
        goto out;

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
    void_repo_kernel vk;
    memset(&vk, 0, sizeof vk);
    if (!o->kernel) {
        void_repo_request vr = {
            .repo = o->void_repo, .arch = o->void_arch, .series = o->kernel_series,
            .rootfs_tree = base, .net = &rq,
        };
        if (void_repo_fetch_kernel(&vr, &vk, err) < 0)
            goto out;
        say("kernel package: %s (%llu bytes%s, signed by %s)\n  sha256 %s\n  blake3 %s\n",
            vk.url, (unsigned long long)vk.file.size, vk.file.from_cache ? ", cached" : "",
            vk.key_fp, vk.file.sha256, vk.file.blake3);
        if (open_kernel(o, vk.file.path, kwork, jobs, n, &k, err) < 0)
            goto out;
    }
    const char *pkg_version = vk.pkg.pkgver + strlen(vk.pkg.name) + (vk.pkg.name[0] ? 1 : 0);
    time_t epoch = tree_epoch(base);

    /* Build order: variants that keep the whole tree last, and the very last one
     * takes the base tree itself instead of a copy (see customize_derive.h). */
    size_t ord[CLI_MAX_VARIANTS], no = 0;
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
        if (!o->kernel) {
            r->kernel_pkg_name = vk.pkg.name;
            r->kernel_pkg_version = pkg_version;
            r->kernel_pkg_url = vk.url;
            r->kernel_pkg_sha256 = vk.file.sha256;
            r->kernel_pkg_blake3 = vk.file.blake3;
            r->kernel_pkg_key = vk.key_fp;
        }
        r->fs = o->fs;
        r->seed = j->seed;
        r->changes = &j->changes;
        r->seconds[STAGE_FETCH] = t1 - t0;
        r->seconds[STAGE_EXTRACT] = t2 - t1;
        if (build_variant(o, variants_dir, init_bin, j, &fr, &k, base, x + 1 == no, epoch, err) < 0)
            goto out;
    }
    /* Every variant's mkfs has been started; the images were formatting while the next
     * variant was prepared, on the other core. Now collect them. */
    for (size_t x = 0; x < no; x++) {
        job *j = &jobs[ord[x]];
        variant_report *r = &j->rep;
        if (finish_variant(j, &k, err) < 0)
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
    variant_report reps[CLI_MAX_VARIANTS];
    for (size_t i = 0; i < n; i++)
        reps[i] = jobs[i].rep;
    report_print_table(stdout, reps, n);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].disk)
            disk_build_abort(jobs[i].disk);
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
    cli_opts o;
    int pr = cli_parse(argc, argv, &o, &err);
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
    scratch_install_signal_handlers();
    int rc = run(&o, &err);
    scratch_remove();
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "mkimage: %s\n", err.msg);
        return 1;
    }
    return 0;
}
