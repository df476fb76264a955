/* Wall-clock interposers: every "now" the tools write into the image (root directory
 * and tree-root times, superblock and ext4 group times) becomes SOURCE_DATE_EPOCH.
 * Monotonic clocks are untouched: timeouts and progress timers still work. */
#include "repro.h"

#include <sys/time.h>

time_t time(time_t *out)
{
    const repro_config *c = repro_get();
    time_t t;
    if (c->active) {
        t = c->epoch;
    } else {
        static time_t (*next)(time_t *);
        if (!next)
            next = repro_next("time");
        t = next(NULL);
    }
    if (out)
        *out = t;
    return t;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    const repro_config *c = repro_get();
    if (!c->active) {
        static int (*next)(struct timeval *, void *);
        if (!next)
            next = repro_next("gettimeofday");
        return next(tv, tz);
    }
    /* glibc declares tv non-null. */
    tv->tv_sec = c->epoch;
    tv->tv_usec = 0;
    (void)tz;
    return 0;
}

int clock_gettime(clockid_t clock, struct timespec *ts)
{
    static int (*next)(clockid_t, struct timespec *);
    const repro_config *c = repro_get();
    if (c->active && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) {
        ts->tv_sec = c->epoch;
        ts->tv_nsec = 0;
        return 0;
    }
    if (!next)
        next = repro_next("clock_gettime");
    return next(clock, ts);
}
