/* A Linux TAP interface standing for a NIC the driver VM offers: frames written to the fd go
 * out of the host's stack, frames the host's stack sends come out of it. */
#ifndef BRIDGE_LINUX_TAP_H
#define BRIDGE_LINUX_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Creates (or attaches to) TAP interface `name`, without packet info headers, and brings it
 * up. Non-blocking fd, or -1 with err. */
int tap_open(const char *name, char *err, size_t errlen);
/* Gives the interface the NIC's MAC and MTU and its link state (carrier). 0, or -1 with err. */
int tap_configure(int fd, const char *name, const uint8_t mac[6], uint32_t mtu, bool link,
                  char *err, size_t errlen);

#endif
