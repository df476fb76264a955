/* Host to guest records of the window service (win.h): the back ends' input, focus, resize,
 * close and clipboard, one whole record per call on the service socket. */
#include "win.h"

#include <errno.h>
#include <stdlib.h>

#include "cm_io.h"

static int send_msg(int fd, const proto_win_msg *m)
{
    uint8_t buf[64];
    size_t n = proto_win_encode(buf, sizeof buf, 0, m);
    if (!n) {
        errno = EINVAL;
        return -1;
    }
    return cm_send_all(fd, buf, n); /* no SIGPIPE: a library's caller may not ignore it */
}

int win_send_key(int fd, uint32_t id, bool down, uint32_t keysym)
{
    return send_msg(fd, &(proto_win_msg){.type = PROTO_WIN_KEY, .id = id, .flags = down, .aux = keysym});
}

int win_send_pointer(int fd, uint32_t id, int32_t x, int32_t y, uint8_t button, bool down)
{
    return send_msg(fd, &(proto_win_msg){.type = PROTO_WIN_POINTER, .id = id, .x = x, .y = y,
                                         .flags = button, .down = down});
}

int win_send_focus(int fd, uint32_t id, bool focused)
{
    return send_msg(fd, &(proto_win_msg){.type = PROTO_WIN_FOCUS, .id = id, .flags = focused});
}

int win_send_resize(int fd, uint32_t id, uint16_t w, uint16_t h)
{
    return send_msg(fd, &(proto_win_msg){.type = PROTO_WIN_RESIZE, .id = id, .w = w, .h = h});
}

int win_send_close(int fd, uint32_t id)
{
    return send_msg(fd, &(proto_win_msg){.type = PROTO_WIN_CLOSE, .id = id});
}

int win_send_refresh(int fd, uint32_t id)
{
    return send_msg(fd, &(proto_win_msg){.type = PROTO_WIN_REFRESH, .id = id});
}

int win_send_clipboard(int fd, const char *text, size_t n)
{
    if (n > PROTO_WIN_MAX_CLIP) {
        errno = EMSGSIZE;
        return -1;
    }
    size_t cap = PROTO_REC_HDR + 4 + n;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -1;
    proto_win_msg m = {.type = PROTO_WIN_CLIPBOARD, .s1 = {text, (uint32_t)n}};
    size_t len = proto_win_encode(buf, cap, 0, &m);
    int rc = len ? cm_send_all(fd, buf, len) : (errno = EINVAL, -1);
    free(buf);
    return rc;
}
