/* Minisign verification against signatures made by the real minisign tool
 * (key pair generated here with `minisign -G -W`), in both the prehashed ("ED",
 * minisign >= 0.10 default) and legacy ("Ed", -l) formats, plus malformed inputs. */
#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "minisign.h"
#include "void_default.h"
#include "test_support.h"

static char dir[PATH_MAX];
static bool have_minisign;
static const char MSG[] = "SHA256 (void-x86_64-musl-ROOTFS-20250202.tar.xz) = "
                          "27b2945ea7e2ca2a6ab123ce6f284b255adea2182820da25483d700ffe16e7c2\n";

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Reads dir/name into buf (NUL-terminated); returns its length. */
static size_t slurp(const char *name, char *buf, size_t size)
{
    char p[PATH_MAX + 64];
    ts_snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = 0;
    return n;
}

static void load_key(const char *name, minisign_pubkey *pk)
{
    char p[PATH_MAX + 64];
    mk_err err = {""};
    ts_snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(minisign_pubkey_load(p, pk, &err), 0);
}

static int setup(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    snprintf(dir, sizeof dir, "%s/tmp/test_minisign.%ld", build ? build : "/tmp", (long)getpid());
    have_minisign = sh("command -v minisign >/dev/null 2>&1") == 0;
    if (!have_minisign)
        return 0;
    char cmd[4 * PATH_MAX];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && mkdir -p '%s' && cd '%s' && printf '%%s' '%s' > sums.txt && "
             "minisign -G -W -p a.pub -s a.key >/dev/null && "
             "minisign -G -W -p b.pub -s b.key >/dev/null && "
             "minisign -S -s a.key -m sums.txt -x hashed.sig -t 'release 20250202' >/dev/null && "
             "minisign -S -l -s a.key -m sums.txt -x legacy.sig -t 'legacy release' >/dev/null",
             dir, dir, dir, MSG);
    return sh(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!getenv("KEEP_TMP"))
        sh(cmd);
    return 0;
}

static void test_prehashed_and_legacy_signatures(void **state)
{
    (void)state;
    if (!have_minisign)
        skip();
    minisign_pubkey pk;
    load_key("a.pub", &pk);
    char sig[MINISIGN_MAX_FILE + 1], trusted[256];
    mk_err err = {""};

    size_t n = slurp("hashed.sig", sig, sizeof sig);
    assert_non_null(strstr(sig, "\nRU")); /* base64 of "ED": really the prehashed form */
    assert_int_equal(minisign_verify(&pk, sig, n, "hashed.sig", MSG, strlen(MSG), trusted,
                                     sizeof trusted, &err),
                     0);
    assert_string_equal(trusted, "release 20250202");

    n = slurp("legacy.sig", sig, sizeof sig);
    assert_non_null(strstr(sig, "\nRW")); /* base64 of "Ed": legacy */
    assert_int_equal(minisign_verify(&pk, sig, n, "legacy.sig", MSG, strlen(MSG), trusted,
                                     sizeof trusted, &err),
                     0);
    assert_string_equal(trusted, "legacy release");

    /* Our verdict matches minisign's own on the same files. */
    char cmd[2 * PATH_MAX];
    ts_snprintf(cmd, sizeof cmd, "cd '%s' && minisign -Vq -p a.pub -m sums.txt -x hashed.sig", dir);
    assert_int_equal(sh(cmd), 0);
}

static void test_tampering_is_detected(void **state)
{
    (void)state;
    if (!have_minisign)
        skip();
    minisign_pubkey pk;
    load_key("a.pub", &pk);
    char sig[MINISIGN_MAX_FILE + 1];
    mk_err err = {""};
    static const char *sigs[] = {"hashed.sig", "legacy.sig"};
    for (int i = 0; i < 2; i++) {
        size_t n = slurp(sigs[i], sig, sizeof sig);
        /* One changed byte in the signed file. */
        char msg[sizeof MSG];
        memcpy(msg, MSG, sizeof MSG);
        msg[60] ^= 1;
        assert_int_equal(
            minisign_verify(&pk, sig, n, "s.sig", msg, strlen(msg), NULL, 0, &err), -1);
        assert_string_equal(err.msg,
                            "s.sig: signature verification failed (file altered or wrong key)");
        /* A changed trusted comment breaks the global signature. */
        char *tc = strstr(sig, "\ntrusted comment: ");
        assert_non_null(tc);
        tc[18] ^= 1;
        assert_int_equal(minisign_verify(&pk, sig, n, "s.sig", MSG, strlen(MSG), NULL, 0, &err),
                         -1);
        assert_string_equal(err.msg, "s.sig: trusted comment signature verification failed");
    }
}

