/* Error reporting shared by every mkimage module.
 * A failing function fills an mk_err with one line ("THING: reason") and returns -1;
 * main prints it as "mkimage: THING: reason" and exits non-zero. No module prints
 * errors itself, so a message is never printed twice or half-formed. */
#ifndef MKIMAGE_MKERR_H
#define MKIMAGE_MKERR_H

#include <stddef.h>

typedef struct mk_err {
    char msg[1024];
} mk_err;

/* Formats the message into err (when err is non-NULL) and returns -1. Control characters
 * in the result (from quoted untrusted text) are replaced by '?'. */
int mk_fail(mk_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like mk_fail, appending ": strerror(errnum)". */
int mk_fail_errno(mk_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
