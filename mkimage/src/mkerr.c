#include "mkerr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cm_text.h"

/* Messages quote text from untrusted input (libarchive's errors name an archive's xattrs,
 * servers send reasons): control characters would break the one-line contract or drive the
 * user's terminal, so the shared one-line formatter turns each into '?'. */

int mk_fail(mk_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        cm_voneline(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int mk_fail_errno(mk_err *err, int errnum, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof err->msg)
            snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(errnum));
        cm_sanitize(err->msg, sizeof err->msg);
    }
    return -1;
}
