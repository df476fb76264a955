/* The Redox `display.*` scheme over the display service (PROTOCOL.md, Display service): what
 * Redox's own display drivers (vesad, virtio-gpud) offer the window server, for a GPU the
 * driver VM's Linux drives. Written as a scheme_ops table (bridge/scheme/), so it is tested on
 * Linux by feeding request packets (scheme_harness) against the real helper.
 *
 * Files (paths relative to the scheme root):
 *   "V.S"      display S (the S-th connected connector, 0-based) for virtual terminal V (any
 *              number; every VT shares the screen's one framebuffer: the v1 graphics API
 *              keeps one per VT, this adapter does not switch VTs). Opening sets the
 *              connector's preferred mode if the host set none yet.
 *              fpath -> "NAME:V.S/W/H" (graphics-ipc's map_display takes what follows the
 *              ':' and reads W and H after its first '/'); mmap_prep maps the W*H*4 framebuffer (XRGB8888); write of
 *              n * 16 bytes: Damage {u32 x, y, width, height} rectangles, clipped to the
 *              screen, only they cross the bridge; fsync: the whole screen.
 *   "mode.S"   read: "WxH\n" (current) then one listed mode a line ("WxH@R", "*" preferred);
 *              write "WxH" or "WxH@R": a mode change (open displays see the new size in fpath
 *              and must map again; the old mapping stays valid until they do).
 * Hot-plug: disp_scheme_poll (call it when the service fd is readable) re-lists; a screen whose
 * connector vanished answers ENODEV until it comes back. */
#ifndef BRIDGE_DISPLAY_DISP_SCHEME_H
#define BRIDGE_DISPLAY_DISP_SCHEME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "display/disp_client.h"
#include "scheme_server.h"

typedef struct disp_scheme disp_scheme;

/* Lists the connectors over client c (not owned). NULL with err. */
disp_scheme *disp_scheme_new(disp_client *c, const char *scheme_name, char *err, size_t errlen);
void disp_scheme_free(disp_scheme *d);
/* The ops table and its svc pointer (d) for scheme_server_config / scheme_harness_new. */
const scheme_ops *disp_scheme_ops(void);
/* Handles the guest's events (HOTPLUG). -1 when the service is broken. */
int disp_scheme_poll(disp_scheme *d);
/* The daemon loop: requests from the scheme socket (on Redox scheme_redox_create's fd; in
 * tests a SOCK_SEQPACKET socketpair) and events from the service, until the scheme is
 * unmounted (0) or either side fails (-errno; -EIO when the display service ended). s must
 * be a server over disp_scheme_ops() and d. */
int disp_scheme_serve(disp_scheme *d, scheme_server *s, int scheme_fd);

/* The request decoding, pure (unit-tested and fuzzed): a path "V.S" / "mode.S" (decimal, at
 * most 5 digits each, nothing else); mode text "WxH" or "WxH@R" with an optional '\n', within
 * the protocol's bounds; a Damage rectangle clipped to a W x H screen (false: nothing left). */
bool disp_scheme_parse_path(const char *p, bool *mode_file, unsigned *vt, unsigned *screen);
bool disp_scheme_parse_mode(const char *buf, size_t len, uint16_t *w, uint16_t *h, uint16_t *r);
bool disp_scheme_clip(uint32_t sw, uint32_t sh, uint32_t *x, uint32_t *y, uint32_t *w, uint32_t *h);

#endif
