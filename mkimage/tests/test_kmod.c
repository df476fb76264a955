/* Module lookup and dependency resolution: the metadata parsers on crafted input,
 * resolution on the Debian test kernel (no modules.dep: dependencies come from
 * .modinfo) and on small synthetic trees (modules.dep, compressed modules, cycles),
 * and kmod_install into usr-merged root filesystems. Each test opens the index of
 * the tree it resolves against (kmod_index_open): there is no shared cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kernel.h"
#include "kmod_install.h"
#include "kmod_read.h"
#include "kmod_resolve.h"
#include "kmod_sig.h"
#include "modinfo.h"
#include "test_support.h"

static char tmpdir[512], fixture[600];
static kernel_tree deb; /* the fixture kernel, when present */
static kmod_index *debix; /* its index */
static int have_fixture;

static int setup(void **state)
{
    (void)state;
    if (ts_scratch_dir(tmpdir, sizeof tmpdir, "test_kmod") < 0)
        return -1;
    snprintf(fixture, sizeof fixture, "%s/fixtures/kernel/tree", ts_build_dir());
    mk_err err;
    have_fixture = access(fixture, F_OK) == 0 && kernel_open(fixture, tmpdir, &deb, &err) == 0 &&
                   (debix = kmod_index_open(&deb, &err)) != NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kmod_index_free(debix);
    debix = NULL;
    return ts_remove_tree(tmpdir);
}

static void need_fixture(void)
{
    if (!have_fixture) {
        fprintf(stderr, "  (fixture kernel missing: skipped)\n");
        skip();
    }
}

static ssize_t index_of(const kmod_list *l, const char *suffix)
{
    size_t sl = strlen(suffix);
    for (size_t i = 0; i < l->n; i++) {
        size_t pl = strlen(l->paths[i]);
        if (pl >= sl && strcmp(l->paths[i] + pl - sl, suffix) == 0 &&
            (pl == sl || l->paths[i][pl - sl - 1] == '/'))
            return (ssize_t)i;
    }
    return -1;
}

static void assert_no_dups(const kmod_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = i + 1; j < l->n; j++)
            assert_string_not_equal(l->paths[i], l->paths[j]);
}

/* ---------- parsers ---------- */

struct collect {
    char buf[1024];
};

static int collect_kv(const char *k, size_t kl, const char *v, size_t vl, void *c)
{
    struct collect *col = c;
    size_t n = strlen(col->buf);
    snprintf(col->buf + n, sizeof col->buf - n, "[%.*s=%.*s]", (int)kl, k, (int)vl, v);
    return 0;
}

static int collect_name(const char *p, size_t len, void *c)
{
    struct collect *col = c;
    size_t n = strlen(col->buf);
    snprintf(col->buf + n, sizeof col->buf - n, "<%.*s>", (int)len, p);
    return 0;
}

static int collect_soft(const char *p, size_t len, bool post, void *c)
{
    struct collect *col = c;
    size_t n = strlen(col->buf);
    snprintf(col->buf + n, sizeof col->buf - n, "%s:%.*s ", post ? "post" : "pre", (int)len, p);
    return 0;
}

static int collect_dep(const char *p, size_t pl, const char *d, size_t dl, void *c)
{
    struct collect *col = c;
    size_t n = strlen(col->buf);
    snprintf(col->buf + n, sizeof col->buf - n, "{%.*s|%.*s}", (int)pl, p, (int)dl, d);
    return 0;
}

static int collect_alias(const char *a, size_t al, const char *m, size_t ml, void *c)
{
    struct collect *col = c;
    size_t n = strlen(col->buf);
    snprintf(col->buf + n, sizeof col->buf - n, "%.*s->%.*s;", (int)al, a, (int)ml, m);
    return 0;
}

