/* One-line, sanitized messages (cm_text.h). */
#include "cm_text.h"

#include <stdio.h>

void cm_sanitize(char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            s[i] = '?';
    }
}

char *cm_copy_text(char *dst, size_t cap, const char *src, size_t n)
{
    if (!cap)
        return dst;
    size_t k = n < cap - 1 ? n : cap - 1;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    dst[k] = 0;
    return dst;
}

char *cm_voneline(char *out, size_t cap, const char *fmt, va_list ap)
{
    if (!cap)
        return out;
    if (vsnprintf(out, cap, fmt, ap) < 0)
        out[0] = 0;
    cm_sanitize(out, cap);
    return out;
}

char *cm_oneline(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cm_voneline(out, cap, fmt, ap);
    va_end(ap);
    return out;
}
