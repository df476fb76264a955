/* xbps repository pieces: Void's version order, index lookups (newest of a series,
 * architecture, malformed entries), index-meta and key files, the repodata archive,
 * key fingerprints (Void's real key) and .sig2 verification with a generated key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "xbps_index.h"
#include "xbps_sig.h"

/* Void's repository key file, common/repo-keys/60:ae:0c:d6:f0:95:17:80:bc:93:46:7a:89:af:a3:2d.plist
 * in void-packages (public data). */
static const char void_keyfile[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<!DOCTYPE plist PUBLIC \"-//Apple Computer//DTD PLIST 1.0//EN\" "
    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
    "<plist version=\"1.0\">\n<dict>\n\t<key>public-key</key>\n\t<data>"
    "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0KTUlJQ0lqQU5CZ2txaGtpRzl3MEJBUUVGQUFPQ0Fn"
    "OEFNSUlDQ2dLQ0FnRUF2clN6QlpNdmd2T0NJM0FYYk9qYQoycktSa0pTVE0zYy9FalRJZ0NnRFhn"
    "dW05M0JQQ3RZOE1jRlZvQ1U0T2lYSEdmVG1xMzlCVk5wTHZMSEw5S2sxCnAyNzhTQmhYVk90YkIy"
    "RVZtREtudmZJREVUbGRMR3plN3JaTlJKZHR1TjJtWi9UVnJVQjlTMHlRYytJdWY0aHYKMytEOTdW"
    "SWRUSkhBN0FTcjA0MjhwcEVHSkd3U1NoWTJYSm05RDVJMEV1R1JXYzE0TUVHN2RJS0ppWWlNMG5F"
    "NAp0WW8yL3ZINElGVEhkblZBM2dZaVp5RG5idUNBUi84RVNmVVRVMTNTTkNPZGJ1ZGYzRDVCY3kr"
    "VWlNREpJM1llCjRNRktCclQ5WmhaK0dzWEJaWTQ4MmxxaVppNkNMNXB0YzlJUUZmOC9lS1phOGph"
    "dGtpVkZWZ3JLZU5Sak9UeE4KZldTdTJua3hHTlgrYmhYWXRoaUdXbUpFWThjQ0FQeUZOK0x2NVJl"
    "dEsyNTZnZGNiMnNrbUVxZWZ2MnpQQyt3VgpXQmJkSDViRDRiWmpuME42Wmw4MXJ2NVJ6RHZudmYr"
    "dkQxNGFGVWJaOFFGcXU3NVBiTDR3Nm1ZTTRsZE0vZzBSCjZOWEU4QXo5Qnd4MnREZlllS3V1dHcx"
    "RXBQbTJZdkZ5VFViMWNveUF1VEdSeUFhcDFVVEh2ZzlsaFBJSm1oRlEKSjVrQ2cxcUQ3QTMxV2ww"
    "UmxuZTZoZ0dvMFpaTko1Y0pNL3YvelNUS0pjdUZnd283SDBoT0dpbDZEZm84OUI0agpHOTZBQ3lQ"
    "UytEVktQRlhSWXdqL0FrYkhwYVEyZjFGTUFvU3BCcXVEcUhoM3VrazcxS1g2ajE5dDBpRjhEUUxy"
    "CnZ0RlNTZElqREEwMmx3ZVY5TmFRcFdzQ0F3RUFBUT09Ci0tLS0tRU5EIFBVQkxJQyBLRVktLS0t"
    "LQo="
    "</data>\n\t<key>public-key-size</key>\n\t<integer>4096</integer>\n"
    "\t<key>signature-by</key>\n\t<string>Void Linux</string>\n</dict>\n</plist>\n";
#define VOID_FP "60:ae:0c:d6:f0:95:17:80:bc:93:46:7a:89:af:a3:2d"

static void test_cmpver(void **state)
{
    (void)state;
    assert_true(xbps_cmpver("linux6.12-6.12.11_1", "linux6.12-6.12.9_1") > 0);
    assert_true(xbps_cmpver("linux6.12-6.12.11_1", "linux6.12-6.12.11_2") < 0);
    assert_true(xbps_cmpver("linux6.12-6.12.11_10", "linux6.12-6.12.11_9") > 0);
    assert_int_equal(xbps_cmpver("6.12.11_1", "6.12.11_1"), 0);
    assert_int_equal(xbps_cmpver("1.0_1", "1.00_1"), 0);
    assert_true(xbps_cmpver("1.0rc1_1", "1.0_1") < 0);
    assert_true(xbps_cmpver("1.0beta2_1", "1.0rc1_1") < 0);
    assert_true(xbps_cmpver("1.0a_1", "1.0_1") > 0);
    assert_true(xbps_cmpver("6.12_1", "6.12.1_1") < 0);
    assert_true(xbps_cmpver("6.9_1", "6.10_1") < 0);
    /* Huge numbers saturate instead of overflowing. */
    assert_int_equal(xbps_cmpver("99999999999999999999999_1", "99999999999999999999998_1"), 0);
}

static const char index_doc[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n"
    "<key>linux6.1</key><dict>"
    "<key>architecture</key><string>x86_64-musl</string>"
    "<key>filename-sha256</key><string>" "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef" "</string>"
    "<key>filename-size</key><integer>4096</integer>"
    "<key>pkgver</key><string>linux6.1-6.1.57_1</string></dict>\n"
    "<key>linux6.1</key><dict>"
    "<key>architecture</key><string>x86_64-musl</string>"
    "<key>filename-sha256</key><string>" "1111111111111111111111111111111111111111111111111111111111111111" "</string>"
    "<key>pkgver</key><string>linux6.1-6.1.9_3</string></dict>\n"
    "<key>linux6.6</key><dict>"
    "<key>architecture</key><string>aarch64</string>"
    "<key>filename-sha256</key><string>" "2222222222222222222222222222222222222222222222222222222222222222" "</string>"
    "<key>pkgver</key><string>linux6.6-6.6.1_1</string></dict>\n"
    "<key>bad1</key><dict><key>pkgver</key><string>bad1-../../x_1</string>"
    "<key>filename-sha256</key><string>" "1111111111111111111111111111111111111111111111111111111111111111" "</string></dict>\n"
    "<key>bad2</key><dict><key>pkgver</key><string>bad2-1.0_1</string>"
    "<key>filename-sha256</key><string>xyz</string></dict>\n"
    "<key>bad3</key><dict><key>pkgver</key><string>other-1.0_1</string></dict>\n"
    "<key>bad4</key><string>x</string>\n"
    "</dict>\n</plist>\n";

static int find(const char *series, const char *arch, xbps_pkg *pkg, mk_err *err)
{
    char *buf = strdup(index_doc);
    assert_non_null(buf);
    int rc = xbps_index_find(buf, strlen(buf), series, arch, pkg, err);
    free(buf);
    return rc;
}

static void expect_find_error(const char *series, const char *arch, const char *needle)
{
    xbps_pkg pkg;
    mk_err err = {""};
    assert_int_equal(find(series, arch, &pkg, &err), -1);
    if (!strstr(err.msg, needle))
        fail_msg("%s: '%s' lacks '%s'", series, err.msg, needle);
}

static void test_index_find(void **state)
{
    (void)state;
    xbps_pkg pkg;
    mk_err err = {""};
    assert_int_equal(find("linux6.1", "x86_64-musl", &pkg, &err), 0);
    assert_string_equal(pkg.pkgver, "linux6.1-6.1.57_1"); /* newest, not last */
    assert_string_equal(pkg.name, "linux6.1");
    assert_string_equal(pkg.sha256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    assert_true(pkg.size == 4096);
    expect_find_error("linux6.12", "x86_64-musl", "linux6.12: not in the index");
    expect_find_error("linux6.6", "x86_64-musl", "not in the index for x86_64-musl");
    expect_find_error("bad1", "x86_64-musl", "malformed pkgver");
    expect_find_error("bad2", "x86_64-musl", "malformed filename-sha256");
    expect_find_error("bad3", "x86_64-musl", "malformed pkgver");
    expect_find_error("bad4", "x86_64-musl", "not a dictionary");
    expect_find_error("../x", "x86_64-musl", "not a package name");

    char notdict[] = "<array/>";
    assert_int_equal(xbps_index_find(notdict, strlen(notdict), "a", "b", &pkg, &err), -1);
    assert_non_null(strstr(err.msg, "not a dictionary of packages"));
    char broken[] = "<dict><key>a</key>";
    assert_int_equal(xbps_index_find(broken, strlen(broken), "a", "b", &pkg, &err), -1);
    assert_non_null(strstr(err.msg, "index.plist: offset"));
}

static void test_void_key_fingerprint(void **state)
{
    (void)state;
    char *buf = strdup(void_keyfile);
    char pem[XBPS_PUBKEY_MAX], fp[XBPS_FP_LEN + 1];
    size_t n = 0;
    mk_err err = {""};
    assert_int_equal(xbps_keyfile_pubkey(buf, strlen(buf), pem, sizeof pem, &n, &err), 0);
    assert_non_null(strstr(pem, "BEGIN PUBLIC KEY"));
    assert_int_equal(xbps_key_fingerprint(pem, n, fp, &err), 0);
    assert_string_equal(fp, VOID_FP);
    free(buf);
    /* index-meta.plist has the same shape, plus the signer's name. */
    buf = strdup(void_keyfile);
    char signer[64];
    assert_int_equal(xbps_meta_pubkey(buf, strlen(buf), pem, sizeof pem, &n, signer,
                                      sizeof signer, &err), 0);
    assert_string_equal(signer, "Void Linux");
    free(buf);

    char unsigned_meta[] = "<dict/>";
    assert_int_equal(xbps_meta_pubkey(unsigned_meta, strlen(unsigned_meta), pem, sizeof pem, &n,
                                      NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "unsigned repository"));
    assert_int_equal(xbps_meta_pubkey(unsigned_meta, 0, pem, sizeof pem, &n, NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "unsigned repository"));
    assert_int_equal(xbps_key_fingerprint("nonsense", 8, fp, &err), -1);
    assert_non_null(strstr(err.msg, "not a PEM public key"));
}

/* A fresh RSA key: its public PEM into pem, the key returned. */
static EVP_PKEY *gen_key(char *pem, size_t cap, size_t *len)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
    int n = BIO_read(b, pem, (int)cap - 1);
    assert_true(n > 0);
    pem[n] = 0;
    *len = (size_t)n;
    BIO_free(b);
    return k;
}

/* What xbps-rindex --sign-pkg writes: PKCS#1 v1.5 over SHA-256 of the file. */
static size_t sign(EVP_PKEY *k, const uint8_t digest[32], const EVP_MD *md, uint8_t *sig,
                   size_t cap)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
    size_t n = cap;
    assert_int_equal(EVP_PKEY_sign_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, md), 1);
    /* A SHA-1 DigestInfo wraps 20 bytes: the old .sig signed the SHA-256's first 20
     * only through a bug; any 20 bytes do for the test. */
    assert_int_equal(EVP_PKEY_sign(c, sig, &n, digest, md == EVP_sha1() ? 20 : 32), 1);
    EVP_PKEY_CTX_free(c);
    return n;
}

