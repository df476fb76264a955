/* One-line messages: every error this project prints is one line naming the thing and the
 * reason, and much of what it quotes (guest text, archive entry names, library errors) is
 * untrusted. */
#ifndef COMMON_CM_TEXT_H
#define COMMON_CM_TEXT_H

#include <stdarg.h>
#include <stddef.h>

/* vsnprintf into out[cap], then every control character (newline, escape, DEL...) becomes
 * '?', so the result can neither break the line nor drive a terminal. Returns out. */
char *cm_oneline(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
char *cm_voneline(char *out, size_t cap, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
/* The same cleaning for a buffer already filled (n bytes, or up to its NUL). */
void cm_sanitize(char *s, size_t n);
/* Copies n bytes of untrusted text (not NUL-terminated, e.g. a wire string) into dst[cap],
 * cut to fit, NUL-terminated and cleaned; a NUL inside becomes '?' too. Returns dst. */
char *cm_copy_text(char *dst, size_t cap, const char *src, size_t n);

#endif
