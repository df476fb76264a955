#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int quiet_override = -1; /* -1: decide from the environment */

void progress_set_quiet(bool quiet) { quiet_override = quiet; }

static bool progress_wanted(void)
{
    if (quiet_override >= 0)
        return !quiet_override;
    const char *ci = getenv("CI");
    return isatty(STDERR_FILENO) && !(ci && *ci);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double progress_now(void)
{
    return (double)now_ns() / 1e9;
}

static void draw(progress *p)
{
    double mib = (double)p->done / (1024.0 * 1024.0);
    if (p->total) {
        unsigned pct = (unsigned)(p->done * 100 / p->total);
        if (pct > 100)
            pct = 100;
        int bar = (int)(pct * 30 / 100);
        fprintf(stderr, "\r%-12s [%.*s%*s] %3u%% %8.1f MiB", p->label, bar,
                "##############################", 30 - bar, "", pct, mib);
    } else {
        fprintf(stderr, "\r%-12s %8.1f MiB", p->label, mib);
    }
    fflush(stderr);
}

void progress_begin(progress *p, const char *label, uint64_t total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->last_draw_ns = 0;
    p->enabled = progress_wanted();
}

void progress_update(progress *p, uint64_t done)
{
    p->done = done;
    if (!p->enabled)
        return;
    uint64_t t = now_ns();
    if (t - p->last_draw_ns < 100000000u) /* at most 10 redraws a second */
        return;
    p->last_draw_ns = t;
    draw(p);
}

void progress_end(progress *p)
{
    if (!p->enabled)
        return;
    draw(p);
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}
