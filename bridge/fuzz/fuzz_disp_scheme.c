/* The Redox display.* adapter's request decoding (display/disp_scheme.c): paths ("V.S",
 * "mode.S"), mode text written to "mode.S", and Damage rectangles (4 x u32 from any caller)
 * clipped to the screen. Whatever is accepted must be inside its bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "display/disp_scheme.h"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[64];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = 0;
    bool mode_file;
    unsigned vt, screen;
    if (disp_scheme_parse_path(text, &mode_file, &vt, &screen) && (vt > 99999 || screen > 99999))
        __builtin_trap();
    uint16_t w, h, r;
    if (disp_scheme_parse_mode((const char *)data, size, &w, &h, &r) &&
        (!w || !h || w > PROTO_DISP_MAX_DIM || h > PROTO_DISP_MAX_DIM || r > PROTO_DISP_MAX_REFRESH))
        __builtin_trap();
    /* Damage: screen size from the first 4 bytes (bounded like a mode), then rectangles. */
    if (size < 4)
        return 0;
    uint32_t sw = (uint32_t)(data[0] | data[1] << 8) % PROTO_DISP_MAX_DIM + 1;
    uint32_t sh = (uint32_t)(data[2] | data[3] << 8) % PROTO_DISP_MAX_DIM + 1;
    for (size_t off = 4; off + 16 <= size; off += 16) {
        uint32_t x = le32(data + off), y = le32(data + off + 4), cw = le32(data + off + 8),
                 ch = le32(data + off + 12);
        if (!disp_scheme_clip(sw, sh, &x, &y, &cw, &ch))
            continue;
        if (x >= sw || y >= sh || cw < 1 || ch < 1 || (uint64_t)x + cw > sw || (uint64_t)y + ch > sh)
            __builtin_trap();
    }
    return 0;
}
