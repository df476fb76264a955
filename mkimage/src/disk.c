#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "disk_exec.h"
#include "disk_probe.h"
#include "disk_qcow2.h"
#include "disk_tree.h"
#include "outfile.h"
#include "paths.h"
#include "progress.h"

#define MIB (1024.0 * 1024.0)
/* Below this mkfs.btrfs refuses (single profiles need ~110 MiB) and ext4 wastes most. */
#define MIN_SIZE (256ull << 20)
#define DEFAULT_SHM "/dev/shm"

struct disk_job {
    const disk_spec *spec;
    bool btrfs;
    char tree[PATH_MAX];
    char repro_so[PATH_MAX];
    disk_tree_info info;
    time_t epoch;
    time_t run_start; /* mtimes at or after this are clamped to epoch (0: none) */
    char fs_uuid[37], hash_seed[37];
    uint8_t fs_uuid_bin[16];
    int raw_fd;
    char raw_dir[PATH_MAX];
    char raw_path[64]; /* /dev/fd/N: the tools reach the unnamed raw image through it */
    mk_outfile out;
    progress bar;
    disk_child mkfs;
    const char *mkfs_name;
};
typedef struct disk_job build;

static uint64_t dir_free_bytes(const char *dir)
{
    struct statvfs vfs;
    if (statvfs(dir, &vfs) < 0)
        return 0;
    return (uint64_t)vfs.f_bavail * vfs.f_frsize;
}

static void parent_dir(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, size, ".");
    else if (slash == path)
        snprintf(out, size, "/");
    else
        snprintf(out, size, "%.*s", (int)(slash - path), path);
}

/* mkimage-repro.so lives in <exe dir>/../lib/revm/ (paths.h); MKIMAGE_REPRO_SO
 * overrides, and $BUILD/lib/revm serves the unit tests, whose executable is elsewhere. */
static int find_repro_so(char out[PATH_MAX], mk_err *err)
{
    const char *env = getenv("MKIMAGE_REPRO_SO");
    if (env && *env) {
        if (!realpath(env, out) || access(out, R_OK) != 0)
            return mk_fail_errno(err, errno, "MKIMAGE_REPRO_SO=%s", env);
        return 0;
    }
    if (paths_data("mkimage-repro.so", out, err) == 0)
        return 0;
    const char *build_dir = getenv("BUILD");
    if (build_dir && *build_dir) {
        char candidate[PATH_MAX];
        snprintf(candidate, sizeof candidate, "%.4000s/lib/revm/mkimage-repro.so", build_dir);
        if (realpath(candidate, out) && access(out, R_OK) == 0)
            return 0;
    }
    return -1; /* err from paths_data: "mkimage-repro.so: not found in LIBDIR" */
}

/* When this process started, in seconds since the epoch (0 if unknown). Anything
 * in the tree modified since then was written by this run (customization, kernel
 * modules, directories that gained entries), not taken from the inputs; its mtime
 * would differ on every run, so the image gets the image time there instead. */
static time_t process_start(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may contain spaces */
    unsigned long long start_ticks = 0;
    /* After ")": state is field 3, starttime field 22. */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                           "%*d %*d %*d %llu", &start_ticks) != 1)
        return 0;
    f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    long long btime = 0;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    fclose(f);
    long ticks = sysconf(_SC_CLK_TCK);
    if (btime <= 0 || ticks <= 0)
        return 0;
    /* Two seconds early: btime is whole seconds and may lag the wall clock a
     * little; an input file this new is rare, a missed run-made file is not. */
    return (time_t)(btime + (long long)(start_ticks / (unsigned long long)ticks) - 2);
}

/* The image time: SOURCE_DATE_EPOCH when given (the reproducible-builds
 * convention), else the newest input mtime in the tree, so it is a function of the
 * inputs and never earlier than anything taken from them. */
static time_t choose_epoch(const disk_tree_info *info)
{
    const char *env = getenv("SOURCE_DATE_EPOCH");
    if (env && *env) {
        char *end;
        errno = 0;
        long long v = strtoll(env, &end, 10);
        if (!errno && !*end && v > 0)
            return (time_t)v;
    }
    return info->newest_mtime > 0 ? info->newest_mtime : 1;
}

