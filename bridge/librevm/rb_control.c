/* Control socket codec (rb_control.h). */
#include "rb_control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum rb_ctl_kind rb_ctl_classify(const char *line, const char **text)
{
    if (!strncmp(line, "ok", 2) && (line[2] == 0 || line[2] == ' ')) {
        *text = line[2] ? line + 3 : "";
        return RB_CTL_OK;
    }
    if (!strncmp(line, "error: ", 7)) {
        *text = line + 7;
        return RB_CTL_ERROR;
    }
    if (!strncmp(line, "info: ", 6)) {
        *text = line + 6;
        return RB_CTL_INFO;
    }
    *text = line;
    return RB_CTL_DATA;
}

/* Appends `"value"` with escapes; control characters become '?'. */
static bool put_quoted(char **p, char *end, const char *v)
{
    if (*p >= end)
        return false;
    *(*p)++ = '"';
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '"' || c == '\\') {
            if (end - *p < 2)
                return false;
            *(*p)++ = '\\';
        }
        if (*p >= end)
            return false;
        *(*p)++ = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (*p >= end)
        return false;
    *(*p)++ = '"';
    return true;
}

bool rb_ctl_format_status(const rb_ctl_status *st, char *out, size_t cap)
{
    int n = snprintf(out, cap, "vm=%s state=%s uptime=%llds pid=%ld memory=%uM accel=%s bridge=",
                     st->vm, st->state, st->uptime_s, st->pid, st->memory_mib,
                     st->accel[0] ? st->accel : "-");
    if (n < 0 || (size_t)n >= cap)
        return false;
    char *p = out + n, *end = out + cap - 1;
    if (!put_quoted(&p, end, st->bridge) || end - p < 7)
        return false;
    memcpy(p, " error=", 7);
    p += 7;
    if (!put_quoted(&p, end, st->error))
        return false;
    *p = 0;
    return true;
}

/* Reads one value at *s (quoted or up to a space) into out[cap]; advances *s. */
static bool get_value(const char **s, char *out, size_t cap)
{
    const char *p = *s;
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            if (n + 1 >= cap)
                return false;
            out[n++] = *p;
        }
        if (*p != '"')
            return false;
        p++;
    } else {
        for (; *p && *p != ' '; p++) {
            if (n + 1 >= cap)
                return false;
            out[n++] = *p;
        }
    }
    out[n] = 0;
    *s = p;
    return true;
}

static bool get_number(const char *v, const char *suffix, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    return end != v && !errno && x >= 0 && !strcmp(end, suffix) && (*out = x, true);
}

/* Truncating copy: guest text longer than the field is cut, not refused. */
static void copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

bool rb_ctl_parse_status(const char *line, rb_ctl_status *st)
{
    memset(st, 0, sizeof *st);
    const char *p = line;
    char key[32], val[512];
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t k = strcspn(p, "= ");
        if (p[k] != '=' || k == 0 || k >= sizeof key)
            return false;
        memcpy(key, p, k);
        key[k] = 0;
        p += k + 1;
        if (!get_value(&p, val, sizeof val))
            return false;
        long long num;
        if (!strcmp(key, "vm")) {
            if (strlen(val) >= sizeof st->vm)
                return false;
            strcpy(st->vm, val);
        } else if (!strcmp(key, "state")) {
            if (strlen(val) >= sizeof st->state)
                return false;
            strcpy(st->state, val);
        } else if (!strcmp(key, "uptime")) {
            if (!get_number(val, "s", &num))
                return false;
            st->uptime_s = num;
        } else if (!strcmp(key, "pid")) {
            if (!get_number(val, "", &num))
                return false;
            st->pid = (long)num;
        } else if (!strcmp(key, "memory")) {
            if (!get_number(val, "M", &num) || num > 0xffffffffLL)
                return false;
            st->memory_mib = (unsigned)num;
        } else if (!strcmp(key, "accel")) {
            copy_cut(st->accel, sizeof st->accel, strcmp(val, "-") ? val : "");
        } else if (!strcmp(key, "bridge")) {
            copy_cut(st->bridge, sizeof st->bridge, val);
        } else if (!strcmp(key, "error")) {
            copy_cut(st->error, sizeof st->error, val);
        }
    }
    return st->vm[0] && st->state[0];
}

int rb_ctl_request(int fd, const char *request,
                   void (*on_line)(void *ctx, enum rb_ctl_kind kind, const char *text), void *ctx,
                   char *final, size_t cap)
{
    char line[RB_CTL_LINE_MAX];
    int n = snprintf(line, sizeof line, "%s\n", request);
    if (n < 0 || (size_t)n >= sizeof line || strchr(request, '\n')) {
        snprintf(final, cap, "request too long or not one line");
        return -1;
    }
    if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(final, cap, "lost the connection to the VM supervisor");
        return -1;
    }
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, line + have, sizeof line - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(final, cap, "lost the connection to the VM supervisor");
            return -1;
        }
        have += (size_t)r;
        char *nl;
        while ((nl = memchr(line, '\n', have))) {
            *nl = 0;
            const char *text;
            enum rb_ctl_kind kind = rb_ctl_classify(line, &text);
            if (kind == RB_CTL_OK || kind == RB_CTL_ERROR) {
                snprintf(final, cap, "%s", text);
                return kind == RB_CTL_OK ? 0 : -1;
            }
            if (on_line)
                on_line(ctx, kind, text);
            size_t used = (size_t)(nl - line) + 1;
            memmove(line, line + used, have - used);
            have -= used;
        }
        if (have == sizeof line - 1)
            have = 0; /* an overlong line from the supervisor is dropped, not trusted */
    }
}
