/* Frames to the host: every part of the daemon queues its output here (outq.c holds it until
 * the port can take it). Kept apart from session.c and chan.c, which both send, so neither
 * depends on the other for it. */
#include "guestd.h"

#include <stdio.h>

bool guest_send(guestd *g, const uint8_t *frame, size_t n)
{
    if (n == 0)
        return false;
    if (!guest_outq_put(&g->out, frame, n)) {
        /* Only a peer that floods us while not reading gets here: give up on it. */
        if (!g->overflow)
            guest_log("output to the host is stuck: dropping the connection");
        g->overflow = true;
        return false;
    }
    return true;
}

void guest_send_error(guestd *g, uint8_t type, uint32_t chan, uint32_t code, const char *text)
{
    uint8_t f[PROTO_HDR_SIZE + 8 + 512];
    /* texts are short and ours; cut anything longer rather than lose the error */
    char t[480];
    snprintf(t, sizeof t, "%s", text ? text : "");
    guest_send(g, f, proto_enc_error(f, sizeof f, type, chan, code, t));
}
