/* What every part of revm-init uses: one-line messages, the fatal path, time. */
#ifndef REVM_INIT_UTIL_H
#define REVM_INIT_UTIL_H

#include <stdbool.h>

/* revm.debug on the kernel command line: per-step lines (module load times, mounts). */
extern bool debug;

/* One line on stderr (the console), written with one write(). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define info(...) (debug ? say("revm-init: " __VA_ARGS__) : (void)0)

/* Prints "revm-init: fatal: ...; powering off" and powers the VM off: PID 1 must never exit. */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void sleep_ms(long ms);
long now_ms(void); /* CLOCK_MONOTONIC in milliseconds */

#endif
