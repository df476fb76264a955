/* libFuzzer target for checksum-list parsing (sums_lookup): lists come from any
 * server. Input: optionally "@NAME\n" choosing the file name to look up, then the
 * list. The list is copied to an exact-size heap buffer so that any read past len
 * is caught by ASan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sums.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[256] = "void-x86_64-musl-ROOTFS-20250202.tar.xz";
    if (size > 0 && data[0] == '@') {
        const uint8_t *nl = memchr(data, '\n', size);
        if (nl) {
            size_t n = (size_t)(nl - data) - 1;
            if (n >= sizeof name)
                n = sizeof name - 1;
            memcpy(name, data + 1, n);
            name[n] = 0; /* an embedded NUL just shortens the name */
            size -= (size_t)(nl - data) + 1;
            data = nl + 1;
        }
    }
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    char out[65];
    mk_err err;
    if (sums_lookup(text, size, name, out, &err) == 0) {
        /* A success always yields 64 lowercase hex digits. */
        if (strlen(out) != 64 || strspn(out, "0123456789abcdef") != 64)
            abort();
    } else if (!err.msg[0]) {
        abort(); /* failures always explain themselves */
    }
    free(text);
    return 0;
}
