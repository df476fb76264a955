/* Host-side decoding of the desktop service (PROTOCOL.md, Desktop service): a hostile guest's
 * stream-1 bytes through the record reassembler, in chunks chosen by the input, then each
 * application's desktop text through the parser the supervisor uses. Every decoded record
 * must respect its bounds; nothing may crash, hang or grow. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "desktop/desktop_entry.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[PROTO_APP_STREAM_BUF];
    static desktop_entry e;
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    proto_app_stream s;
    proto_app_stream_init(&s, buf);
    for (size_t off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk, used;
        proto_app_event ev;
        int r = proto_app_stream_feed(&s, data + off, n, &used, &ev);
        if (r == PROTO_BAD_FRAME)
            break;
        if (used == 0 && r != PROTO_FRAME)
            __builtin_trap(); /* no progress: would hang the supervisor */
        off += used;
        if (r != PROTO_FRAME)
            continue;
        if (ev.type == PROTO_APP_ADD) {
            if (!proto_app_id_ok(ev.id.s, ev.id.n) || ev.text_len > PROTO_APP_MAX_TEXT ||
                ev.icon_len > PROTO_APP_MAX_ICON)
                __builtin_trap();
            char err[200], id[128];
            if (desktop_entry_parse((const char *)ev.text, ev.text_len, NULL, &e, err, sizeof err) == 0 &&
                desktop_safe_id(e.name, id, sizeof id) && strchr(id, '/'))
                __builtin_trap();
        } else if (ev.type == PROTO_APP_REMOVE && !proto_app_id_ok(ev.id.s, ev.id.n)) {
            __builtin_trap();
        }
    }
    return 0;
}
