/* The guest's desktop service (PROTOCOL.md, Desktop service): lists the applications installed
 * in the VM and reports changes. It runs as a child process of revm-guestd
 * (`revm-guestd --desktop-service`), started through the exec machinery when the host opens
 * service 4, so the channel's flow control, hang-up and reaping are the exec channel's: this
 * program only writes records to stdout (blocking writes: the pipe is the back-pressure). */
#ifndef BRIDGE_REVM_GUESTD_DESKTOP_H
#define BRIDGE_REVM_GUESTD_DESKTOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_DESKTOP_ARG "--desktop-service"
#define GUEST_DESKTOP_NAME "Redox" /* the desktop OnlyShowIn/NotShowIn are matched against */
#define GUEST_DESKTOP_MAX_APPS 4096

/* Entry point of `revm-guestd --desktop-service`: data dirs from $XDG_DATA_DIRS (default
 * /usr/local/share:/usr/share), locale from the environment or /etc/default/locale. */
int guest_desktop_main(void);

/* The daemon's side: turns a desktop OPEN request (after the u16 service) into the exec request
 * that starts this service as a child. false when the request is malformed. */
struct proto_exec_open;
bool guest_desktop_request(const uint8_t *p, size_t n, struct proto_exec_open *req);

/* The service itself: initial list, SYNC_DONE, then inotify-driven updates written to out_fd
 * until writing fails (the channel is gone). data_dirs is colon-separated; locale may be NULL. */
int guest_desktop_run(int out_fd, const char *data_dirs, const char *locale);

/* Icon lookup: path of the best icon file for icon (a name or an absolute path) under the data
 * dirs: hicolor first, PNG at 48 to 64 px preferred, other PNG sizes, SVG, other themes, then
 * pixmaps. Writes "png"/"svg" to ext. Returns 0 or -1 when none exists. */
int guest_desktop_find_icon(const char *icon, const char *data_dirs, char *out, size_t cap,
                            char ext[4]);

#endif