static int open_raw(build *b, mk_err *err)
{
    const disk_spec *s = b->spec;
    const char *forced = getenv("MKIMAGE_RAW_DIR");
    char work[PATH_MAX];
    if (s->work_dir && *s->work_dir)
        snprintf(work, sizeof work, "%s", s->work_dir);
    else
        parent_dir(s->out_qcow2, work, sizeof work);
    /* The raw image is written once by mkfs and read once for the qcow2: on tmpfs
     * that is memory traffic only. Leave a quarter of tmpfs and 256 MiB to everyone else. */
    uint64_t need = b->info.estimate;
    uint64_t shm_free = dir_free_bytes(DEFAULT_SHM);
    if (forced && *forced)
        snprintf(b->raw_dir, sizeof b->raw_dir, "%s", forced);
    else if (shm_free > need + need / 4 + (256ull << 20))
        snprintf(b->raw_dir, sizeof b->raw_dir, "%s", DEFAULT_SHM);
    else
        snprintf(b->raw_dir, sizeof b->raw_dir, "%s", work);

    uint64_t avail = dir_free_bytes(b->raw_dir);
    if (avail < need)
        return mk_fail(err, "%s: not enough space for the raw image: needs about %.0f MiB, "
                            "%.0f MiB free",
                       b->raw_dir, (double)need / MIB, (double)avail / MIB);
    /* Unnamed: nothing to clean up after any failure, signal or SIGKILL. */
    b->raw_fd = open(b->raw_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (b->raw_fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        char tmpl[PATH_MAX];
        snprintf(tmpl, sizeof tmpl, "%.4000s/.mkimage-raw-XXXXXX", b->raw_dir);
        b->raw_fd = mkostemp(tmpl, O_CLOEXEC);
        if (b->raw_fd >= 0)
            unlink(tmpl);
    }
    if (b->raw_fd < 0)
        return mk_fail_errno(err, errno, "%s: cannot create the raw image", b->raw_dir);
    if (ftruncate(b->raw_fd, (off_t)s->size_bytes) < 0)
        return mk_fail_errno(err, errno, "%s: cannot size the raw image", b->raw_dir);
    snprintf(b->raw_path, sizeof b->raw_path, "/dev/fd/%d", b->raw_fd);
    return 0;
}

static uint64_t raw_allocated(const build *b)
{
    struct stat st;
    return fstat(b->raw_fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

static void tick_mkfs(void *ctx)
{
    build *b = ctx;
    progress_update(&b->bar, raw_allocated(b));
}

static void tick_convert(void *ctx, uint64_t done)
{
    build *b = ctx;
    progress_update(&b->bar, done);
}

/* Prefixes err (a tool's own "PROGRAM: reason") with the image being built. */
static int fail_in(build *b, mk_err *err)
{
    char inner[sizeof err->msg];
    snprintf(inner, sizeof inner, "%s", err->msg);
    return mk_fail(err, "%s: %s", b->spec->out_qcow2, inner);
}

static bool debug_checks(void)
{
    const char *v = getenv("MKIMAGE_FSCK");
    return v && *v && strcmp(v, "0") != 0;
}

/* Starts mkfs on the raw image; finish_mkfs waits for it. */
static int start_mkfs(build *b, mk_err *err)
{
    const disk_spec *s = b->spec;
    char seed_env[1200], epoch_env[64], tree_env[PATH_MAX + 32], preload_env[2 * PATH_MAX + 32],
        fake_time_env[64], clamp_env[64], hash_opt[128];
    const char *old_preload = getenv("LD_PRELOAD");
    /* Ours first: it calls through to fakeroot's (owners, device nodes) via RTLD_NEXT. */
    snprintf(preload_env, sizeof preload_env, "LD_PRELOAD=%s%s%.*s", b->repro_so,
             old_preload && *old_preload ? ":" : "", PATH_MAX,
             old_preload ? old_preload : "");
    snprintf(seed_env, sizeof seed_env, "REVM_REPRO_SEED=%.512s/%s/%.255s", s->seed ? s->seed : "",
             b->btrfs ? "btrfs" : "ext4", s->label ? s->label : "");
    snprintf(epoch_env, sizeof epoch_env, "SOURCE_DATE_EPOCH=%lld", (long long)b->epoch);
    snprintf(fake_time_env, sizeof fake_time_env, "E2FSPROGS_FAKE_TIME=%lld", (long long)b->epoch);
    snprintf(tree_env, sizeof tree_env, "REVM_REPRO_TREE=%s", b->tree);
    snprintf(clamp_env, sizeof clamp_env, "REVM_REPRO_CLAMP_AFTER=%lld", (long long)b->run_start);
    /* Batched I/O is for mkfs.btrfs only: its access pattern is known (repro_io.c). */
    const char *env[] = {preload_env,   seed_env,  epoch_env,
                         tree_env,      fake_time_env, clamp_env,
                         b->btrfs ? "REVM_REPRO_FAST_IO=1" : "REVM_REPRO_FAST_IO=0",
                         "LC_ALL=C",    NULL};
    const char *label = s->label && *s->label ? s->label : "revm";

    const char *argv[24];
    int n = 0;
    if (b->btrfs) {
        /* -m single: the VM disk sits on host storage, where a second metadata copy
         * in the same file protects against nothing and costs space and time.
         * -K: no discard of a regular file. */
        const char *a[] = {"mkfs.btrfs", "-q", "-f", "-K", "-m", "single", "-d", "single",
                           "-L", label, "-U", b->fs_uuid, "--rootdir", b->tree, b->raw_path};
        for (size_t i = 0; i < sizeof a / sizeof *a; i++)
            argv[n++] = a[i];
    } else {
        /* hash_seed fixes the directory hashing that mke2fs would randomize;
         * root_owner keeps / at 0:0 whoever runs mkimage. */
        snprintf(hash_opt, sizeof hash_opt, "hash_seed=%s,nodiscard,root_owner=0:0", b->hash_seed);
        const char *a[] = {"mke2fs", "-q", "-F", "-t", "ext4", "-L", label, "-U", b->fs_uuid,
                           "-E", hash_opt, "-d", b->tree, b->raw_path};
        for (size_t i = 0; i < sizeof a / sizeof *a; i++)
            argv[n++] = a[i];
    }
    argv[n] = NULL;

    b->mkfs_name = argv[0];
    disk_command cmd = {.argv = argv, .env = env, .keep_fd = b->raw_fd, .tick = tick_mkfs,
                        .tick_ctx = b};
    if (disk_spawn(&cmd, &b->mkfs, err) < 0)
        return fail_in(b, err);
    return 0;
}

/* Waits for mkfs, then checks its superblock (and more under MKIMAGE_FSCK). */
static int finish_mkfs(build *b, mk_err *err)
{
    const disk_spec *s = b->spec;
    progress_begin(&b->bar, b->btrfs ? "mkfs.btrfs" : "mkfs.ext4", b->info.estimate);
    int r = disk_wait(&b->mkfs, err);
    progress_end(&b->bar);
    if (r < 0)
        return fail_in(b, err);

    uint8_t sb[DISK_SB_READ];
    uint64_t off = b->btrfs ? DISK_BTRFS_SB_OFFSET : DISK_EXT4_SB_OFFSET;
    if (disk_read_at(b->raw_fd, "raw image", off, sb, sizeof sb, err) < 0)
        return fail_in(b, err);
    bool ok = b->btrfs ? disk_btrfs_sb_ok(sb, sizeof sb, b->fs_uuid_bin)
                       : disk_ext4_sb_ok(sb, sizeof sb, b->fs_uuid_bin);
    if (!ok)
        return mk_fail(err, "%s: %s wrote no valid superblock", s->out_qcow2, b->mkfs_name);

    if (debug_checks()) {
        const char *check_btrfs[] = {"btrfs", "check", "--readonly", b->raw_path, NULL};
        const char *check_ext4[] = {"e2fsck", "-f", "-n", b->raw_path, NULL};
        disk_command check = {.argv = b->btrfs ? check_btrfs : check_ext4, .keep_fd = b->raw_fd};
        if (disk_run(&check, err) < 0)
            return fail_in(b, err);
    }
    return 0;
}

/* qcow2 straight from the raw image (disk_qcow2.h): one sequential write that also
 * yields the SHA-256, no qemu-img process and no second read to checksum. It is
 * uncompressed on purpose: writing it is a copy, and the guest reads clusters
 * without a decompression step at boot (compressed clusters would also turn into
 * fresh allocations on their first rewrite). */
static int write_qcow2(build *b, disk_stats *st, mk_err *err)
{
    const disk_spec *s = b->spec;
    char out_dir[PATH_MAX];
    parent_dir(s->out_qcow2, out_dir, sizeof out_dir);
    /* The qcow2 holds the raw image's non-zero clusters plus about 8 bytes of
     * mapping per 64 KiB: refuse now rather than fail half-way. */
    uint64_t used = raw_allocated(b);
    uint64_t need = used + s->size_bytes / 4096 + (2ull << 20);
    uint64_t avail = dir_free_bytes(out_dir);
    if (avail < need)
        return mk_fail(err, "%s: not enough space in %s: needs about %.0f MiB, %.0f MiB free",
                       s->out_qcow2, out_dir, (double)need / MIB, (double)avail / MIB);
    if (outfile_reserve(&b->out, s->out_qcow2, err) < 0)
        return -1;
    /* Our own descriptor, not outfile_open's: outfile_commit would fsync it. An
     * image rebuilt from its inputs needs no more durability than `qemu-img
     * convert` gives (no fsync either), and the fsync costs seconds on a busy disk. */
    int fd = open(b->out.tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return mk_fail_errno(err, errno, "%s: cannot create", b->out.tmp_path);
    progress_begin(&b->bar, "qcow2", used);
    int r = disk_qcow2_write(b->raw_fd, s->size_bytes, fd, s->out_qcow2, st->sha256,
                             &st->qcow2_bytes, tick_convert, b, err);
    progress_end(&b->bar);
    if (close(fd) < 0 && r == 0)
        r = mk_fail_errno(err, errno, "%s: cannot write", s->out_qcow2);
    if (r < 0)
        return -1;
    if (debug_checks()) {
        const char *argv[] = {"qemu-img", "check", "-q", "-f", "qcow2", b->out.tmp_path, NULL};
        disk_command check = {.argv = argv, .keep_fd = -1};
        if (disk_run(&check, err) < 0)
            return fail_in(b, err);
    }
    return 0;
}

/* The written file starts with a qcow2 header of the right size; then rename. */
static int finish(build *b, mk_err *err)
{
    int fd = open(b->out.tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mk_fail_errno(err, errno, "%s: cannot open", b->out.tmp_path);
    uint8_t hdr[512];
    int r = disk_read_at(fd, b->out.tmp_path, 0, hdr, sizeof hdr, err);
    close(fd);
    if (r < 0)
        return -1;
    if (!disk_qcow2_header_ok(hdr, sizeof hdr, b->spec->size_bytes))
        return mk_fail(err, "%s: no valid qcow2 header written", b->spec->out_qcow2);
    return outfile_commit(&b->out, err);
}

static int check_spec(const disk_spec *s, build *b, mk_err *err)
{
    if (!s || !s->out_qcow2 || !*s->out_qcow2)
        return mk_fail(err, "disk image: no output path");
    if (!s->tree || !*s->tree)
        return mk_fail(err, "%s: no staged tree", s->out_qcow2);
    if (s->fs && strcmp(s->fs, "btrfs") != 0 && strcmp(s->fs, "ext4") != 0)
        return mk_fail(err, "%s: unknown filesystem \"%s\" (btrfs or ext4)", s->out_qcow2, s->fs);
    b->btrfs = !s->fs || strcmp(s->fs, "btrfs") == 0;
    if (s->size_bytes < MIN_SIZE || s->size_bytes % 65536)
        return mk_fail(err, "%s: disk size %" PRIu64 " must be a multiple of 64 KiB and at least "
                            "256 MiB",
                       s->out_qcow2, s->size_bytes);
    size_t label_max = b->btrfs ? 255 : 16;
    if (s->label && strlen(s->label) > label_max)
        return mk_fail(err, "%s: label \"%s\" longer than %zu bytes", s->out_qcow2, s->label,
                       label_max);
    struct stat st;
    char out_dir[PATH_MAX];
    parent_dir(s->out_qcow2, out_dir, sizeof out_dir);
    if (stat(out_dir, &st) < 0)
        return mk_fail_errno(err, errno, "%s", out_dir);
    if (!S_ISDIR(st.st_mode))
        return mk_fail(err, "%s: not a directory", out_dir);
    if (stat(s->tree, &st) < 0)
        return mk_fail_errno(err, errno, "%s", s->tree);
    if (!S_ISDIR(st.st_mode))
        return mk_fail(err, "%s: not a directory", s->tree);
    if (!realpath(s->tree, b->tree))
        return mk_fail_errno(err, errno, "%s", s->tree);
    return 0;
}

int disk_build_start(const disk_spec *spec, disk_job **job, mk_err *err)
{
    *job = NULL;
    build *b = calloc(1, sizeof *b);
    if (!b)
        return mk_fail(err, "disk image: out of memory");
    b->spec = spec;
    b->raw_fd = -1;
    b->out.fd = -1; /* nothing reserved yet: outfile_abort must not close fd 0 */
    b->mkfs.pid = -1;
    b->mkfs.err_fd = -1;
    int r = check_spec(spec, b, err);
    if (r == 0)
        r = find_repro_so(b->repro_so, err);
    b->run_start = process_start();
    if (r == 0 && disk_tree_scan(b->tree, b->run_start, &b->info, err) < 0)
        r = -1;
    if (r == 0) {
        /* The file data alone must fit where the qcow2 goes: fail before mkfs. */
        char out_dir[PATH_MAX];
        parent_dir(spec->out_qcow2, out_dir, sizeof out_dir);
        uint64_t avail = dir_free_bytes(out_dir);
        if (avail < b->info.data_bytes)
            r = mk_fail(err, "%s: not enough space in %s: needs about %.0f MiB, %.0f MiB free",
                        spec->out_qcow2, out_dir, (double)b->info.data_bytes / MIB,
                        (double)avail / MIB);
    }
    if (r == 0) {
        b->epoch = choose_epoch(&b->info);
        disk_derive_uuid("fs-uuid", spec->seed, spec->label, b->fs_uuid);
        disk_derive_uuid("hash-seed", spec->seed, spec->label, b->hash_seed);
        disk_parse_uuid(b->fs_uuid, b->fs_uuid_bin);
        r = open_raw(b, err);
    }
    if (r == 0)
        r = start_mkfs(b, err);
    if (r < 0) {
        disk_build_abort(b);
        return -1;
    }
    *job = b;
    return 0;
}

int disk_build_finish(disk_job *b, disk_stats *st, mk_err *err)
{
    int r = finish_mkfs(b, err);
    if (r == 0)
        r = write_qcow2(b, st, err);
    if (b->raw_fd >= 0)
        close(b->raw_fd); /* the raw image's space is freed here */
    b->raw_fd = -1;
    if (r == 0)
        r = finish(b, err);
    if (r == 0)
        b->out.tmp_path[0] = '\0'; /* committed: nothing for abort to remove */
    disk_build_abort(b);
    return r;
}

void disk_build_abort(disk_job *b)
{
    if (!b)
        return;
    disk_kill(&b->mkfs);
    if (b->raw_fd >= 0)
        close(b->raw_fd);
    outfile_abort(&b->out);
    free(b);
}

int disk_build(const disk_spec *spec, disk_stats *st, mk_err *err)
{
    disk_job *job;
    if (disk_build_start(spec, &job, err) < 0)
        return -1;
    return disk_build_finish(job, st, err);
}