static void test_modinfo_strings(void **state)
{
    (void)state;
    static const char sec[] = "license=GPL\0\0\0depends=virtio,virtio_ring\0junk\0"
                              "softdep=pre: crc32c  post: foo\0name=x"; /* unterminated end */
    struct collect c = {""};
    modinfo_each(sec, sizeof sec - 1, collect_kv, &c);
    assert_string_equal(c.buf, "[license=GPL][depends=virtio,virtio_ring]"
                               "[softdep=pre: crc32c  post: foo][name=x]");
    struct collect s = {""};
    modinfo_split("a,b,, c", 7, collect_name, &s);
    assert_string_equal(s.buf, "<a><b><c>");
    struct collect sd = {""};
    const char *soft = "x pre: a b post: c pre: d";
    modinfo_softdeps(soft, strlen(soft), collect_soft, &sd);
    assert_string_equal(sd.buf, "pre:a pre:b post:c pre:d ");
}

static void test_moddep_and_alias_files(void **state)
{
    (void)state;
    const char *dep = "kernel/a.ko: kernel/b.ko kernel/c.ko.xz\n# comment: x\nnocolon\n"
                      ": empty\nkernel/b.ko:\nkernel/c.ko.xz:";
    struct collect c = {""};
    moddep_parse(dep, strlen(dep), collect_dep, &c);
    assert_string_equal(c.buf, "{kernel/a.ko| kernel/b.ko kernel/c.ko.xz}{kernel/b.ko|}"
                               "{kernel/c.ko.xz|}");
    const char *al = "# Aliases\nalias crypto-crc32c crc32c_generic\nalias pci:v*d* virtio_pci\n"
                     "alias  fs-btrfs\tbtrfs\r\nalias broken\nblah x y\n";
    struct collect a = {""};
    modalias_parse(al, strlen(al), collect_alias, &a);
    assert_string_equal(a.buf, "crypto-crc32c->crc32c_generic;fs-btrfs->btrfs;");
    const char *bi = "kernel/fs/ext4/ext4.ko\nkernel/lib/crc-t10dif.ko\nmodules.order\n\n"
                     "kernel/x/last.ko";
    struct collect b = {""};
    modbuiltin_parse(bi, strlen(bi), collect_name, &b);
    assert_string_equal(b.buf, "<ext4><crc_t10dif><last>");
    char name[64];
    assert_int_equal(modname_from_path("kernel/x/crc32c-intel.ko.zst", 28, name, sizeof name), 12);
    assert_string_equal(name, "crc32c_intel");
    assert_int_equal(modname_from_path("kernel/x/readme.txt", 19, name, sizeof name), 0);
    assert_int_equal(modname_from_path(".ko", 3, name, sizeof name), 0);
    assert_int_equal(modname_from_path("averyveryverylongname.ko", 24, name, 8), 0);
}

static void test_modinfo_section_real_and_truncated(void **state)
{
    (void)state;
    need_fixture();
    unsigned char *data;
    size_t len;
    mk_err err = {{0}};
    assert_int_equal(kmod_read(&deb, "kernel/drivers/block/virtio_blk.ko", &data, &len, &err), 0);
    const char *sec;
    size_t sl;
    assert_int_equal(modinfo_section(data, len, &sec, &sl), 0);
    struct collect c = {""};
    modinfo_each(sec, sl, collect_kv, &c);
    assert_non_null(strstr(c.buf, "[depends=virtio,virtio_ring]"));
    /* every truncation either parses or is refused, never read out of bounds (ASan) */
    for (size_t cut = 0; cut < len; cut += len / 97 + 1) {
        unsigned char *copy = malloc(cut + 1);
        memcpy(copy, data, cut);
        if (modinfo_section(copy, cut, &sec, &sl) == 0)
            assert_true(sec + sl <= (const char *)copy + cut);
        free(copy);
    }
    assert_int_equal(modinfo_section("\x7f" "ELF", 4, &sec, &sl), -1);
    free(data);
}

/* ---------- resolution on the Debian kernel ---------- */

static void test_resolve_virtio_blk(void **state)
{
    (void)state;
    need_fixture();
    const char *names[] = {"virtio-blk"}; /* '-' and '_' are the same */
    kmod_list l;
    mk_err err = {{0}};
    assert_int_equal(kmod_resolve(debix, names, 1, &l, &err), 0);
    ssize_t v = index_of(&l, "virtio.ko"), r = index_of(&l, "virtio_ring.ko"),
            b = index_of(&l, "virtio_blk.ko");
    assert_true(v >= 0 && r >= 0 && b >= 0);
    assert_true(v < b && r < b);
    assert_int_equal(b, (ssize_t)l.n - 1);
    assert_int_equal(l.n, 3);
    assert_no_dups(&l);
    kmod_list_free(&l);
}