static void test_sig2(void **state)
{
    (void)state;
    char pem[XBPS_PUBKEY_MAX], pem2[XBPS_PUBKEY_MAX];
    size_t pl, pl2;
    EVP_PKEY *k = gen_key(pem, sizeof pem, &pl), *k2 = gen_key(pem2, sizeof pem2, &pl2);
    uint8_t digest[32], sig[1024];
    for (int i = 0; i < 32; i++)
        digest[i] = (uint8_t)(i * 7);
    size_t sl = sign(k, digest, EVP_sha256(), sig, sizeof sig);
    mk_err err = {""};
    assert_int_equal(xbps_sig2_verify(pem, pl, digest, sig, sl, "pkg", &err), 0);
    /* Another file, another key, a damaged or truncated signature, an old-style one. */
    digest[0] ^= 1;
    assert_int_equal(xbps_sig2_verify(pem, pl, digest, sig, sl, "pkg", &err), -1);
    assert_non_null(strstr(err.msg, "pkg: signature does not match the key "));
    digest[0] ^= 1;
    assert_int_equal(xbps_sig2_verify(pem2, pl2, digest, sig, sl, "pkg", &err), -1);
    sig[10] ^= 1;
    assert_int_equal(xbps_sig2_verify(pem, pl, digest, sig, sl, "pkg", &err), -1);
    sig[10] ^= 1;
    assert_int_equal(xbps_sig2_verify(pem, pl, digest, sig, sl - 1, "pkg", &err), -1);
    assert_int_equal(xbps_sig2_verify(pem, pl, digest, sig, 0, "pkg", &err), -1);
    assert_non_null(strstr(err.msg, "empty or too large"));
    size_t ol = sign(k, digest, EVP_sha1(), sig, sizeof sig);
    assert_int_equal(xbps_sig2_verify(pem, pl, digest, sig, ol, "pkg", &err), -1);
    /* The fingerprint format. */
    char fp[XBPS_FP_LEN + 1];
    assert_int_equal(xbps_key_fingerprint(pem, pl, fp, &err), 0);
    assert_int_equal(strlen(fp), XBPS_FP_LEN);
    assert_int_equal(strspn(fp, "0123456789abcdef:"), XBPS_FP_LEN);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
}

