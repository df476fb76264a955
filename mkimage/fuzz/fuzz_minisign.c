/* libFuzzer target for minisign parsing: the input is tried both as a public key
 * and as a signature over a fixed message with a fixed key. The corpus holds real
 * signatures of that message by that key (made with minisign 0.11, prehashed and
 * legacy), so mutations reach the signature and trusted-comment checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "minisign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char MSG[] = "SHA256 (void-x86_64-musl-ROOTFS-20250202.tar.xz) = "
                          "27b2945ea7e2ca2a6ab123ce6f284b255adea2182820da25483d700ffe16e7c2\n";
/* Public half of a throw-away key made for this corpus; its secret was discarded. */
static const char KEY[] = "RWTBLeEbE9o7MAH9/zICmKtZNog0w7Ls4oZgP+GfHl9azvAQEzhl2RSW";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static minisign_pubkey key;
    static int have_key;
    mk_err err;
    if (!have_key) {
        if (minisign_pubkey_parse(KEY, strlen(KEY), "fuzz key", &key, &err) < 0)
            abort();
        have_key = 1;
    }
    char *text = malloc(size ? size : 1); /* exact size: overreads trip ASan */
    if (!text)
        return 0;
    memcpy(text, data, size);

    minisign_pubkey pk;
    if (minisign_pubkey_parse(text, size, "fuzz.pub", &pk, &err) < 0 && !err.msg[0])
        abort();
    char trusted[64];
    if (minisign_verify(&key, text, size, "fuzz.sig", MSG, sizeof MSG - 1, trusted,
                        sizeof trusted, &err) == 0) {
        if (strlen(trusted) >= sizeof trusted)
            abort();
    } else if (!err.msg[0]) {
        abort();
    }
    free(text);
    return 0;
}
