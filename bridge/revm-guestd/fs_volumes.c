/* Volume discovery in the filesystem VM (PROTOCOL.md, Filesystem service, Volumes): every
 * block device whose superblock magic is ext2/3/4, btrfs, vfat or xfs, and that is not already
 * mounted elsewhere (the VM's own root), is mounted under GUEST_FS_VOLDIR/<fstype>.<label or
 * index>. Idempotent and serialised by a lock file, so concurrent helpers agree. */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"

static bool rd_at(int fd, off_t off, void *buf, size_t n)
{
    return pread(fd, buf, n, off) == (ssize_t)n;
}

static void clean_label(const char *in, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && in[i] && k + 1 < cap && k < 32; i++) {
        char c = in[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '-')
            out[k++] = c;
    }
    while (k > 0 && out[k - 1] == '-')
        k--;
    out[k] = 0;
}

const char *guest_fs_probe(int fd, char *label, size_t labcap, bool *ext_journal)
{
    uint8_t b[512];
    label[0] = 0;
    *ext_journal = false;
    /* ext2/3/4: superblock at 1024, magic 0xEF53 at +56, label at +120 (16 bytes). */
    if (rd_at(fd, 1024, b, 256) && b[56] == 0x53 && b[57] == 0xEF) {
        clean_label((char *)b + 120, 16, label, labcap);
        uint32_t compat = b[92] | b[93] << 8 | (uint32_t)b[94] << 16 | (uint32_t)b[95] << 24;
        uint32_t incompat = b[96] | b[97] << 8 | (uint32_t)b[98] << 16 | (uint32_t)b[99] << 24;
        *ext_journal = compat & 4;
        if (incompat & (0x40 | 0x80 | 0x200)) /* extents, 64bit, flex_bg */
            return "ext4";
        return (compat & 4) ? "ext3" : "ext2";
    }
    /* btrfs: superblock at 64 KiB, magic "_BHRfS_M" at +64, label at +299 (256 bytes). */
    if (rd_at(fd, 65536, b, 512) && !memcmp(b + 64, "_BHRfS_M", 8)) {
        clean_label((char *)b + 299, 200, label, labcap);
        return "btrfs";
    }
    if (!rd_at(fd, 0, b, 512))
        return "";
    /* xfs: "XFSB" at 0, label at +108 (12 bytes). */
    if (!memcmp(b, "XFSB", 4)) {
        clean_label((char *)b + 108, 12, label, labcap);
        return "xfs";
    }
    /* vfat: boot sector signature and a FAT type string. */
    if (b[510] == 0x55 && b[511] == 0xAA &&
        (!memcmp(b + 54, "FAT1", 4) || !memcmp(b + 82, "FAT32", 5))) {
        const char *l = !memcmp(b + 82, "FAT32", 5) ? (char *)b + 71 : (char *)b + 43;
        if (memcmp(l, "NO NAME    ", 11))
            clean_label(l, 11, label, labcap);
        return "vfat";
    }
    return "";
}

/* Is dev (major:minor, or /dev/NAME as the mount source: btrfs shows anonymous device
 * numbers) mounted somewhere other than GUEST_FS_VOLDIR? Fills ours with the mount point name
 * beneath it when it is mounted there. */
static int mounted_where(unsigned maj, unsigned min, const char *devpath, char *ours, size_t cap)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return 0;
    char line[4096];
    int r = 0;
    ours[0] = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned a, b;
        char mp[2048], src[256] = "";
        if (sscanf(line, "%*u %*u %u:%u %*s %2047s", &a, &b, mp) != 3)
            continue;
        const char *sep = strstr(line, " - ");
        if (sep)
            sscanf(sep + 3, "%*s %255s", src);
        if ((a != maj || b != min) && strcmp(src, devpath))
            continue;
        size_t vl = strlen(GUEST_FS_VOLDIR);
        if (!strncmp(mp, GUEST_FS_VOLDIR "/", vl + 1))
            snprintf(ours, cap, "%.100s", mp + vl + 1);
        else
            r = 1;
    }
    fclose(f);
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool read_flag(const char *dev, const char *file)
{
    char p[256], v[8] = "";
    snprintf(p, sizeof p, "/sys/class/block/%s/%s", dev, file);
    FILE *f = fopen(p, "r");
    if (!f)
        return false;
    bool r = fgets(v, sizeof v, f) && v[0] == '1';
    fclose(f);
    return r;
}

