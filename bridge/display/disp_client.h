/* Host side of the display service (PROTOCOL.md, Display service): a client over the
 * service's record socket (rb_svc_fd, or a locally spawned helper). Blocking calls; events
 * (HOTPLUG) that arrive while waiting for a reply are kept and reported by disp_client_event.
 *
 * Everything the guest sends is checked (proto_disp_dec_*) and a reply that breaks the
 * protocol leaves the client broken: every later call fails with the same one-line reason
 * (disp_client_why), and the caller should close the service. */
#ifndef BRIDGE_DISPLAY_DISP_CLIENT_H
#define BRIDGE_DISPLAY_DISP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct disp_client disp_client;

/* fd: the service socket (not owned). NULL when out of memory. */
disp_client *disp_client_new(int fd);
void disp_client_free(disp_client *c);
int disp_client_fd(const disp_client *c);
/* "" while usable; else why the client is broken. */
const char *disp_client_why(const disp_client *c);

/* Errors from these calls: -1 with err set; *guest_code the guest's errno for an ERROR reply
 * (0 when the failure was the transport or a protocol fault: the client is then broken). */
int disp_list(disp_client *c, proto_disp_conn *out, size_t max, size_t *n, int *guest_code,
              char *err, size_t errlen);
/* w = h = 0: the preferred mode. *got: the mode the guest set. */
int disp_set_mode(disp_client *c, uint32_t conn, uint16_t w, uint16_t h, uint16_t refresh,
                  proto_disp_mode *got, int *guest_code, char *err, size_t errlen);
/* Sends the rectangle (x, y, w, h) of a framebuffer (rows of stride bytes, XRGB8888) as
 * UPDATE bands of whole rows, pipelined, and waits for every OK. */
int disp_update(disp_client *c, uint32_t conn, const uint8_t *fb, size_t stride, uint16_t x,
                uint16_t y, uint16_t w, uint16_t h, int *guest_code, char *err, size_t errlen);

/* Reads records that are ready (when the fd polls readable) without waiting for a reply:
 * returns 1 when a HOTPLUG arrived (its list in *out), 0 when nothing did, -1 when broken. */
int disp_client_event(disp_client *c, proto_disp_conn *out, size_t max, size_t *n);

/* True when a HOTPLUG was absorbed while waiting for a reply (disp_client_event returns it
 * without reading). Check after each call: the fd will not poll readable for it. */
bool disp_client_has_event(const disp_client *c);

/* Finds a connector by name in a list; NULL when absent. */
const proto_disp_conn *disp_find_conn(const proto_disp_conn *c, size_t n, const char *name);
/* The connector's preferred mode, else its first; NULL when it lists none. Front ends ask for
 * it by size rather than with 0x0, so the guest cannot answer with a size it did not list. */
const proto_disp_mode *disp_preferred_mode(const proto_disp_conn *c);
/* The connector a front end shows by default: the first connected one with modes. */
const proto_disp_conn *disp_default_conn(const proto_disp_conn *c, size_t n);

#endif
