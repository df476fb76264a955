#include "disk_tree.h"

#include <errno.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>

/* nftw has no context argument; disk_build runs one scan at a time. */
static _Thread_local disk_tree_info *scan;
static _Thread_local time_t scan_created_after;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_NS || type == FTW_DNR)
        return FTW_STOP;
    scan->inodes++;
    if (S_ISREG(st->st_mode))
        scan->data_bytes += ((uint64_t)st->st_size + 4095) & ~(uint64_t)4095;
    if (scan_created_after && st->st_mtime >= scan_created_after)
        scan->created++;
    else if (st->st_mtime > scan->newest_mtime)
        scan->newest_mtime = st->st_mtime;
    return FTW_CONTINUE;
}

uint64_t disk_tree_estimate(uint64_t inodes, uint64_t data_bytes)
{
    /* Metadata: btrfs spends about 0.5-1 KiB per inode (inode item, refs, two dir
     * entries, extent and checksum items) plus 4 bytes of checksum per 4 KiB of data;
     * 2 KiB per inode and 1/256 of the data cover both with margin. The fixed part is
     * the initial chunks mkfs.btrfs allocates. */
    return data_bytes + inodes * 2048 + data_bytes / 256 + (64u << 20);
}

int disk_tree_scan(const char *tree, time_t created_after, disk_tree_info *out, mk_err *err)
{
    memset(out, 0, sizeof *out);
    scan = out;
    scan_created_after = created_after;
    errno = 0;
    int r = nftw(tree, visit, 32, FTW_PHYS | FTW_ACTIONRETVAL);
    scan = NULL;
    if (r == FTW_STOP)
        return mk_fail(err, "%s: cannot read part of the tree", tree);
    if (r != 0)
        return mk_fail_errno(err, errno ? errno : EIO, "%s: cannot read tree", tree);
    out->estimate = disk_tree_estimate(out->inodes, out->data_bytes);
    return 0;
}
