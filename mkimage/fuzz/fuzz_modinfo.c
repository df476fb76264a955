/* libFuzzer target for the kernel-module metadata decoders (modinfo.h), which read
 * untrusted kernel packages: the ELF .modinfo section and its key=value strings,
 * depends= and softdep= lists, modules.dep, modules.alias and modules.builtin lines,
 * module names from paths, the package entry path rule of kernel.c, and the appended
 * signature trailer (kmod_sig.h). The same
 * bytes are fed to every decoder: a crafted module and a crafted text index are both
 * reachable. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "kmod_sig.h"
#include "modinfo.h"

static size_t sink; /* keeps the callbacks' reads observable */

static int on_name(const char *p, size_t len, void *c)
{
    (void)c;
    sink += len ? (unsigned char)p[len - 1] : 0;
    return 0;
}

static int on_soft(const char *p, size_t len, bool post, void *c)
{
    (void)c;
    sink += len + post + (len ? (unsigned char)p[0] : 0);
    return 0;
}

static int on_kv(const char *k, size_t kl, const char *v, size_t vl, void *c)
{
    (void)c;
    if (kl == 7 && memcmp(k, "depends", 7) == 0)
        modinfo_split(v, vl, on_name, NULL);
    else if (kl == 7 && memcmp(k, "softdep", 7) == 0)
        modinfo_softdeps(v, vl, on_soft, NULL);
    sink += kl + vl;
    return 0;
}

static int on_dep(const char *p, size_t pl, const char *d, size_t dl, void *c)
{
    (void)c;
    char name[256];
    sink += modname_from_path(p, pl, name, sizeof name);
    modinfo_split(d, dl, on_name, NULL);
    return 0;
}

static int on_alias(const char *a, size_t al, const char *m, size_t ml, void *c)
{
    (void)c;
    sink += al + ml + (unsigned char)a[0] + (unsigned char)m[ml - 1];
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *sec;
    size_t sl;
    if (modinfo_section(data, size, &sec, &sl) == 0)
        modinfo_each(sec, sl, on_kv, NULL);
    modinfo_each((const char *)data, size, on_kv, NULL);
    moddep_parse((const char *)data, size, on_dep, NULL);
    modalias_parse((const char *)data, size, on_alias, NULL);
    modbuiltin_parse((const char *)data, size, on_name, NULL);
    size_t unsigned_len = kmod_unsigned_len(data, size);
    if (unsigned_len > size)
        abort();
    sink += unsigned_len;
    char name[64];
    sink += modname_from_path((const char *)data, size, name, sizeof name);
    if (size < 8192) {
        char *s = malloc(size + 1);
        if (s) {
            memcpy(s, data, size);
            s[size] = '\0';
            const char *p = kernel_pkg_path_ok(s);
            sink += p ? strlen(p) : 0;
            free(s);
        }
    }
    return 0;
}