static void test_resolve_btrfs_softdeps(void **state)
{
    (void)state;
    need_fixture();
    const char *names[] = {"virtio_pci", "virtio_blk", "btrfs", "virtio_blk"};
    kmod_list l;
    mk_err err = {{0}};
    assert_int_equal(kmod_resolve(debix, names, 4, &l, &err), 0);
    assert_no_dups(&l);
    ssize_t btrfs = index_of(&l, "btrfs.ko"), lib = index_of(&l, "libcrc32c.ko"),
            gen = index_of(&l, "crc32c_generic.ko"), raid = index_of(&l, "raid6_pq.ko"),
            xx = index_of(&l, "xxhash_generic.ko");
    assert_true(btrfs > 0 && lib >= 0 && gen >= 0 && raid >= 0 && xx >= 0);
    /* libcrc32c needs a crc32c implementation at init time ("softdep=pre: crc32c") */
    assert_true(gen < lib && lib < btrfs && raid < btrfs && xx < btrfs);
    /* every module comes after everything it depends on: check against kmod_deps_of */
    for (size_t i = 0; i < l.n; i++) {
        kmod_list deps;
        assert_int_equal(kmod_deps_of(debix, l.paths[i], &deps, &err), 0);
        for (size_t j = 0; j < deps.n; j++) {
            ssize_t at = -1;
            for (size_t k = 0; k < l.n; k++)
                if (strcmp(l.paths[k], deps.paths[j]) == 0)
                    at = (ssize_t)k;
            assert_true(at >= 0 && at < (ssize_t)i);
        }
        kmod_list_free(&deps);
    }
    kmod_list_free(&l);
}

static void test_resolve_missing_and_builtin(void **state)
{
    (void)state;
    need_fixture();
    const char *names[] = {"virtio_blk", "no_such_module"};
    kmod_list l;
    mk_err err = {{0}};
    assert_int_equal(kmod_resolve(debix, names, 2, &l, &err), -1);
    char want[256];
    snprintf(want, sizeof want, "kernel module no_such_module: not found in %s", deb.version);
    assert_string_equal(err.msg, want);
    assert_int_equal(l.n, 0);
    assert_null(l.paths);
    /* built into this kernel: satisfied without a file */
    const char *builtin[] = {"sha256_generic"};
    assert_int_equal(kmod_resolve(debix, builtin, 1, &l, &err), 0);
    assert_int_equal(l.n, 0);
    kmod_list_free(&l);
    /* an alias, like modprobe accepts */
    const char *alias[] = {"fs-btrfs"};
    assert_int_equal(kmod_resolve(debix, alias, 1, &l, &err), 0);
    assert_true(index_of(&l, "btrfs.ko") == (ssize_t)l.n - 1);
    kmod_list_free(&l);
}