/* A repodata archive in memory: tar, compressed with filter (zstd or xz). */
static size_t make_repodata(int filter, const char *index, const char *meta, char *out,
                            size_t cap)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_add_filter(a, filter), ARCHIVE_OK);
    size_t used = 0;
    assert_int_equal(archive_write_open_memory(a, out, cap, &used), ARCHIVE_OK);
    const char *names[] = {"index.plist", "index-meta.plist"}, *bodies[] = {index, meta};
    for (int i = 0; i < 2; i++) {
        if (!bodies[i])
            continue;
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)strlen(bodies[i]));
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_true(archive_write_data(a, bodies[i], strlen(bodies[i])) ==
                    (la_ssize_t)strlen(bodies[i]));
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return used;
}

static void test_repodata(void **state)
{
    (void)state;
    static char arc[1 << 16];
    int filters[] = {ARCHIVE_FILTER_ZSTD, ARCHIVE_FILTER_XZ};
    for (int f = 0; f < 2; f++) {
        size_t n = make_repodata(filters[f], index_doc, void_keyfile, arc, sizeof arc);
        char *idx, *meta;
        size_t il, ml;
        mk_err err = {""};
        assert_int_equal(xbps_repodata_read(arc, n, "r", &idx, &il, &meta, &ml, &err), 0);
        assert_int_equal(il, strlen(index_doc));
        assert_string_equal(idx, index_doc);
        assert_string_equal(meta, void_keyfile);
        free(idx);
        free(meta);
    }
    size_t n = make_repodata(ARCHIVE_FILTER_ZSTD, index_doc, NULL, arc, sizeof arc);
    char *idx, *meta;
    size_t il, ml;
    mk_err err = {""};
    assert_int_equal(xbps_repodata_read(arc, n, "r", &idx, &il, &meta, &ml, &err), 0);
    assert_null(meta); /* unsigned: the caller refuses it */
    free(idx);
    n = make_repodata(ARCHIVE_FILTER_ZSTD, NULL, void_keyfile, arc, sizeof arc);
    assert_int_equal(xbps_repodata_read(arc, n, "r", &idx, &il, &meta, &ml, &err), -1);
    assert_non_null(strstr(err.msg, "r: no index.plist"));
    assert_int_equal(xbps_repodata_read("<html>not found</html>", 22, "r", &idx, &il, &meta, &ml,
                                        &err), -1);
    assert_non_null(strstr(err.msg, "r: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmpver),
        cmocka_unit_test(test_index_find),
        cmocka_unit_test(test_void_key_fingerprint),
        cmocka_unit_test(test_sig2),
        cmocka_unit_test(test_repodata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
