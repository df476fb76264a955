/* revm-init's messages, fatal path and clock (init-util.h). */
#include "init-util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#include "cm_text.h"

bool debug;

void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    cm_voneline(line, sizeof line - 1, fmt, ap); /* kernel command-line words are quoted */
    va_end(ap);
    size_t n = strlen(line);
    line[n++] = '\n';
    /* One write() per line, so the message is never interleaved with kernel output. */
    (void)!write(2, line, n);
}

/* PID 1 must never exit (the kernel would panic); power off instead. */
_Noreturn void die(const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    say("revm-init: fatal: %s; powering off", msg);
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Milliseconds: integers keep printf's floating-point code out of the binary. */
long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
