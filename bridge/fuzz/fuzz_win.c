/* The host side of the window service against a hostile guest (PROTOCOL.md, Window service):
 * record bytes through the reassembler into the window table, whose back end checks that
 * every rectangle it is handed lies inside its window, and reads every pixel of it (so
 * ASan sees any framebuffer overrun). The table keeps its windows across records of one input,
 * so create, damage, resize and destroy sequences are explored. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz/fuzz_records.h"
#include "proto.h"
#include "win/win.h"

static uint32_t sink;

static void present(void *ctx, win_window *w, int x, int y, int rw, int rh)
{
    (void)ctx;
    if (x < 0 || y < 0 || rw < 1 || rh < 1 || x + rw > w->w || y + rh > w->h)
        __builtin_trap();
    for (int r = 0; r < rh; r++)
        for (int c = 0; c < rw; c++)
            sink += w->px[(size_t)(y + r) * w->w + (size_t)(x + c)];
}

static void title(void *ctx, win_window *w)
{
    (void)ctx;
    size_t n = strlen(w->title);
    if (n >= WIN_TITLE_MAX || n < 4 || strcmp(w->title + n - 4, " VM)") != 0)
        __builtin_trap(); /* too long, or the VM's mark is missing */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)w->title[i] < 0x20 || w->title[i] == 0x7f)
            __builtin_trap();
}

static void handle(void *t, const proto_rec *r)
{
    win_handle(t, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[4 + PROTO_WIN_MAX_RECORD];
    static win_table t;
    static const win_backend be = {.present = present, .title = title};
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 97 + 1;
    data++, size--;
    win_table_init(&t, &be, "app", -1);
    fuzz_feed_records(buf, PROTO_WIN_MAX_RECORD, data, size, chunk, handle, &t);
    if (t.count > PROTO_WIN_MAX_WINDOWS || t.total_px > WIN_MAX_TOTAL_PIXELS)
        __builtin_trap();
    win_table_free(&t);
    return 0;
}
