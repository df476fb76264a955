/* libFuzzer target for the xbps repository index readers: the XML plist parser
 * (plist.c), the index lookup (xbps_index_find), index-meta/key file public keys and
 * their fingerprints, Void's version order, and the repodata archive reader. All of
 * it comes from a mirror. Each reader gets its own exact-size heap copy (the parser
 * writes into its buffer), so any read past the end is caught by ASan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plist.h"
#include "xbps_index.h"
#include "xbps_sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *copy(const uint8_t *data, size_t size)
{
    char *b = malloc(size ? size : 1);
    if (b && size)
        memcpy(b, data, size);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    mk_err err;
    char *b = copy(data, size);
    if (!b)
        return 0;
    plist p;
    if (plist_parse(b, size, &p, &err) == 0) {
        /* Walk every dict: keys and values must be consistent node indices. */
        for (uint32_t i = 1; i < p.count; i++) {
            uint32_t it = 0, k, v;
            while (plist_dict_next(&p, i, &it, &k, &v))
                if (!k || !v || k >= p.count || v >= p.count || p.n[k].type != PLIST_KEY)
                    abort();
        }
        plist_free(&p);
    } else if (!err.msg[0]) {
        abort();
    }
    free(b);

    b = copy(data, size);
    xbps_pkg pkg;
    if (b && xbps_index_find(b, size, "linux6.12", "x86_64-musl", &pkg, &err) == 0) {
        /* What is used in URLs is always safe. */
        if (strchr(pkg.pkgver, '/') || strlen(pkg.sha256) != 64 || !xbps_name_ok(pkg.name))
            abort();
        (void)xbps_cmpver(pkg.pkgver, "linux6.12-6.12.11_1");
    }
    free(b);

    b = copy(data, size);
    char pem[XBPS_PUBKEY_MAX], fp[XBPS_FP_LEN + 1], signer[64];
    size_t pl;
    if (b && xbps_meta_pubkey(b, size, pem, sizeof pem, &pl, signer, sizeof signer, &err) == 0)
        (void)xbps_key_fingerprint(pem, pl, fp, &err);
    free(b);

    char *idx, *meta;
    size_t il, ml;
    if (xbps_repodata_read(data, size, "fuzz", &idx, &il, &meta, &ml, &err) == 0) {
        free(idx);
        free(meta);
    }
    return 0;
}