static void mkdirs(const char *path)
{
    char p[256];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

static void modprobe(const char *fs)
{
    pid_t pid = fork();
    if (pid == 0) {
        execl("/sbin/modprobe", "modprobe", "-q", fs, (char *)NULL);
        execl("/usr/sbin/modprobe", "modprobe", "-q", fs, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

/* Only a VM started to serve its disks scans them (kernel command line revm.volumes=1, set by
 * the filesystem profile): the helper run anywhere else, e.g. on a test host, never mounts. */
static bool scanning_allowed(void)
{
    char buf[4096] = "";
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n"))
        if (!strcmp(t, "revm.volumes=1"))
            return true;
    return false;
}

size_t guest_fs_volumes_scan(guest_fs_vol *vols, size_t cap)
{
    if (!scanning_allowed())
        return 0;
    mkdirs(GUEST_FS_VOLDIR);
    int lock = open(GUEST_FS_VOLDIR "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock >= 0)
        flock(lock, LOCK_EX);
    DIR *d = opendir("/sys/class/block");
    size_t n = 0;
    if (!d)
        goto out;
    char *names[256];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nn < 256) {
        const char *s = de->d_name;
        if (s[0] == '.' || !strncmp(s, "loop", 4) || !strncmp(s, "ram", 3) ||
            !strncmp(s, "zram", 4) || !strncmp(s, "sr", 2) || !strncmp(s, "fd", 2))
            continue;
        names[nn++] = strdup(s);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmp_str);
    unsigned counts[8] = {0};
    static const char *const types[] = {"ext2", "ext3", "ext4", "btrfs", "vfat", "xfs"};
    for (size_t i = 0; i < nn; i++) {
        char dev[300], label[40];
        snprintf(dev, sizeof dev, "/dev/%s", names[i]);
        int fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct stat st;
        bool journal;
        const char *t = fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)
                            ? guest_fs_probe(fd, label, sizeof label, &journal) : "";
        close(fd);
        if (!*t)
            continue;
        char ours[128];
        if (mounted_where(major(st.st_rdev), minor(st.st_rdev), dev, ours, sizeof ours))
            continue; /* the VM's own root or another user's mount */
        size_t ti = 0;
        while (strcmp(types[ti], t))
            ti++;
        if (n >= cap)
            break;
        guest_fs_vol *v = &vols[n];
        if (label[0])
            snprintf(v->name, sizeof v->name, "%s.%s", t, label);
        else
            snprintf(v->name, sizeof v->name, "%s.%u", t, counts[ti]++);
        for (size_t j = 0; j < n; j++) /* two disks with one label: the later gets its index */
            if (!strcmp(vols[j].name, v->name))
                snprintf(v->name, sizeof v->name, "%s.%u", t, counts[ti]++);
        snprintf(v->fstype, sizeof v->fstype, "%s", t);
        snprintf(v->dev, sizeof v->dev, "%.60s", dev);
        v->rdonly = read_flag(names[i], "ro");
        if (ours[0] && strcmp(ours, v->name)) {
            continue; /* mounted under an older name: leave it */
        }
        if (!ours[0]) {
            char mp[256];
            snprintf(mp, sizeof mp, "%s/%s", GUEST_FS_VOLDIR, v->name);
            mkdir(mp, 0755);
            const char *fs = !strncmp(t, "ext", 3) ? "ext4" : t;
            unsigned long fl = MS_NOSUID | MS_NODEV | (v->rdonly ? MS_RDONLY : 0);
            int rc = mount(dev, mp, fs, fl, NULL);
            if (rc < 0 && errno == ENODEV) { /* the filesystem's module is not loaded yet */
                modprobe(fs);
                rc = mount(dev, mp, fs, fl, NULL);
            }
            if (rc < 0) {
                fprintf(stderr, "fs: cannot mount %s (%s) on %s: %s\n", dev, t, mp, strerror(errno));
                continue;
            }
            fprintf(stderr, "fs: mounted %s (%s%s) as volume %s\n", dev, t,
                    v->rdonly ? ", read-only" : "", v->name);
        }
        n++;
    }
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
out:
    if (lock >= 0)
        close(lock);
    return n;
}
