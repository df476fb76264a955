/* Desktop entry parsing: localized names, Exec splitting and field codes, visibility rules,
 * hostile input, and ids that become file names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desktop/desktop_entry.h"

static desktop_entry e;

static void parse_ok(const char *text, const char *locale)
{
    char err[256];
    if (desktop_entry_parse(text, strlen(text), locale, &e, err, sizeof err) != 0)
        fail_msg("parse failed: %s", err);
}

static void parse_err(const char *text, const char *want)
{
    char err[256] = "";
    assert_int_equal(desktop_entry_parse(text, strlen(text), NULL, &e, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
}

static void btop(void **s)
{
    (void)s;
    parse_ok("[Desktop Entry]\nType=Application\nName=btop++\nIcon=btop\nExec=btop\n"
             "Terminal=true\nCategories=System;Monitor;\n", NULL);
    assert_string_equal(e.name, "btop++");
    assert_string_equal(e.icon, "btop");
    assert_int_equal(e.exec_argc, 1);
    assert_string_equal(e.exec_argv[0], "btop");
    assert_true(e.terminal);
    assert_true(desktop_entry_visible(&e, "Redox"));
}

static void localized_name(void **s)
{
    (void)s;
    const char *t = "[Desktop Entry]\nType=Application\nName=Files\nName[de]=Dateien\n"
                    "Name[de_DE]=Dateien DE\nName[fr]=Fichiers\nExec=files\n";
    parse_ok(t, "de_DE.UTF-8");
    assert_string_equal(e.name, "Dateien DE");
    parse_ok(t, "de_AT.UTF-8");
    assert_string_equal(e.name, "Dateien");
    parse_ok(t, "ja_JP.UTF-8");
    assert_string_equal(e.name, "Files");
    parse_ok(t, NULL);
    assert_string_equal(e.name, "Files");
}

static void exec_quoting_and_codes(void **s)
{
    (void)s;
    parse_ok("[Desktop Entry]\nType=Application\nName=Ed\n"
             "Exec=sh -c \"echo \\\\\"a b\\\\\" \\\\$HOME\" %F --title=%c 50%%\n", NULL);
    assert_int_equal(e.exec_argc, 5);
    assert_string_equal(e.exec_argv[0], "sh");
    assert_string_equal(e.exec_argv[1], "-c");
    assert_string_equal(e.exec_argv[2], "echo \"a b\" $HOME");
    assert_string_equal(e.exec_argv[3], "--title=Ed");
    assert_string_equal(e.exec_argv[4], "50%");
    parse_err("[Desktop Entry]\nName=x\nExec=a \"b\n", "Exec: unterminated quote");
    parse_err("[Desktop Entry]\nName=x\nExec=a %z\n", "Exec: unknown field code");
    /* Found by fuzz_desktop_entry: a backslash ending a quoted value made the splitter step
     * over the terminator; the value fills its buffer so ASan sees the read past it. */
    char text[64 + DESKTOP_FIELD_MAX * 2];
    int n = snprintf(text, sizeof text, "[Desktop Entry]\nName=x\nExec=\"");
    memset(text + n, 'x', DESKTOP_FIELD_MAX * 2 - 3);
    strcpy(text + n + DESKTOP_FIELD_MAX * 2 - 3, "\\");
    parse_err(text, "Exec: unterminated quote");
}

static void visibility(void **s)
{
    (void)s;
    parse_ok("[Desktop Entry]\nType=Application\nName=a\nExec=a\nNoDisplay=true\n", NULL);
    assert_false(desktop_entry_visible(&e, "Redox"));
    parse_ok("[Desktop Entry]\nType=Application\nName=a\nExec=a\nHidden=true\n", NULL);
    assert_false(desktop_entry_visible(&e, "Redox"));
    parse_ok("[Desktop Entry]\nType=Application\nName=a\nExec=a\nOnlyShowIn=GNOME;KDE;\n", NULL);
    assert_false(desktop_entry_visible(&e, "Redox"));
    parse_ok("[Desktop Entry]\nType=Application\nName=a\nExec=a\nOnlyShowIn=GNOME;Redox;\n", NULL);
    assert_true(desktop_entry_visible(&e, "Redox"));
    parse_ok("[Desktop Entry]\nType=Application\nName=a\nExec=a\nNotShowIn=Redox;\n", NULL);
    assert_false(desktop_entry_visible(&e, "Redox"));
    parse_ok("[Desktop Entry]\nType=Link\nName=a\nURL=x\n", NULL);
    assert_false(desktop_entry_visible(&e, "Redox"));
    /* Actions are another group: their Exec never replaces the entry's */
    parse_ok("[Desktop Entry]\nType=Application\nName=a\nExec=a\n[Desktop Action x]\nExec=rm -rf /\n", NULL);
    assert_string_equal(e.exec_argv[0], "a");
}

static void hostile(void **s)
{
    (void)s;
    parse_err("Name=x\n", "no [Desktop Entry] group");
    parse_err("[Desktop Entry\n", "malformed group header");
    parse_err("[Desktop Entry]\nName=x\nTerminal=maybe\n", "Terminal: not true or false");
    parse_err("[Desktop Entry]\nNa me=x\n", "invalid key name");
    char *big = malloc(DESKTOP_MAX_BYTES + 100);
    memset(big, 'a', DESKTOP_MAX_BYTES + 99);
    big[DESKTOP_MAX_BYTES + 99] = 0;
    parse_err(big, "larger than");
    snprintf(big, 2000, "[Desktop Entry]\nName=%01000d\n", 0);
    parse_err(big, "Name: value too long");
    free(big);
    char nul[] = "[Desktop Entry]\nName=a\\\0b\n";
    char err[128];
    assert_int_equal(desktop_entry_parse(nul, sizeof nul - 1, NULL, &e, err, sizeof err), -1);
}

static void safe_ids(void **s)
{
    (void)s;
    char out[64];
    assert_true(desktop_safe_id("org.gnome.Files.desktop", out, sizeof out));
    assert_string_equal(out, "org.gnome.Files");
    assert_true(desktop_safe_id("../../etc/passwd", out, sizeof out));
    assert_null(strchr(out, '/'));
    assert_true(out[0] != '.');
    assert_false(desktop_safe_id("///", out, sizeof out));
    assert_true(desktop_safe_id("a;rm -rf $(x)", out, sizeof out));
    assert_string_equal(out, "a_rm_-rf___x_");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(btop),       cmocka_unit_test(localized_name),
        cmocka_unit_test(exec_quoting_and_codes), cmocka_unit_test(visibility),
        cmocka_unit_test(hostile),    cmocka_unit_test(safe_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
