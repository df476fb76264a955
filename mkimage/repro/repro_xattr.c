/* llistxattr interposer: the tools copy xattrs in the order the host lists them,
 * which is the host filesystem's storage order (or fakeroot's database order).
 * Sorting the names makes the insertion order, and so the tree layout, depend only
 * on the names. */
#include "repro.h"

#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts the NUL-separated name list in place; leaves it alone if malformed. */
static void sort_names(char *list, size_t len)
{
    if (len < 2 || list[len - 1] != '\0')
        return;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += list[i] == '\0';
    if (n < 2)
        return;
    char **names = malloc(n * sizeof *names);
    char *copy = malloc(len);
    if (!names || !copy) {
        free(names);
        free(copy);
        return; /* unsorted but correct; a failed malloc here is not worth aborting */
    }
    memcpy(copy, list, len);
    size_t k = 0;
    for (size_t i = 0; i < len; i += strlen(copy + i) + 1)
        names[k++] = copy + i;
    qsort(names, k, sizeof *names, by_name);
    char *out = list;
    for (size_t i = 0; i < k; i++) {
        size_t l = strlen(names[i]) + 1;
        memcpy(out, names[i], l);
        out += l;
    }
    free(names);
    free(copy);
}

ssize_t llistxattr(const char *path, char *list, size_t size)
{
    static ssize_t (*next)(const char *, char *, size_t);
    if (!next)
        next = repro_next("llistxattr");
    ssize_t r = next(path, list, size);
    if (r > 0 && size && repro_get()->active)
        sort_names(list, (size_t)r);
    return r;
}
