/* .desktop files come from packages inside an untrusted VM: any bytes must parse or fail
 * cleanly, and whatever parses must give bounded, NUL-free argv strings and safe ids. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "desktop/desktop_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static desktop_entry e;
    char err[256];
    if (desktop_entry_parse((const char *)data, size, "de_DE.UTF-8@euro", &e, err, sizeof err) == 0) {
        (void)desktop_entry_visible(&e, "Redox");
        for (size_t i = 0; i < e.exec_argc; i++)
            if (strlen(e.exec_argv[i]) >= sizeof e.exec_argv_buf)
                __builtin_trap();
        char id[64];
        if (desktop_safe_id(e.name, id, sizeof id) && (id[0] == '.' || strchr(id, '/')))
            __builtin_trap();
    }
    return 0;
}