static void test_glob(void **state)
{
    (void)state;
    need_fixture();
    const char *prefixes[] = {"kernel/drivers/block/virtio"};
    kmod_list l;
    mk_err err = {{0}};
    assert_int_equal(kmod_glob(debix, prefixes, 1, &l, &err), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(index_of(&l, "virtio_blk.ko"), 2);
    kmod_list_free(&l);
    const char *nothing[] = {"kernel/drivers/nonexistent/"};
    assert_int_equal(kmod_glob(debix, nothing, 1, &l, &err), -1);
    assert_non_null(strstr(err.msg, "kernel/drivers/nonexistent/"));
}

/* ---------- synthetic trees ---------- */

static void make_tree(const char *name, kernel_tree *k)
{
    memset(k, 0, sizeof *k);
    assert_true(snprintf(k->root, sizeof k->root, "%s/%s", tmpdir, name) < 1024);
    snprintf(k->version, sizeof k->version, "1.0");
    assert_true(snprintf(k->modules_dir, sizeof k->modules_dir, "%s/lib/modules/1.0", k->root) <
                (int)sizeof k->modules_dir);
    ts_sh("mkdir -p '%s/kernel/x' '%s/boot' && touch '%s/boot/vmlinuz-1.0'", k->modules_dir,
       k->root, k->root);
}

static void test_modules_dep_file(void **state)
{
    (void)state;
    kernel_tree k;
    make_tree("depfile", &k);
    /* not ELF: all dependency knowledge comes from modules.dep */
    ts_sh("cd '%s' && for m in a b c d; do echo $m > kernel/x/$m.ko; done && "
       "printf 'kernel/x/a.ko: kernel/x/b.ko kernel/x/c.ko\\nkernel/x/b.ko: kernel/x/c.ko\\n"
       "kernel/x/c.ko:\\nkernel/x/d.ko: kernel/x/missing.ko\\n' > modules.dep",
       k.modules_dir);
    const char *names[] = {"a"};
    kmod_list l;
    mk_err err = {{0}};
    kmod_index *ix = kmod_index_open(&k, &err);
    assert_non_null(ix);
    assert_int_equal(kmod_resolve(ix, names, 1, &l, &err), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.paths[0], "kernel/x/c.ko");
    assert_string_equal(l.paths[1], "kernel/x/b.ko");
    assert_string_equal(l.paths[2], "kernel/x/a.ko");
    kmod_list_free(&l);
    const char *d[] = {"d"};
    assert_int_equal(kmod_resolve(ix, d, 1, &l, &err), -1);
    assert_string_equal(err.msg, "kernel module missing (needed by d): not found in 1.0");
    kmod_index_free(ix);
}

static void test_cycle(void **state)
{
    (void)state;
    kernel_tree k;
    make_tree("cycle", &k);
    ts_sh("cd '%s' && echo > kernel/x/a.ko && echo > kernel/x/b.ko && "
       "printf 'kernel/x/a.ko: kernel/x/b.ko\\nkernel/x/b.ko: kernel/x/a.ko\\n' > modules.dep",
       k.modules_dir);
    const char *names[] = {"a"};
    kmod_list l;
    mk_err err = {{0}};
    kmod_index *ix = kmod_index_open(&k, &err);
    assert_non_null(ix);
    assert_int_equal(kmod_resolve(ix, names, 1, &l, &err), -1);
    assert_non_null(strstr(err.msg, "circular dependency"));
    kmod_index_free(ix);
}

/* Two indexes open at once, each answering for its own tree (there used to be one
 * hidden cached index, rebuilt whenever another tree was asked about). */
static void test_two_indexes(void **state)
{
    (void)state;
    kernel_tree k1, k2;
    make_tree("two1", &k1);
    make_tree("two2", &k2);
    ts_sh("cd '%s' && echo > kernel/x/a.ko && echo > kernel/x/b.ko && "
          "printf 'kernel/x/a.ko: kernel/x/b.ko\\nkernel/x/b.ko:\\n' > modules.dep",
          k1.modules_dir);
    ts_sh("cd '%s' && echo > kernel/x/a.ko && printf 'kernel/x/a.ko:\\n' > modules.dep",
          k2.modules_dir);
    mk_err err = {{0}};
    kmod_index *i1 = kmod_index_open(&k1, &err), *i2 = kmod_index_open(&k2, &err);
    assert_non_null(i1);
    assert_non_null(i2);
    const char *names[] = {"a"};
    kmod_list l;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(kmod_resolve(i1, names, 1, &l, &err), 0);
        assert_int_equal(l.n, 2);
        kmod_list_free(&l);
        assert_int_equal(kmod_resolve(i2, names, 1, &l, &err), 0);
        assert_int_equal(l.n, 1);
        kmod_list_free(&l);
    }
    kmod_index_free(i1);
    kmod_index_free(i2);
}

