#include "qmp.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QMP_LINE_MAX 65536

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads one line (without the newline) into line[cap]; longer lines are an error because
 * nothing QMP sends us in reply to our commands is that long. */
static int read_line(int fd, char *line, size_t cap, long long deadline)
{
    size_t n = 0;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        char c;
        ssize_t got = read(fd, &c, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        if (c == '\n') {
            line[n] = 0;
            return 0;
        }
        if (n + 1 >= cap)
            return -1;
        line[n++] = c;
    }
}

static int wait_reply(int fd, char *reply, size_t cap, int timeout_ms)
{
    static char line[QMP_LINE_MAX];
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (read_line(fd, line, sizeof line, deadline) < 0)
            return -1;
        if (strstr(line, "\"event\""))
            continue;
        if (reply && cap) {
            snprintf(reply, cap, "%s", line);
        }
        if (strncmp(line, "{\"return\"", 9) == 0)
            return 0;
        if (strncmp(line, "{\"error\"", 8) == 0)
            return -1;
    }
}

int sup_qmp_execute(int fd, const char *command, char *reply, size_t cap, int timeout_ms)
{
    char req[256];
    int n = snprintf(req, sizeof req, "{\"execute\":\"%s\"}\n", command);
    if (n <= 0 || (size_t)n >= sizeof req)
        return -1;
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return -1;
    return wait_reply(fd, reply, cap, timeout_ms);
}

int sup_qmp_open(const char *path, int timeout_ms, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        snprintf(err, errlen, "%s: cannot connect: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    static char greeting[QMP_LINE_MAX];
    if (read_line(fd, greeting, sizeof greeting, now_ms() + timeout_ms) < 0 ||
        !strstr(greeting, "\"QMP\"") ||
        sup_qmp_execute(fd, "qmp_capabilities", NULL, 0, timeout_ms) < 0) {
        snprintf(err, errlen, "%s: QMP handshake failed", path);
        close(fd);
        return -1;
    }
    return fd;
}
