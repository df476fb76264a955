/* The repository kernel (void_repo.c) against a local repository directory: the
 * newest entry is chosen and verified; a damaged package, a foreign signature, a
 * missing signature, an untrusted key, an unsigned repository, a missing index and
 * a missing series each fail with their own message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "checksum.h"
#include "test_support.h"
#include "void_repo.h"

typedef struct fx {
    char dir[PATH_MAX], repo[PATH_MAX + 16], rootfs[PATH_MAX + 16], cache[PATH_MAX + 16];
    EVP_PKEY *key, *stranger;
    char pem[XBPS_PUBKEY_MAX], stranger_pem[XBPS_PUBKEY_MAX], fp[XBPS_FP_LEN + 1];
} fx;

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static EVP_PKEY *gen_key(char pem[XBPS_PUBKEY_MAX])
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    int n = BIO_read(b, pem, XBPS_PUBKEY_MAX - 1);
    assert_true(n > 0);
    pem[n] = 0;
    BIO_free(b);
    return k;
}

/* The plist xbps keeps for a key (also the shape of index-meta.plist). */
static void key_plist(const char *pem, char *out, size_t cap)
{
    unsigned char b64[4096];
    int n = EVP_EncodeBlock(b64, (const unsigned char *)pem, (int)strlen(pem));
    assert_true(n > 0);
    ts_snprintf(out, cap,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n"
                "\t<key>public-key</key>\n\t<data>%s</data>\n"
                "\t<key>signature-by</key>\n\t<string>unit test</string>\n</dict>\n</plist>\n",
                b64);
}

/* REPO/x86_64-musl-repodata (zstd tar); meta_pem NULL: unsigned. */
static void write_repodata(fx *f, const char *index, const char *meta_pem)
{
    char path[PATH_MAX * 2], meta[8192];
    ts_snprintf(path, sizeof path, "%s/x86_64-musl-repodata", f->repo);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_add_filter(a, ARCHIVE_FILTER_ZSTD), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    if (meta_pem)
        key_plist(meta_pem, meta, sizeof meta);
    const char *names[] = {"index.plist", "index-meta.plist"};
    const char *bodies[] = {index, meta_pem ? meta : NULL};
    for (int i = 0; i < 2; i++) {
        if (!bodies[i])
            continue;
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)strlen(bodies[i]));
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        archive_write_data(a, bodies[i], strlen(bodies[i]));
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

static void write_sig(fx *f, EVP_PKEY *k, const char *file)
{
    char path[PATH_MAX * 2], sha[65];
    ts_snprintf(path, sizeof path, "%s/%s", f->repo, file);
    assert_int_equal(hash_file(path, sha, NULL, NULL), 0);
    uint8_t d[32], sig[1024];
    for (int i = 0; i < 32; i++)
        d[i] = (uint8_t)(hex_digit_value(sha[2 * i]) << 4 | hex_digit_value(sha[2 * i + 1]));
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
    size_t n = sizeof sig;
    assert_int_equal(EVP_PKEY_sign_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()), 1);
    assert_int_equal(EVP_PKEY_sign(c, sig, &n, d, 32), 1);
    EVP_PKEY_CTX_free(c);
    ts_snprintf(path, sizeof path, "%s/%s.sig2", f->repo, file);
    write_file(path, sig, n);
}

#define PKG "linux6.1-6.1.99_2.x86_64-musl.xbps"