static void test_compressed_modules(void **state)
{
    (void)state;
    need_fixture();
    if (system("command -v xz >/dev/null && command -v zstd >/dev/null && command -v gzip "
               ">/dev/null") != 0)
        skip();
    kernel_tree k;
    make_tree("compressed", &k);
    const char *src = deb.modules_dir;
    /* Void ships .ko.zst, others .ko.xz or .ko.gz; no modules.dep: .modinfo is read
     * through the decompressor. */
    ts_sh("cd '%s' && xz -c '%s/kernel/drivers/virtio/virtio.ko' > kernel/x/virtio.ko.xz && "
       "zstd -q -c '%s/kernel/drivers/virtio/virtio_ring.ko' > kernel/x/virtio_ring.ko.zst && "
       "gzip -c '%s/kernel/drivers/block/virtio_blk.ko' > kernel/x/virtio_blk.ko.gz",
       k.modules_dir, src, src, src);
    const char *names[] = {"virtio_blk"};
    kmod_list l;
    mk_err err = {{0}};
    kmod_index *ix = kmod_index_open(&k, &err);
    assert_non_null(ix);
    assert_int_equal(kmod_resolve(ix, names, 1, &l, &err), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.paths[2], "kernel/x/virtio_blk.ko.gz");
    /* decompressed bytes are the original module */
    unsigned char *a, *b;
    size_t al, bl;
    assert_int_equal(kmod_read(&k, "kernel/x/virtio_ring.ko.zst", &a, &al, &err), 0);
    assert_int_equal(kmod_read(&deb, "kernel/drivers/virtio/virtio_ring.ko", &b, &bl, &err), 0);
    assert_int_equal(al, bl);
    assert_memory_equal(a, b, al);
    free(a);
    free(b);
    char plain[256];
    kmod_plain_path("kernel/x/virtio_ring.ko.zst", plain, sizeof plain);
    assert_string_equal(plain, "kernel/x/virtio_ring.ko");
    /* a corrupt compressed module is an error naming it */
    ts_sh("printf 'garbage' | xz -c | head -c 20 > '%s/kernel/x/bad.ko.xz'", k.modules_dir);
    assert_int_equal(kmod_read(&k, "kernel/x/bad.ko.xz", &a, &al, &err), -1);
    assert_non_null(strstr(err.msg, "bad.ko.xz"));
    kmod_list_free(&l);
    kmod_index_free(ix);
}

/* ---------- kmod_install ---------- */

static void check_install(const char *rootname, const char *link_target)
{
    char root[700];
    snprintf(root, sizeof root, "%s/%s", tmpdir, rootname);
    ts_sh("mkdir -p '%s/usr/lib' && ln -s '%s' '%s/lib'", root, link_target, root);
    const char *names[] = {"virtio_blk"};
    kmod_list l;
    mk_err err = {{0}};
    assert_int_equal(kmod_resolve(debix, names, 1, &l, &err), 0);
    assert_int_equal(kmod_install(&deb, &l, root, &err), 0);
    char p[1024];
    snprintf(p, sizeof p, "%s/usr/lib/modules/%s/kernel/drivers/block/virtio_blk.ko", root,
             deb.version);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/usr/lib/modules/%s/modules.dep", root, deb.version);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char text[4096] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "kernel/drivers/block/virtio_blk.ko: "));
    assert_non_null(strstr(text, "kernel/drivers/virtio/virtio.ko:"));
    /* depmod's binary indexes: all the guest's kmod reads (by name and by modalias) */
    static const char *const bins[] = {"modules.dep.bin", "modules.alias.bin"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/usr/lib/modules/%s/%s", root, deb.version, bins[i]);
        assert_int_equal(access(p, F_OK), 0);
    }
    /* depmod's private base directory is gone */
    ts_sh("! ls -d '%s'.depmod.* 2>/dev/null", root);
    kmod_list_free(&l);
}

/* The appended signature: a module with one loses exactly the signature, its info block and
 * the magic; anything inconsistent is left whole (the kernel judges it at load). */
