/* Module signatures in the initramfs (kmod_sig.h). */
#include "kmod_sig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_file.h"

#define SIG_MAGIC "~Module signature appended~\n"
#define SIG_MAGIC_LEN (sizeof SIG_MAGIC - 1)
/* struct module_signature: algo, hash, id_type, signer_len, key_id_len, pad[3], __be32 sig_len */
#define SIG_INFO_LEN 12
/* Kernel configs are a few hundred KB. */
#define MAX_CONFIG_BYTES (8u << 20)

size_t kmod_unsigned_len(const unsigned char *data, size_t len)
{
    if (len < SIG_MAGIC_LEN + SIG_INFO_LEN ||
        memcmp(data + len - SIG_MAGIC_LEN, SIG_MAGIC, SIG_MAGIC_LEN) != 0)
        return len;
    const unsigned char *info = data + len - SIG_MAGIC_LEN - SIG_INFO_LEN;
    size_t sig_len = (size_t)info[8] << 24 | (size_t)info[9] << 16 | (size_t)info[10] << 8 |
                     info[11];
    size_t trailer = SIG_MAGIC_LEN + SIG_INFO_LEN;
    if (sig_len > len - trailer)
        return len;
    return len - trailer - sig_len;
}

bool kmod_kernel_loads_unsigned(const kernel_tree *k)
{
    char path[PATH_MAX + 160];
    int n = snprintf(path, sizeof path, "%s/boot/config-%s", k->root, k->version);
    if (n < 0 || (size_t)n >= sizeof path)
        return false;
    size_t len = 0;
    char *config = cm_read_file(path, MAX_CONFIG_BYTES, &len);
    if (!config)
        return false;
    static const char force[] = "CONFIG_MODULE_SIG_FORCE=y";
    bool forced = false;
    for (const char *line = config; line && *line && !forced;) {
        forced = strncmp(line, force, sizeof force - 1) == 0 &&
                 (line[sizeof force - 1] == '\n' || line[sizeof force - 1] == '\0');
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    free(config);
    return !forced;
}
