/* build_job: the stages of one variant's image (see build_job.h). */
#include "build_job.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "customize.h"
#include "customize_derive.h"
#include "initramfs.h"
#include "kmod_install.h"
#include "outfile.h"
#include "paths.h"
#include "progress.h"
#include "scratch.h"
#include "seed.h"

/* ---- module lists ---- */

/* The variant's rootfs modules: plain names are resolved like modprobe names, items
 * with a '/' are directory prefixes under lib/modules/VER. */
static int resolve_rootfs_modules(kmod_index *ix, const variant *v, kmod_list *out,
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
    if (nn && kmod_resolve(ix, names, nn, out, err) < 0)
        return -1;
    if (np) {
        kmod_list g = {0};
        if (kmod_glob(ix, prefixes, np, &g, err) < 0) {
            kmod_list_free(out);
            return -1;
        }
        int rc = kmod_list_merge(out, &g, err);
        kmod_list_free(&g);
        if (rc < 0) {
            kmod_list_free(out);
            return -1;
        }
    }
    return 0;
}

int build_jobs_resolve_modules(build_job *jobs, size_t n, const kernel_tree *k, const char *fs,
                               mk_err *err)
{
    kmod_index *ix = kmod_index_open(k, err);
    if (!ix)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        build_job *j = &jobs[i];
        /* The root filesystem's module goes into the initramfs even when the variant
         * file names only btrfs (--fs ext4). */
        const char *names[VARIANT_LIST_MAX + 1];
        size_t nn = 0;
        bool have_fs = false;
        for (size_t m = 0; m < j->v.initramfs_modules.n; m++) {
            names[nn++] = j->v.initramfs_modules.v[m];
            have_fs |= !strcmp(j->v.initramfs_modules.v[m], fs);
        }
        if (!have_fs)
            names[nn++] = fs;
        if (kmod_resolve(ix, names, nn, &j->initramfs_mods, err) < 0 ||
            resolve_rootfs_modules(ix, &j->v, &j->rootfs_mods, err) < 0)
            rc = -1;
    }
    kmod_index_free(ix);
    return rc;
}

void build_jobs_order(const build_job *jobs, size_t n, size_t *ord)
{
    size_t no = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if (derive_keeps_all(&jobs[i].v) == (pass == 1))
                ord[no++] = i;
}

void build_job_describe(build_job *j, const build_run *r, const void_repo_kernel *vk,
                        double fetch_s, double extract_s)
{
    variant_report *rep = &j->rep;
    rep->variant = j->v.name;
    rep->hostname = j->v.hostname;
    rep->rootfs_url = r->o->rootfs;
    rep->rootfs_sha256 = r->fr->sha256;
    rep->rootfs_blake3 = r->fr->blake3;
    rep->kernel_version = r->k->version;
    if (vk) {
        rep->kernel_pkg_name = vk->pkg.name;
        /* pkgver is "NAME-VERSION" */
        rep->kernel_pkg_version = vk->pkg.pkgver + strlen(vk->pkg.name) + (vk->pkg.name[0] ? 1 : 0);
        rep->kernel_pkg_url = vk->url;
        rep->kernel_pkg_sha256 = vk->file.sha256;
        rep->kernel_pkg_blake3 = vk->file.blake3;
        rep->kernel_pkg_key = vk->key_fp;
    }
    rep->fs = r->o->fs;
    rep->seed = j->seed;
    rep->changes = &j->changes;
    rep->seconds[STAGE_FETCH] = fetch_s;
    rep->seconds[STAGE_EXTRACT] = extract_s;
}

/* ---- the changelog entry of the module directory ---- */

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
            paths_fmt(rel, sizeof rel, "%s/%s", dirs[i], k->version);
        else
            paths_fmt(rel, sizeof rel, "%s", dirs[i]);
        changelog_add(log, rel);
        return; /* /lib is usually a link to usr/lib: one entry */
    }
}

/* ---- the stages ---- */