static void test_unsigned_len(void **state)
{
    (void)state;
    static const char magic[] = "~Module signature appended~\n";
    unsigned char m[256];
    memset(m, 'E', sizeof m);
    size_t body = 100, sig = 40, info = 12, mlen = sizeof magic - 1;
    size_t len = body + sig + info + mlen;
    unsigned char *i = m + body + sig;
    memset(i, 0, info);
    i[11] = (unsigned char)sig; /* __be32 sig_len */
    memcpy(m + len - mlen, magic, mlen);
    assert_int_equal(kmod_unsigned_len(m, len), body);
    i[8] = 1; /* sig_len larger than the file */
    assert_int_equal(kmod_unsigned_len(m, len), len);
    i[8] = 0;
    i[11] = (unsigned char)(body + sig); /* the whole file is signature */
    assert_int_equal(kmod_unsigned_len(m, len), 0);
    m[len - 1] = 'x'; /* no magic: not signed */
    assert_int_equal(kmod_unsigned_len(m, len), len);
    assert_int_equal(kmod_unsigned_len(m, 10), 10);
    assert_int_equal(kmod_unsigned_len(m, 0), 0);
}

/* Whether the kernel's config lets the initramfs carry unsigned modules. */
static void test_kernel_loads_unsigned(void **state)
{
    (void)state;
    kernel_tree k;
    memset(&k, 0, sizeof k);
    snprintf(k.root, sizeof k.root, "%s/sigcfg", tmpdir);
    snprintf(k.version, sizeof k.version, "1.0");
    char boot[PATH_MAX + 8], cfg[PATH_MAX + 32];
    snprintf(boot, sizeof boot, "%s/boot", k.root);
    assert_int_equal(mkdir(k.root, 0755), 0);
    assert_int_equal(mkdir(boot, 0755), 0);
    assert_false(kmod_kernel_loads_unsigned(&k)); /* no config: keep signatures */
    snprintf(cfg, sizeof cfg, "%s/config-1.0", boot);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs("CONFIG_MODULE_SIG=y\n# CONFIG_MODULE_SIG_FORCE is not set\nCONFIG_MODULE_SIG_FORCE=yes\n", f);
    fclose(f);
    assert_true(kmod_kernel_loads_unsigned(&k));
    f = fopen(cfg, "a");
    assert_non_null(f);
    fputs("CONFIG_MODULE_SIG_FORCE=y\n", f);
    fclose(f);
    assert_false(kmod_kernel_loads_unsigned(&k));
}

static void test_install_usr_merged(void **state)
{
    (void)state;
    need_fixture();
    check_install("rootrel", "usr/lib");
    /* kmod's modprobe (the guest's, on a full Void rootfs) reads only depmod's binary
     * indexes: it must find the module by name and by modalias, with its dependencies.
     * Only on the relative-link tree: -d ROOT with an absolute link reads the host's. */
    if (system("command -v modprobe >/dev/null || test -x /sbin/modprobe") == 0) {
        ts_sh("PATH=$PATH:/sbin:/usr/sbin; modprobe -d '%s/rootrel' -S '%s' --show-depends "
              "virtio_blk | grep -q 'virtio/virtio_ring.ko'",
              tmpdir, deb.version);
        ts_sh("PATH=$PATH:/sbin:/usr/sbin; modprobe -d '%s/rootrel' -S '%s' --show-depends "
              "'virtio:d00000002v00001AF4' | grep -q 'block/virtio_blk.ko'",
              tmpdir, deb.version);
    }
    /* absolute link: followed inside the tree, never to the host's /usr/lib */
    check_install("rootabs", "/usr/lib");
    /* a link pointing up and out is clamped at the tree's root */
    check_install("rootdots", "../../../../../../usr/lib");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modinfo_strings),
        cmocka_unit_test(test_moddep_and_alias_files),
        cmocka_unit_test(test_modinfo_section_real_and_truncated),
        cmocka_unit_test(test_resolve_virtio_blk),
        cmocka_unit_test(test_resolve_btrfs_softdeps),
        cmocka_unit_test(test_resolve_missing_and_builtin),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_modules_dep_file),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_two_indexes),
        cmocka_unit_test(test_compressed_modules),
        cmocka_unit_test(test_unsigned_len),
        cmocka_unit_test(test_kernel_loads_unsigned),
        cmocka_unit_test(test_install_usr_merged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
