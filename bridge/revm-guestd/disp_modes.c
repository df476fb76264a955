/* Bounding what a DRM driver reports to what the display protocol carries (PROTOCOL.md,
 * Display service): the host refuses anything outside the bounds, so the guest trims first. */
#include <string.h>

#include "disp.h"

static bool mode_in_bounds(const proto_disp_mode *m)
{
    return m->w >= 1 && m->h >= 1 && m->w <= PROTO_DISP_MAX_DIM && m->h <= PROTO_DISP_MAX_DIM &&
           m->refresh <= PROTO_DISP_MAX_REFRESH;
}

size_t guest_disp_pick_modes(const proto_disp_mode *in, size_t n, proto_disp_mode *out)
{
    size_t k = 0;
    bool have_pref = false;
    for (size_t i = 0; i < n; i++) {
        proto_disp_mode m = in[i];
        if (!mode_in_bounds(&m))
            continue;
        bool pref = m.flags & PROTO_DISP_MODE_PREFERRED;
        if (pref && have_pref)
            m.flags = 0, pref = false; /* one preferred mode: the first */
        m.flags &= PROTO_DISP_MODE_PREFERRED;
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            if (out[j].w == m.w && out[j].h == m.h && out[j].refresh == m.refresh) {
                dup = true;
                if (pref)
                    out[j].flags = PROTO_DISP_MODE_PREFERRED, have_pref = true;
            }
        if (dup)
            continue;
        if (k < PROTO_DISP_MAX_MODES) {
            out[k++] = m;
            have_pref |= pref;
        } else if (pref) {
            out[PROTO_DISP_MAX_MODES - 1] = m; /* the preferred mode is never cut */
            have_pref = true;
        }
    }
    return k;
}

void guest_disp_sanitize_name(const char *in, char out[PROTO_DISP_MAX_NAME + 1])
{
    size_t n = 0;
    for (; in[n] && n < PROTO_DISP_MAX_NAME; n++)
        out[n] = proto_disp_name_char(in[n]) ? in[n] : '_';
    if (n == 0)
        out[n++] = '_';
    out[n] = 0;
}
