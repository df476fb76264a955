/* scandir interposers: btrfs-progs 6.2 passes no comparator, so entries would come in
 * the host filesystem's readdir order (hash or creation order, different for every
 * extraction). Sorting by name in byte order makes the walk, and with it directory
 * indexes and inode numbering, depend only on the names. */
#include "repro.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

typedef int (*filter_fn)(const struct dirent *);
typedef int (*compar_fn)(const struct dirent **, const struct dirent **);

static int by_name(const void *a, const void *b)
{
    const struct dirent *const *x = a, *const *y = b;
    return strcmp((*x)->d_name, (*y)->d_name);
}

int scandir(const char *restrict dir, struct dirent ***restrict list, filter_fn filter,
            compar_fn compar)
{
    static int (*next)(const char *, struct dirent ***, filter_fn, compar_fn);
    if (!next)
        next = repro_next("scandir");
    int n = next(dir, list, filter, compar);
    if (n > 1 && !compar && repro_get()->active)
        qsort(*list, (size_t)n, sizeof **list, by_name);
    return n;
}

/* On 64-bit glibc scandir64 is the same function with the same struct layout. */
int scandir64(const char *restrict dir, struct dirent64 ***restrict list,
              int (*filter)(const struct dirent64 *),
              int (*compar)(const struct dirent64 **, const struct dirent64 **))
{
    static int (*next)(const char *, struct dirent64 ***, int (*)(const struct dirent64 *),
                       int (*)(const struct dirent64 **, const struct dirent64 **));
    if (!next)
        next = repro_next("scandir64");
    int n = next(dir, list, filter, compar);
    if (n > 1 && !compar && repro_get()->active)
        qsort(*list, (size_t)n, sizeof **list, by_name);
    return n;
}
