/* mk-extract: runs mkimage's extraction step alone, for tests and benchmarks.
 *
 *   mk-extract ARCHIVE DEST [-- COMMAND [ARG]...]
 *
 * Like mkimage it first calls privilege_ensure (an ordinary user is re-executed
 * under fakeroot), then extract_archive into DEST (created if missing, must be
 * empty), prints the entry counts, and finally runs COMMAND, if given, inside the
 * same (fake)root session: e.g. `treelist --dir DEST` or `mkfs.btrfs --rootdir DEST`
 * then see the owners, device nodes and xattrs exactly as mkfs would.
 * Errors print as "mk-extract: THING: reason" on one line, exit 1. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "extract.h"
#include "privilege.h"

int main(int argc, char **argv)
{
    mk_err err = {{0}};
    if (privilege_ensure(argc, argv, &err) < 0) {
        fprintf(stderr, "mk-extract: %s\n", err.msg);
        return 1;
    }
    if (argc < 3 || (argc > 3 && strcmp(argv[3], "--") != 0) || argc == 4) {
        fprintf(stderr, "usage: mk-extract ARCHIVE DEST [-- COMMAND [ARG]...]\n");
        return 2;
    }
    if (mkdir(argv[2], 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "mk-extract: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    extract_stats st;
    if (extract_archive(argv[1], argv[2], &st, &err) < 0) {
        fprintf(stderr, "mk-extract: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr,
            "mk-extract: %llu entries: %llu files, %llu dirs, %llu symlinks, %llu hard links, "
            "%llu devices, %llu fifos, %llu bytes\n",
            (unsigned long long)st.entries, (unsigned long long)st.files,
            (unsigned long long)st.dirs, (unsigned long long)st.symlinks,
            (unsigned long long)st.hardlinks, (unsigned long long)st.devices,
            (unsigned long long)st.fifos, (unsigned long long)st.bytes);
    if (argc > 4) {
        fflush(NULL);
        execvp(argv[4], argv + 4);
        fprintf(stderr, "mk-extract: %s: %s\n", argv[4], strerror(errno));
        return 127;
    }
    return 0;
}
