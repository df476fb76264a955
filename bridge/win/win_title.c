/* Host window titles from guest text (win.h): a guest must not be able to pass for a host
 * window, break a title bar or a log line, so control characters and broken UTF-8 become '?',
 * and every title says which VM it comes from. */
#include "win.h"

#include <stdio.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at p (n bytes left), or 0 when malformed (overlong
 * forms, surrogates, code points above U+10FFFF, truncation). *bad is set when it is a
 * character no title may hold: C0 and C1 controls, DEL, line/paragraph separators and
 * bidirectional overrides (which could make a title read as another). */
static size_t utf8_seq(const unsigned char *p, size_t n, bool *bad)
{
    unsigned c = p[0];
    *bad = false;
    if (c < 0x80) {
        *bad = c < 0x20 || c == 0x7f;
        return 1;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *bad = (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
    return len;
}

/* Each malformed byte, and each forbidden character whole, becomes one '?'. */
void win_text_sanitize(const char *in, size_t n, char *out, size_t cap)
{
    if (!cap)
        return;
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0, i = 0;
    while (i < n) {
        bool bad;
        size_t k = utf8_seq(p + i, n - i, &bad);
        size_t emit = k && !bad ? k : 1;
        if (o + emit > cap - 1)
            break;
        if (k && !bad)
            memcpy(out + o, p + i, k);
        else
            out[o] = '?';
        o += emit;
        i += k ? k : 1;
    }
    out[o] = 0;
}

void win_title_sanitize(const char *in, size_t n, const char *fallback, const char *vm,
                        char *out, size_t cap)
{
    /* The VM's name gets the room the guest part leaves, so the " (NAME VM)" mark is never cut
     * off the end however long the guest's title is. */
    char text[WIN_TITLE_CUT + 1], name[WIN_TITLE_MAX - WIN_TITLE_CUT - sizeof " ( VM)" + 1];
    _Static_assert(sizeof name > 8, "WIN_TITLE_MAX leaves no room for the VM's name");
    win_text_sanitize(in, n, text, sizeof text);
    if (!text[0])
        win_text_sanitize(fallback, strlen(fallback), text, sizeof text);
    if (!text[0])
        snprintf(text, sizeof text, "window");
    win_text_sanitize(vm, strlen(vm), name, sizeof name);
    snprintf(out, cap, "%s (%s VM)", text, name);
}