static void test_wrong_key(void **state)
{
    (void)state;
    if (!have_minisign)
        skip();
    minisign_pubkey other;
    load_key("b.pub", &other);
    char sig[MINISIGN_MAX_FILE + 1];
    mk_err err = {""};
    size_t n = slurp("hashed.sig", sig, sizeof sig);
    assert_int_equal(minisign_verify(&other, sig, n, "s.sig", MSG, strlen(MSG), NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "s.sig: made with key "));
    assert_non_null(strstr(err.msg, ", not with the given key "));

    /* Same key id but different key material: the signature itself fails. */
    minisign_pubkey a;
    load_key("a.pub", &a);
    memcpy(other.keynum, a.keynum, sizeof a.keynum);
    assert_int_equal(minisign_verify(&other, sig, n, "s.sig", MSG, strlen(MSG), NULL, 0, &err), -1);
    assert_non_null(strstr(err.msg, "signature verification failed"));
}

static void test_pubkey_forms(void **state)
{
    (void)state;
    mk_err err = {""};
    minisign_pubkey pk, pk2;
    /* The Void release key (void_default.h) as a bare base64 string. */
    assert_int_equal(minisign_pubkey_load(VOID_DEFAULT_PUBKEY, &pk, &err), 0);
    const char *pub = "untrusted comment: minisign public key\n" VOID_DEFAULT_PUBKEY "\n";
    assert_int_equal(minisign_pubkey_parse(pub, strlen(pub), "k.pub", &pk2, &err), 0);
    assert_memory_equal(&pk, &pk2, sizeof pk);
    /* CRLF and surrounding blanks are tolerated. */
    const char *crlf = "untrusted comment: x\r\n  " VOID_DEFAULT_PUBKEY " \r\n";
    assert_int_equal(minisign_pubkey_parse(crlf, strlen(crlf), "k.pub", &pk2, &err), 0);
    assert_memory_equal(&pk, &pk2, sizeof pk);

    if (have_minisign) {
        char text[512], cmd[PATH_MAX + 64];
        size_t n = slurp("a.pub", text, sizeof text);
        assert_int_equal(minisign_pubkey_parse(text, n, "a.pub", &pk, &err), 0);
        ts_snprintf(cmd, sizeof cmd, "%s/a.pub", dir);
        assert_int_equal(minisign_pubkey_load(cmd, &pk2, &err), 0);
        assert_memory_equal(&pk, &pk2, sizeof pk);
    }

    static const char *bad[] = {
        "",
        "untrusted comment: only a comment\n",
        "RWT5+SoQD+dWTeOdNuc4Q/jq2+3+jpql7+JJp4WukkxTdpsZlk2EGuP",   /* one char short */
        "RWT5+SoQD+dWTeOdNuc4Q/jq2+3+jpql7+JJp4WukkxTdpsZlk2EGuPjAA", /* too long */
        "RWT5+SoQD+dWTeOdNuc4Q/jq2+3+jpql7+JJp4WukkxTdpsZlk2EGuP!",
        "AAAA+SoQD+dWTeOdNuc4Q/jq2+3+jpql7+JJp4WukkxTdpsZlk2EGuPj", /* not "Ed" */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        assert_int_equal(minisign_pubkey_parse(bad[i], strlen(bad[i]), "k.pub", &pk, &err), -1);
        assert_true(strncmp(err.msg, "k.pub: ", 7) == 0);
    }
    assert_int_equal(minisign_pubkey_load("/nonexistent/void.pub", &pk, &err), -1);
    assert_string_equal(err.msg,
                        "/nonexistent/void.pub: neither a public key file nor a minisign public key");
}

static void test_malformed_signatures(void **state)
{
    (void)state;
    mk_err err = {""};
    minisign_pubkey pk;
    assert_int_equal(minisign_pubkey_load(VOID_DEFAULT_PUBKEY, &pk, &err), 0);
    static const char *bad[] = {
        "",
        "untrusted comment: x\n",
        "untrusted comment: x\nRUQ=\ntrusted comment: y\nAAAA\n",
        "not a comment\nRUQ=\ntrusted comment: y\nAAAA\n",
        "untrusted comment: x\n!!!\ntrusted comment: y\nAAAA\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        assert_int_equal(minisign_verify(&pk, bad[i], strlen(bad[i]), "x.sig", "m", 1, NULL, 0, &err),
                         -1);
        assert_true(strncmp(err.msg, "x.sig: ", 7) == 0);
    }
    /* Oversized input is refused before parsing. */
    static char big[MINISIGN_MAX_FILE + 10];
    memset(big, 'A', sizeof big);
    assert_int_equal(minisign_verify(&pk, big, sizeof big, "x.sig", "m", 1, NULL, 0, &err), -1);
    assert_string_equal(err.msg, "x.sig: too large for a minisign signature");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prehashed_and_legacy_signatures),
        cmocka_unit_test(test_tampering_is_detected),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_pubkey_forms),
        cmocka_unit_test(test_malformed_signatures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