int build_job_start(build_run *run, build_job *j, bool consume, mk_err *err)
{
    const cli_opts *o = run->o;
    const kernel_tree *k = run->k;
    variant_report *r = &j->rep;
    const char *name = j->v.name;
    const char *work_dir = scratch_work_dir(), *staging_dir = scratch_staging_dir();
    char tree[PATH_MAX * 2], outp[PATH_MAX * 2];
    if (paths_fmt(tree, sizeof tree, "%s/%s", work_dir, name) < 0)
        return mk_fail(err, "%s: path too long", work_dir);
    double t0 = progress_now();
    if (derive_tree(run->base, tree, &j->v, consume, err) < 0)
        return -1;
    double t1 = progress_now();
    r->seconds[STAGE_DERIVE] = t1 - t0;
    customize_opts co = {
        .v = &j->v, .variants_dir = run->variants_dir, .bridge = o->bridge,
        .installs = o->installs, .n_installs = o->n_installs, .fs = o->fs, .epoch = run->epoch,
    };
    if (customize_tree(tree, &co, &j->changes, err) < 0) {
        mk_err inner = *err;
        return mk_fail(err, "variant %s: %s", name, inner.msg);
    }
    double t2 = progress_now();
    r->seconds[STAGE_CUSTOMIZE] = t2 - t1;
    unsigned mods_before = modules_dirs_present(tree);
    if (j->rootfs_mods.n && kmod_install(k, &j->rootfs_mods, tree, err) < 0)
        return -1;
    log_modules_dir(tree, k, mods_before, &j->changes);
    double t3 = progress_now();
    r->seconds[STAGE_MODULES] = t3 - t2;

    tree_measure m;
    if (tree_measure_dir(tree, &m, err) < 0)
        return -1;
    r->files = m.files;
    r->entries = m.entries;
    r->staged_bytes = m.bytes;

    paths_fmt(outp, sizeof outp, "%s/%s.initramfs", staging_dir, name);
    if (initramfs_write(k, &j->initramfs_mods, run->init_bin, outp, err) < 0)
        return -1;
    double t4 = progress_now();
    r->seconds[STAGE_INITRAMFS] = t4 - t3;

    if (seed_compute(o, run->variants_dir, &j->v, run->fr->sha256, k, j->seed, err) < 0)
        return -1;
    paths_fmt(j->tree, sizeof j->tree, "%s", tree);
    paths_fmt(j->qcow2, sizeof j->qcow2, "%s/%s.qcow2", staging_dir, name);
    paths_fmt(j->disk_work, sizeof j->disk_work, "%s/disk-%s", work_dir, name);
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

int build_job_finish(build_run *run, build_job *j, mk_err *err)
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
    double t5 = progress_now();
    r->seconds[STAGE_DISK] = t5 - j->disk_t0;
    /* The tree is no longer needed: free its space. */
    scratch_rm_tree(j->tree);
    scratch_rm_tree(j->disk_work);

    paths_fmt(outp, sizeof outp, "%s/%s.vmlinuz", staging_dir, name);
    /* Every variant boots the same kernel: the first is copied (and synced), the
     * others are hard links to it in the staging directory. */
    if (!run->first_kernel[0] || link(run->first_kernel, outp) < 0) {
        if (outfile_copy(run->k->vmlinuz, outp, err) < 0)
            return -1;
        paths_fmt(run->first_kernel, sizeof run->first_kernel, "%s", outp);
    }
    r->seconds[STAGE_KERNEL] = progress_now() - t5;
    paths_fmt(outp, sizeof outp, "%s/%s.report.json", staging_dir, name);
    return report_write(outp, r, err);
}

double build_job_seconds(const build_job *j)
{
    double total = 0;
    for (int s = STAGE_DERIVE; s < STAGE_COUNT; s++)
        total += j->rep.seconds[s];
    return total;
}

int build_jobs_commit(const char *out, const build_job *jobs, size_t n, mk_err *err)
{
    static const char *const exts[] = {"qcow2", "vmlinuz", "initramfs", "report.json"};
    const char *staging_dir = scratch_staging_dir();
    for (size_t i = 0; i < n; i++) {
        for (size_t e = 0; e < 4; e++) {
            char from[PATH_MAX * 2], to[PATH_MAX * 2];
            paths_fmt(from, sizeof from, "%s/%s.%s", staging_dir, jobs[i].v.name, exts[e]);
            paths_fmt(to, sizeof to, "%s/%s.%s", out, jobs[i].v.name, exts[e]);
            if (rename(from, to) < 0)
                return mk_fail_errno(err, errno, "%s: cannot rename into place", to);
        }
    }
    return 0;
}

void build_job_free(build_job *j, bool variant_loaded)
{
    if (j->disk)
        disk_build_abort(j->disk);
    j->disk = NULL;
    if (variant_loaded)
        variant_free(&j->v);
    kmod_list_free(&j->initramfs_mods);
    kmod_list_free(&j->rootfs_mods);
    changelog_free(&j->changes);
}
