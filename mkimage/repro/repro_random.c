/* Randomness interposers: UUIDs (filesystem, chunk tree, device, subvolume, ext4
 * journal) and any other random numbers the tools draw come from the seeded stream. */
#include "repro.h"

#include <stdlib.h>
#include <sys/random.h>

typedef unsigned char uuid_bytes[16];

/* A random (version 4, RFC 4122 variant) UUID from the seeded stream. */
static void seeded_uuid(uuid_bytes out)
{
    repro_random_bytes(out, 16);
    out[6] = (unsigned char)((out[6] & 0x0f) | 0x40);
    out[8] = (unsigned char)((out[8] & 0x3f) | 0x80);
}

#define UUID_INTERPOSER(name)                                                            \
    void name(uuid_bytes out)                                                            \
    {                                                                                    \
        if (repro_get()->active) {                                                       \
            seeded_uuid(out);                                                            \
            return;                                                                      \
        }                                                                                \
        static void (*next)(uuid_bytes);                                                 \
        if (!next)                                                                       \
            next = repro_next(#name);                                                    \
        next(out);                                                                       \
    }

/* Declared here: libuuid's header (uuid-dev) is not a build dependency. */
void uuid_generate(uuid_bytes out);
void uuid_generate_random(uuid_bytes out);
void uuid_generate_time(uuid_bytes out);
UUID_INTERPOSER(uuid_generate)
UUID_INTERPOSER(uuid_generate_random)
UUID_INTERPOSER(uuid_generate_time)

int uuid_generate_time_safe(uuid_bytes out);
int uuid_generate_time_safe(uuid_bytes out)
{
    if (repro_get()->active) {
        seeded_uuid(out);
        return 0;
    }
    static int (*next)(uuid_bytes);
    if (!next)
        next = repro_next("uuid_generate_time_safe");
    return next(out);
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    if (repro_get()->active) {
        repro_random_bytes(buf, len);
        return (ssize_t)len;
    }
    static ssize_t (*next)(void *, size_t, unsigned int);
    if (!next)
        next = repro_next("getrandom");
    return next(buf, len, flags);
}

/* btrfs-progs draws from jrand48 with a state seeded from /dev/urandom. */
long jrand48(unsigned short xsubi[3])
{
    if (repro_get()->active) {
        int32_t v;
        repro_random_bytes(&v, sizeof v);
        return (long)v;
    }
    static long (*next)(unsigned short[3]);
    if (!next)
        next = repro_next("jrand48");
    return next(xsubi);
}
