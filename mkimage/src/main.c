/* mkimage: builds the driver, filesystem and app VM images from a rootfs tarball.
 *
 * Pipeline: arguments -> (fake)root session -> fetch and verify the tarball ->
 * extract it ONCE into a base tree -> per variant: derive the variant's tree from the
 * base (copies of the kept subset; the last variant consumes the base), customize,
 * install kernel modules, write the initramfs, build the disk, copy the kernel,
 * write the report. Every output is first written into a hidden staging directory
 * inside OUT (scratch.h) and renamed to its final name only once ALL variants are
 * built, so a failed or interrupted run leaves no file under a final name.
 * Arguments: cli.h. The stages of one variant: build_job.h. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "build_job.h"
#include "cli.h"
#include "customize_derive.h"
#include "extract.h"
#include "fetch.h"
#include "kernel.h"
#include "mkerr.h"
#include "paths.h"
#include "privilege.h"
#include "progress.h"
#include "report.h"
#include "scratch.h"
#include "seed.h"
#include "void_repo.h"

static bool quiet;

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

/* Opens the kernel and resolves every variant's module lists against it. */
static int open_kernel(const cli_opts *o, const char *src, const char *kwork, build_job *jobs,
                       size_t n, kernel_tree *k, mk_err *err)
{
    if (kernel_open(src, kwork, k, err) < 0 ||
        build_jobs_resolve_modules(jobs, n, k, o->fs, err) < 0)
        return -1;
    say("kernel: %s\n", k->version);
    return 0;
}

/* Fetches and verifies the rootfs tarball and extracts it into WORK/base. */
static int fetch_and_extract(const cli_opts *o, const fetch_request *rq, fetch_result *fr,
                             char *base, size_t base_size, double t[3], mk_err *err)
{
    t[0] = progress_now();
    if (fetch_verified(rq, fr, err) < 0)
        return -1;
    t[1] = progress_now();
    say("rootfs: %s (%llu bytes%s)\n  sha256 %s\n  blake3 %s\n", o->rootfs,
        (unsigned long long)fr->size, fr->from_cache ? ", cached" : "", fr->sha256, fr->blake3);
    paths_fmt(base, base_size, "%s/base", scratch_work_dir());
    if (mkdir(base, 0755) < 0)
        return mk_fail_errno(err, errno, "%s: cannot create", base);
    extract_stats es;
    if (extract_archive(fr->path, base, &es, err) < 0)
        return -1;
    t[2] = progress_now();
    say("extracted: %llu entries, %llu bytes of files in %.2fs\n",
        (unsigned long long)es.entries, (unsigned long long)es.bytes, t[2] - t[1]);
    if (privilege_under_fakeroot() && tree_make_readable(base, err) < 0)
        return -1;
    return 0;
}

/* The repository kernel (no --kernel): fetched with the rootfs's trusted keys. */
static int fetch_repo_kernel(const cli_opts *o, const fetch_request *rq, const char *base,
                             void_repo_kernel *vk, mk_err *err)
{
    void_repo_request vr = {
        .repo = o->void_repo, .arch = o->void_arch, .series = o->kernel_series,
        .rootfs_tree = base, .net = rq,
    };
    if (void_repo_fetch_kernel(&vr, vk, err) < 0)
        return -1;
    say("kernel package: %s (%llu bytes%s, signed by %s)\n  sha256 %s\n  blake3 %s\n", vk->url,
        (unsigned long long)vk->file.size, vk->file.from_cache ? ", cached" : "", vk->key_fp,
        vk->file.sha256, vk->file.blake3);
    return 0;
}

/* Starts every variant in build order (each disk formats in the background while the
 * next variant is prepared, on the other core), then collects them. */
static int build_all(build_run *br, build_job *jobs, size_t n, const void_repo_kernel *vk,
                     const double t[3], mk_err *err)
{
    size_t ord[CLI_MAX_VARIANTS];
    build_jobs_order(jobs, n, ord);
    for (size_t x = 0; x < n; x++) {
        build_job *j = &jobs[ord[x]];
        build_job_describe(j, br, vk, t[1] - t[0], t[2] - t[1]);
        if (build_job_start(br, j, x + 1 == n, err) < 0)
            return -1;
    }
    for (size_t x = 0; x < n; x++) {
        build_job *j = &jobs[ord[x]];
        if (build_job_finish(br, j, err) < 0)
            return -1;
        say("%s: built in %.2fs\n", j->v.name, build_job_seconds(j));
    }
    return 0;
}

static int run(const cli_opts *o, mk_err *err)
{
    char libdir[PATH_MAX], vdir_buf[PATH_MAX], init_bin[PATH_MAX];
    if (paths_libdir(libdir, err) < 0 || paths_data("revm-init", init_bin, err) < 0)
        return -1;
    const char *variants_dir = o->variants_dir;
    if (!variants_dir) {
        paths_fmt(vdir_buf, sizeof vdir_buf, "%s/variants", libdir);
        variants_dir = vdir_buf;
    }
    size_t n = o->n_variants;
    build_job *jobs = calloc(n, sizeof *jobs);
    if (!jobs)
        return mk_fail(err, "out of memory");
    int rc = -1;
    size_t loaded = 0;
    for (; loaded < n; loaded++)
        if (variant_load(variants_dir, o->variants[loaded], &jobs[loaded].v, err) < 0)
            goto out;

    /* Outputs and scratch space. */
    if (scratch_create(o->out, o->work, err) < 0)
        goto out;

    /* A given kernel first: a missing module fails in seconds, before any download.
     * The repository kernel needs the rootfs (its trusted keys): after extraction. */
    kernel_tree k;
    char kwork[PATH_MAX * 2];
    paths_fmt(kwork, sizeof kwork, "%s/kernel", scratch_work_dir());
    if (mkdir(kwork, 0700) < 0) {
        mk_fail_errno(err, errno, "%s: cannot create", kwork);
        goto out;
    }
    if (o->kernel && open_kernel(o, o->kernel, kwork, jobs, n, &k, err) < 0)
        goto out;

    fetch_request rq = {
        .url = o->rootfs, .sha256 = o->sha256, .sums_url = o->sums, .sig_url = o->sig,
        .pubkey = o->pubkey, .cache_dir = o->cache, .connect_timeout_s = o->connect_timeout,
        .stall_timeout_s = o->stall_timeout, .retries = o->retries,
    };
    fetch_result fr;
    char base[PATH_MAX * 2];
    double t[3] = {0}; /* fetch started, fetched, extracted */
    if (fetch_and_extract(o, &rq, &fr, base, sizeof base, t, err) < 0)
        goto out;
    void_repo_kernel vk;
    memset(&vk, 0, sizeof vk);
    if (!o->kernel && (fetch_repo_kernel(o, &rq, base, &vk, err) < 0 ||
                       open_kernel(o, vk.file.path, kwork, jobs, n, &k, err) < 0))
        goto out;

    build_run br = {
        .o = o, .variants_dir = variants_dir, .init_bin = init_bin, .fr = &fr, .k = &k,
        .base = base, .epoch = seed_epoch(base),
    };
    if (build_all(&br, jobs, n, o->kernel ? NULL : &vk, t, err) < 0 ||
        build_jobs_commit(o->out, jobs, n, err) < 0)
        goto out;
    variant_report reps[CLI_MAX_VARIANTS];
    for (size_t i = 0; i < n; i++)
        reps[i] = jobs[i].rep;
    report_print_table(stdout, reps, n);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        build_job_free(&jobs[i], i < loaded);
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
