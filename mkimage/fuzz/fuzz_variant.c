/* libFuzzer target: the variant file parser (inih plus mkimage's own checks) on
 * arbitrary bytes, and the install-spec splitter on the same bytes. Must never
 * crash, hang or leak; errors are fine. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "variant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    variant v;
    mk_err err;
    if (variant_parse((const char *)data, size, "fuzz.ini", &v, &err) == 0) {
        /* Whatever parsed must satisfy the invariants consumers rely on. */
        if (!variant_name_valid(v.name))
            abort();
        for (size_t i = 0; i < v.keep.n; i++)
            if (v.keep.v[i][0] != '/' || strstr(v.keep.v[i], "/../"))
                abort();
        variant_free(&v);
    }
    if (size < 512) {
        char spec[512], src[256], dest[256];
        unsigned mode;
        memcpy(spec, data, size);
        spec[size] = 0;
        if (install_spec_parse(spec, src, sizeof src, dest, sizeof dest, &mode, &err) == 0 &&
            (dest[0] != '/' || mode > 07777))
            abort();
    }
    return 0;
}
