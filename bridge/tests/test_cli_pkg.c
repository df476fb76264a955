/* The package-manager translation table: every verb for every manager, the yes/interactive
 * rules, argument checks and manager detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "revm/pkg.h"

static void expect_cmd(enum pkg_manager m, enum pkg_verb v, const char *args_line, bool yes,
                       bool interactive, const char *want, const char *want_env)
{
    const char *args[16];
    size_t n = 0;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", args_line);
    for (char *t = strtok(copy, " "); t && n < 16; t = strtok(NULL, " "))
        args[n++] = t;
    pkg_command c;
    char err[128];
    if (pkg_translate(m, v, args, n, yes, interactive, &c, err, sizeof err) != 0)
        fail_msg("%s %s: %s", pkg_manager_name(m), pkg_verb_name(v), err);
    char got[512] = "";
    for (size_t i = 0; i < c.argc; i++) {
        if (i)
            strcat(got, " ");
        strcat(got, c.argv[i]);
    }
    assert_null(c.argv[c.argc]);
    assert_string_equal(got, want);
    if (want_env)
        assert_string_equal(c.env[0], want_env);
    else
        assert_null(c.env[0]);
}

static void xbps(void **s)
{
    (void)s;
    expect_cmd(PKG_XBPS, PKG_INSTALL, "btop", false, true, "xbps-install -S btop", NULL);
    expect_cmd(PKG_XBPS, PKG_INSTALL, "-y btop htop", false, true, "xbps-install -S -y btop htop", NULL);
    expect_cmd(PKG_XBPS, PKG_INSTALL, "btop", false, false, "xbps-install -S -y btop", NULL);
    expect_cmd(PKG_XBPS, PKG_REMOVE, "btop", true, true, "xbps-remove -R -y btop", NULL);
    expect_cmd(PKG_XBPS, PKG_UPDATE, "", false, false, "xbps-install -S", NULL);
    expect_cmd(PKG_XBPS, PKG_UPGRADE, "", false, false, "xbps-install -Su -y", NULL);
    expect_cmd(PKG_XBPS, PKG_SEARCH, "top", false, true, "xbps-query -Rs top", NULL);
    expect_cmd(PKG_XBPS, PKG_SHOW, "btop", false, true, "xbps-query -R btop", NULL);
    expect_cmd(PKG_XBPS, PKG_LIST, "", false, true, "xbps-query -l", NULL);
}

static void apt(void **s)
{
    (void)s;
    const char *ni = "DEBIAN_FRONTEND=noninteractive";
    expect_cmd(PKG_APT, PKG_INSTALL, "btop", false, true, "apt-get install btop", NULL);
    expect_cmd(PKG_APT, PKG_INSTALL, "btop", false, false, "apt-get install -y btop", ni);
    expect_cmd(PKG_APT, PKG_INSTALL, "--yes btop", false, true, "apt-get install -y btop", NULL);
    expect_cmd(PKG_APT, PKG_REMOVE, "btop", false, false, "apt-get remove -y btop", ni);
    expect_cmd(PKG_APT, PKG_UPDATE, "", false, true, "apt-get update", NULL);
    expect_cmd(PKG_APT, PKG_UPGRADE, "", true, true, "apt-get upgrade -y", NULL);
    expect_cmd(PKG_APT, PKG_SEARCH, "btop", false, true, "apt-cache search btop", NULL);
    expect_cmd(PKG_APT, PKG_SHOW, "btop", false, true, "apt-cache show btop", NULL);
    expect_cmd(PKG_APT, PKG_LIST, "", false, true, "dpkg-query -W -f ${binary:Package} ${Version}\\n", NULL);
}

static void apk(void **s)
{
    (void)s;
    expect_cmd(PKG_APK, PKG_INSTALL, "-y btop", false, false, "apk add btop", NULL);
    expect_cmd(PKG_APK, PKG_REMOVE, "btop", false, true, "apk del btop", NULL);
    expect_cmd(PKG_APK, PKG_UPDATE, "", false, true, "apk update", NULL);
    expect_cmd(PKG_APK, PKG_UPGRADE, "", true, false, "apk upgrade", NULL);
    expect_cmd(PKG_APK, PKG_SEARCH, "btop", false, true, "apk search btop", NULL);
    expect_cmd(PKG_APK, PKG_SHOW, "btop", false, true, "apk info -a btop", NULL);
    expect_cmd(PKG_APK, PKG_LIST, "", false, true, "apk info -v", NULL);
}

static void dnf(void **s)
{
    (void)s;
    expect_cmd(PKG_DNF, PKG_INSTALL, "btop", false, false, "dnf install -y btop", NULL);
    expect_cmd(PKG_DNF, PKG_REMOVE, "btop", false, true, "dnf remove btop", NULL);
    expect_cmd(PKG_DNF, PKG_UPDATE, "", false, true, "dnf makecache", NULL);
    expect_cmd(PKG_DNF, PKG_UPGRADE, "", true, true, "dnf upgrade -y", NULL);
    expect_cmd(PKG_DNF, PKG_SEARCH, "btop", false, true, "dnf search btop", NULL);
    expect_cmd(PKG_DNF, PKG_SHOW, "btop", false, true, "dnf info btop", NULL);
    expect_cmd(PKG_DNF, PKG_LIST, "", false, true, "dnf list --installed", NULL);
}

static void pacman(void **s)
{
    (void)s;
    expect_cmd(PKG_PACMAN, PKG_INSTALL, "btop", false, false, "pacman -S --needed --noconfirm btop", NULL);
    expect_cmd(PKG_PACMAN, PKG_INSTALL, "btop", false, true, "pacman -S --needed btop", NULL);
    expect_cmd(PKG_PACMAN, PKG_REMOVE, "-y btop", false, true, "pacman -R --noconfirm btop", NULL);
    expect_cmd(PKG_PACMAN, PKG_UPDATE, "", false, true, "pacman -Sy", NULL);
    expect_cmd(PKG_PACMAN, PKG_UPGRADE, "", false, false, "pacman -Syu --noconfirm", NULL);
    expect_cmd(PKG_PACMAN, PKG_SEARCH, "btop", false, true, "pacman -Ss btop", NULL);
    expect_cmd(PKG_PACMAN, PKG_SHOW, "btop", false, true, "pacman -Si btop", NULL);
    expect_cmd(PKG_PACMAN, PKG_LIST, "", false, true, "pacman -Q", NULL);
}

static void verbs_and_errors(void **s)
{
    (void)s;
    assert_int_equal(pkg_verb_parse("add"), PKG_INSTALL);
    assert_int_equal(pkg_verb_parse("del"), PKG_REMOVE);
    assert_int_equal(pkg_verb_parse("info"), PKG_SHOW);
    assert_int_equal(pkg_verb_parse("frobnicate"), -1);
    pkg_command c;
    char err[128];
    const char *only_yes[] = {"-y"};
    assert_int_equal(pkg_translate(PKG_APT, PKG_INSTALL, only_yes, 1, false, true, &c, err, sizeof err), -1);
    assert_string_equal(err, "install needs a package name");
}

static void detection(void **s)
{
    (void)s;
    bool none[PKG_MANAGER_COUNT] = {0};
    assert_int_equal(pkg_detect("void", "", none), -1);
    bool xbps_only[PKG_MANAGER_COUNT] = {[PKG_XBPS] = true};
    assert_int_equal(pkg_detect("void", "", xbps_only), PKG_XBPS);
    bool apt_apk[PKG_MANAGER_COUNT] = {[PKG_APT] = true, [PKG_APK] = true};
    assert_int_equal(pkg_detect("debian", "", apt_apk), PKG_APT);
    assert_int_equal(pkg_detect("linuxmint", "\"ubuntu debian\"", apt_apk), PKG_APT);
    assert_int_equal(pkg_detect("alpine", "", apt_apk), PKG_APK);
    bool dnf_only[PKG_MANAGER_COUNT] = {[PKG_DNF] = true};
    assert_int_equal(pkg_detect("rocky", "rhel centos fedora", dnf_only), PKG_DNF);
    assert_string_equal(pkg_probe_tool(PKG_PACMAN), "pacman");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(xbps), cmocka_unit_test(apt),    cmocka_unit_test(apk),
        cmocka_unit_test(dnf),  cmocka_unit_test(pacman), cmocka_unit_test(verbs_and_errors),
        cmocka_unit_test(detection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
