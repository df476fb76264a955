/* The device inventory as the host shows it (`revm devices`): one line per device the driver
 * VM offers, from a DEV_ADD record (PROTOCOL.md, Device service). Portable. */
#ifndef BRIDGE_DEV_DEV_INV_H
#define BRIDGE_DEV_DEV_INV_H

#include <stddef.h>

#include "proto.h"

/* "KIND NAME DRIVER DETAIL STATE" with fixed-width columns, no newline. Untrusted text from
 * the guest was checked by the decoder (printable, bounded). */
void dev_inv_format(const proto_dev_info *d, char *out, size_t cap);
/* The header line matching dev_inv_format's columns. */
const char *dev_inv_header(void);

#endif
