/* Creating a Redox scheme socket (redox-scheme's Socket::create). Only built on Redox: the
 * whole file is inside __redox__, so the Linux wildcard build compiles it to nothing. */
#ifdef __redox__

#include "scheme_redox.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* relibc exports this without a header (scheme/README.md); the result is a Redox "raw
 * result": a value, or -errno as an unsigned word. */
extern uintptr_t redox_open_v1(const char *path_base, size_t path_len, uint32_t flags,
                               uint16_t mode);

/* Redox open flags for a scheme socket: O_CREAT registers `name` in the namespace, O_FSYNC
 * selects the v2 (Sqe/Cqe) interface, O_EXLOCK asks for CloseMsg instead of answered Close. */
#define REDOX_O_CLOEXEC 0x01000000u
#define REDOX_O_CREAT 0x02000000u
#define REDOX_O_FSYNC 0x00800000u
#define REDOX_O_EXLOCK 0x00200000u

int scheme_redox_create(const char *name)
{
    char path[80];
    size_t n = strlen(name);
    if (n == 0 || n + 1 >= sizeof path || memchr(name, '/', n))
        return -EINVAL;
    path[0] = ':';
    memcpy(path + 1, name, n + 1);
    uintptr_t r = redox_open_v1(path, n + 1,
                                REDOX_O_CLOEXEC | REDOX_O_CREAT | REDOX_O_FSYNC | REDOX_O_EXLOCK,
                                0);
    if (r > UINTPTR_MAX - 4095)
        return -(int)(UINTPTR_MAX - r + 1);
    return (int)r;
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int scheme_redox_not_built;
#endif
