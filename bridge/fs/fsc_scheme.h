/* The filesystem service as a Redox scheme (/scheme/ext4.data/, /scheme/linux-app/): a
 * scheme_ops table (bridge/scheme/) over the portable client (fsc.h). On Redox the daemon
 * registers it with scheme_redox_create + scheme_loop_serve; on Linux the scheme harness
 * feeds it request packets (bridge/tests/test_fs_scheme.c).
 *
 * Paths arrive normalized by the scheme layer and are walked here one LOOKUP at a time
 * (symlinks resolved within the volume). Permissions are the scheme's job on Redox: every
 * open, create, unlink, chmod and chown is checked against the volume's modes and owners for
 * the caller's uid/gid (scheme_perm_check), since the guest serves everything as root. */
#ifndef BRIDGE_FS_FSC_SCHEME_H
#define BRIDGE_FS_FSC_SCHEME_H

#include "fsc.h"
#include "scheme_server.h"

extern const scheme_ops fsc_scheme_ops; /* svc pointer: the fsc * */

#endif
