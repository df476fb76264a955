/* The daemon's log: one line per event on stderr (runit's log service or the console). */
#include "guestd.h"

#include <stdarg.h>
#include <stdio.h>

bool guest_log_quiet;

void guest_log(const char *fmt, ...)
{
    if (guest_log_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("revm-guestd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
