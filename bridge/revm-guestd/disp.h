/* The display helper (PROTOCOL.md, Display service): `revm-guestd --service display ARG`.
 * guest_disp_main speaks the records on stdin/stdout; a backend does the KMS work: the real one
 * (disp_kms.c) drives a DRM card with dumb buffers, the fake one (disp_fake.c, ARG "fake" or
 * "fake:DUMP.ppm") keeps buffers in memory so the host side is testable without a VM. */
#ifndef BRIDGE_REVM_GUESTD_DISP_H
#define BRIDGE_REVM_GUESTD_DISP_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct guest_disp_backend guest_disp_backend;

typedef struct guest_disp_ops {
    /* Lists the connectors: id, connected, name and modes (within the protocol's bounds:
     * truncated, names sanitized); cur_* left 0. 0, or -errno with err. */
    int (*probe)(guest_disp_backend *b, proto_disp_conn *c, size_t max, size_t *n, char *err,
                 size_t errlen);
    /* Scans out a new black buffer in the listed mode m on connector id, replacing the one it
     * had; *fb (pitch bytes per row) stays mapped until the next set_mode or release. */
    int (*set_mode)(guest_disp_backend *b, uint32_t id, const proto_disp_mode *m, uint8_t **fb,
                    uint32_t *pitch, char *err, size_t errlen);
    /* The rectangle changed in the buffer: make it visible. */
    int (*dirty)(guest_disp_backend *b, uint32_t id, const proto_disp_rect *r, char *err,
                 size_t errlen);
    /* Forgets the connector's buffer (it vanished). */
    void (*release)(guest_disp_backend *b, uint32_t id);
    void (*close)(guest_disp_backend *b);
} guest_disp_ops;

struct guest_disp_backend {
    const guest_disp_ops *ops;
};

/* Opens the DRM card at path (becoming its master). NULL with err. */
guest_disp_backend *guest_disp_kms_open(const char *path, char *err, size_t errlen);
/* spec: "fake" or "fake:PATH" (PATH gets a PPM of connector 1 after every dirty). */
guest_disp_backend *guest_disp_fake_open(const char *spec, char *err, size_t errlen);

/* Keeps the first PROTO_DISP_MAX_MODES of the n modes (dropping duplicates and any outside
 * the protocol's bounds), the preferred one always among them. Returns the count kept. */
size_t guest_disp_pick_modes(const proto_disp_mode *in, size_t n, proto_disp_mode *out);
/* Turns a name into 1..32 bytes of [A-Za-z0-9._-] ("_" for anything else). */
void guest_disp_sanitize_name(const char *in, char out[PROTO_DISP_MAX_NAME + 1]);

int guest_disp_main(const char *arg, uint32_t flags);

#endif
