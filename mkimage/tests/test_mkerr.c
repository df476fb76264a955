/* The error contract every module relies on: one line, whatever untrusted text it quotes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mkerr.h"

static void quoted_control_chars_become_one_line(void **state)
{
    (void)state;
    mk_err err = {""};
    /* Found by fuzz_extract: libarchive's error names an archive's xattr, newline and all. */
    assert_int_equal(mk_fail(&err, "%s: cannot write entry: %s", "dest",
                             "Cannot restore extended attributes: use\n0a\r\x1b[2Jcomment\x7f"),
                     -1);
    assert_string_equal(err.msg, "dest: cannot write entry: Cannot restore extended "
                                 "attributes: use?0a??[2Jcomment?");
    assert_int_equal(mk_fail_errno(&err, 2, "file\n%s", "name\t"), -1);
    assert_string_equal(err.msg, "file?name?: No such file or directory");
}

static void text_is_kept(void **state)
{
    (void)state;
    mk_err err = {""};
    mk_fail(&err, "caf\xc3\xa9: \"quoted\" 100%%");
    assert_string_equal(err.msg, "caf\xc3\xa9: \"quoted\" 100%");
    assert_int_equal(mk_fail(NULL, "no buffer"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quoted_control_chars_become_one_line),
        cmocka_unit_test(text_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
