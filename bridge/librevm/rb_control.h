/* The control socket between revmd and its clients (PROTOCOL.md, "Control socket"): one
 * request line, then reply lines, the last of which is final. Both ends use this codec, so
 * neither parses the other's human-readable text: status is a record of key=value fields,
 * and the one thing a client must know before the final line (a start that really starts a
 * VM) is an `info:` line with a fixed word. */
#ifndef BRIDGE_LIBREVM_RB_CONTROL_H
#define BRIDGE_LIBREVM_RB_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#define RB_CTL_LINE_MAX 1024
#define RB_CTL_NAME_MAX 64

enum rb_ctl_kind {
    RB_CTL_DATA,  /* a data line: a status record, a list entry */
    RB_CTL_INFO,  /* "info: WORD [TEXT]": progress the client may show */
    RB_CTL_OK,    /* "ok[ TEXT]": final, success */
    RB_CTL_ERROR, /* "error: TEXT": final, failure */
};

/* Info words (the first word after "info: "). */
#define RB_CTL_INFO_STARTING "starting" /* a start or restart is booting the VM now */

/* Classifies one reply line (without its newline); *text points at what follows the
 * prefix ("" for a bare "ok"), or at the whole line for data. */
enum rb_ctl_kind rb_ctl_classify(const char *line, const char **text);

/* One VM's status record: `vm=NAME state=STATE uptime=Ns pid=N memory=NM accel=A
 * bridge="AGENT" error="TEXT"`. Quoted values have `"` and `\` escaped with `\` and no
 * control characters (they come from the guest and from QEMU). */
typedef struct rb_ctl_status {
    char vm[RB_CTL_NAME_MAX];
    char state[16];
    long long uptime_s;
    long pid;
    unsigned memory_mib;
    char accel[16];
    char bridge[256];
    char error[256];
} rb_ctl_status;

/* Writes the record (no newline); false when it does not fit in cap. */
bool rb_ctl_format_status(const rb_ctl_status *st, char *out, size_t cap);
/* Parses a record; unknown keys are skipped (newer supervisors may add fields). false when a
 * known field is malformed or vm/state is missing. */
bool rb_ctl_parse_status(const char *line, rb_ctl_status *st);

/* Client side: sends one request line and reads replies until the final one. Each data line
 * goes to on_line(ctx, kind, text) (may be NULL); the final text is copied into final.
 * Returns 0 for ok, -1 for error or a lost connection (the reason in final). */
int rb_ctl_request(int fd, const char *request,
                   void (*on_line)(void *ctx, enum rb_ctl_kind kind, const char *text), void *ctx,
                   char *final, size_t cap);

#endif
