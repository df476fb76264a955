/* Progress reporting for long work (download, extraction, image writing).
 * Draws a one-line bar on stderr when stderr is a TTY and CI is unset; silent
 * otherwise, so logs in CI stay clean. */
#ifndef MKIMAGE_PROGRESS_H
#define MKIMAGE_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct progress {
    const char *label;
    uint64_t total; /* 0 when unknown: shows a byte counter instead of a percentage */
    uint64_t done;
    uint64_t last_draw_ns;
    bool enabled;
} progress;

/* Global switch from --quiet; default follows isatty(2) and $CI. */
void progress_set_quiet(bool quiet);
void progress_begin(progress *p, const char *label, uint64_t total);
void progress_update(progress *p, uint64_t done); /* rate-limited redraw */
void progress_end(progress *p);                   /* clears the line */

/* Monotonic time in seconds, for the stage timings of the report. */
double progress_now(void);

#endif