/* A repository with PKG (newest) and an older entry; the key trusted by the rootfs. */
static void build_repo(fx *f)
{
    char path[PATH_MAX * 2], sha[65], index[4096], plist[8192];
    ts_snprintf(path, sizeof path, "%s/" PKG, f->repo);
    write_file(path, "not really a package", 20);
    assert_int_equal(hash_file(path, sha, NULL, NULL), 0);
    ts_snprintf(index, sizeof index,
                "<plist version=\"1.0\"><dict>"
                "<key>linux6.1</key><dict><key>pkgver</key><string>linux6.1-6.1.9_7</string>"
                "<key>architecture</key><string>x86_64-musl</string>"
                "<key>filename-sha256</key><string>%064d</string></dict>"
                "<key>linux6.1</key><dict><key>pkgver</key><string>linux6.1-6.1.99_2</string>"
                "<key>architecture</key><string>x86_64-musl</string>"
                "<key>filename-size</key><integer>20</integer>"
                "<key>filename-sha256</key><string>%s</string></dict>"
                "</dict></plist>",
                0, sha);
    write_repodata(f, index, f->pem);
    write_sig(f, f->key, PKG);
    key_plist(f->pem, plist, sizeof plist);
    ts_snprintf(path, sizeof path, "%s/var/db/xbps/keys/%s.plist", f->rootfs, f->fp);
    write_file(path, plist, strlen(plist));
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f || ts_scratch_dir(f->dir, sizeof f->dir, "void_repo") < 0)
        return -1;
    ts_snprintf(f->repo, sizeof f->repo, "%s/repo", f->dir);
    ts_snprintf(f->rootfs, sizeof f->rootfs, "%s/rootfs", f->dir);
    ts_snprintf(f->cache, sizeof f->cache, "%s/cache", f->dir);
    ts_sh("mkdir -p '%s' '%s/var/db/xbps/keys'", f->repo, f->rootfs);
    f->key = gen_key(f->pem);
    f->stranger = gen_key(f->stranger_pem);
    mk_err err;
    if (xbps_key_fingerprint(f->pem, strlen(f->pem), f->fp, &err) < 0)
        return -1;
    build_repo(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    ts_remove_tree(f->dir);
    EVP_PKEY_free(f->key);
    EVP_PKEY_free(f->stranger);
    free(f);
    return 0;
}

static int fetch(fx *f, const char *series, void_repo_kernel *k, mk_err *err)
{
    fetch_request net = {.cache_dir = f->cache, .retries = -1};
    void_repo_request rq = {
        .repo = f->repo, .arch = "x86_64-musl", .series = series, .rootfs_tree = f->rootfs,
        .net = &net,
    };
    err->msg[0] = 0;
    return void_repo_fetch_kernel(&rq, k, err);
}

static void expect_error(fx *f, const char *series, const char *needle)
{
    void_repo_kernel k;
    mk_err err;
    assert_int_equal(fetch(f, series, &k, &err), -1);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' lacks '%s'", err.msg, needle);
}

static void test_good(void **state)
{
    fx *f = *state;
    void_repo_kernel k;
    mk_err err;
    if (fetch(f, "linux6.1", &k, &err) < 0)
        fail_msg("%s", err.msg);
    assert_string_equal(k.pkg.pkgver, "linux6.1-6.1.99_2");
    assert_string_equal(k.key_fp, f->fp);
    assert_non_null(strstr(k.url, "/repo/" PKG));
    assert_int_equal(strlen(k.file.blake3), 64);
    assert_true(k.file.size == 20);
}

static void test_rejections(void **state)
{
    fx *f = *state;
    char path[PATH_MAX * 2], sig[PATH_MAX * 2];
    ts_snprintf(path, sizeof path, "%s/" PKG, f->repo);
    ts_snprintf(sig, sizeof sig, "%s/" PKG ".sig2", f->repo);

    expect_error(f, "linux6.12", "linux6.12: not in the index");

    write_sig(f, f->stranger, PKG); /* signed by someone else */
    expect_error(f, "linux6.1", "signature does not match the key");
    unlink(sig);
    expect_error(f, "linux6.1", "signature missing");
    write_sig(f, f->key, PKG);

    write_file(path, "NOT really a package", 20); /* changed after indexing */
    expect_error(f, "linux6.1", "SHA-256 mismatch");
    write_file(path, "not really a package", 20);

    char key[PATH_MAX * 2];
    ts_snprintf(key, sizeof key, "%s/var/db/xbps/keys/%s.plist", f->rootfs, f->fp);
    char moved[PATH_MAX * 2 + 8];
    ts_snprintf(moved, sizeof moved, "%s.off", key);
    assert_int_equal(rename(key, moved), 0);
    expect_error(f, "linux6.1", "is not in the rootfs's /var/db/xbps/keys");
    /* A key file under the right name holding another key. */
    char other[8192];
    key_plist(f->stranger_pem, other, sizeof other);
    write_file(key, other, strlen(other));
    expect_error(f, "linux6.1", "holds the key");
    assert_int_equal(rename(moved, key), 0);

    char idx[PATH_MAX * 2];
    ts_snprintf(idx, sizeof idx, "%s/x86_64-musl-repodata", f->repo);
    write_repodata(f, "<dict/>", NULL);
    expect_error(f, "linux6.1", "unsigned repository");
    unlink(idx);
    expect_error(f, "linux6.1", "kernel repository index ");
    build_repo(f);
    expect_error(f, "../etc", "not a package name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejections, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
