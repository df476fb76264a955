/* Device numbers for mkfs.btrfs 6.2 --rootdir, which records every device node with
 * rdev 0 (its inode filler hard-codes it), so /dev/null in the tree would become a
 * useless 0:0 node in the image. lstat (repro_stat.c) notes each device node's
 * st_rdev under its mapped inode number; this pwrite interposer patches those
 * numbers into the fs-tree leaves as mkfs writes them, and recomputes the leaf
 * checksum (repro_patch_block, called by the pwrite interposer in repro_io.c). Only
 * blocks that verify as crc32c-checksummed FS_TREE leaves holding such an inode are
 * touched; everything else passes through unchanged.
 * On-disk layout (btrfs docs, kernel fs/btrfs/ctree.h): header 101 bytes
 * (csum[32], fsid[16], bytenr, flags, chunk uuid[16], generation, owner @88,
 * nritems @96, level @100), then 25-byte items (key objectid, type, offset; data
 * offset, size) whose data offsets count from the end of the header. In an inode
 * item, mode is at 52 and rdev at 56, stored as the kernel's dev_t (major << 20 |
 * minor). */
#include "repro.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define HEADER_SIZE 101
#define ITEM_SIZE 25
#define FS_TREE_OBJECTID 5
#define INODE_ITEM_KEY 1
#define INODE_ITEM_SIZE 160
/* mkfs.btrfs 6.2 --rootdir: btrfs inode number = st_ino + 256 (BTRFS_FIRST_FREE_OBJECTID). */
#define BTRFS_INO_OFFSET 256

typedef struct device_entry {
    uint64_t ino; /* mapped st_ino */
    uint64_t rdev; /* kernel encoding */
} device_entry;

static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;
static device_entry *devices;
static size_t n_devices, cap_devices;

void repro_note_device(ino_t mapped, dev_t rdev)
{
    uint64_t kdev = ((uint64_t)major(rdev) << 20) | (minor(rdev) & 0xfffff);
    if (!kdev)
        return;
    pthread_mutex_lock(&devices_lock);
    for (size_t i = 0; i < n_devices; i++) {
        if (devices[i].ino == mapped) {
            pthread_mutex_unlock(&devices_lock);
            return;
        }
    }
    if (n_devices == cap_devices) {
        size_t ncap = cap_devices ? cap_devices * 2 : 64;
        device_entry *n = realloc(devices, ncap * sizeof *n);
        if (!n)
            abort(); /* losing a device number silently would be worse */
        devices = n;
        cap_devices = ncap;
    }
    devices[n_devices++] = (device_entry){mapped, kdev};
    pthread_mutex_unlock(&devices_lock);
}

static uint64_t device_of(uint64_t ino)
{
    uint64_t r = 0;
    pthread_mutex_lock(&devices_lock);
    for (size_t i = 0; i < n_devices && !r; i++)
        if (devices[i].ino == ino)
            r = devices[i].rdev;
    pthread_mutex_unlock(&devices_lock);
    return r;
}

static bool have_devices(void)
{
    pthread_mutex_lock(&devices_lock);
    bool r = n_devices > 0;
    pthread_mutex_unlock(&devices_lock);
    return r;
}

/* CRC-32C (Castagnoli, reflected 0x82F63B78), what btrfs uses by default. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t repro_crc32c(const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    while (len--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

/* A cheap shape check: an FS_TREE leaf of a plausible node size. The checksum is
 * verified later, and only for leaves that need a patch. */
static bool looks_like_fs_leaf(const unsigned char *b, size_t n)
{
    if (n < 4096 || n > 65536 || (n & (n - 1)))
        return false;
    if (b[100] != 0 || le64(b + 88) != FS_TREE_OBJECTID)
        return false;
    return (uint64_t)le32(b + 96) * ITEM_SIZE + HEADER_SIZE <= n;
}

/* The block really is a btrfs tree block checksummed with crc32c (which fills 4 of
 * the 32 checksum bytes): only then is rewriting its checksum correct. */
static bool crc32c_block(const unsigned char *b, size_t n)
{
    for (int i = 4; i < 32; i++)
        if (b[i])
            return false;
    return le32(b) == repro_crc32c(b + 32, n - 32);
}

/* Returns a patched copy of buf (caller frees) or NULL when nothing needs patching. */
static unsigned char *patch_leaf(const unsigned char *b, size_t n)
{
    unsigned char *copy = NULL;
    uint32_t items = le32(b + 96);
    for (uint32_t i = 0; i < items; i++) {
        const unsigned char *it = b + HEADER_SIZE + (size_t)i * ITEM_SIZE;
        if (it[8] != INODE_ITEM_KEY)
            continue;
        uint32_t off = le32(it + 17), size = le32(it + 21);
        if (size < INODE_ITEM_SIZE || (uint64_t)HEADER_SIZE + off + size > n)
            continue;
        const unsigned char *inode = b + HEADER_SIZE + off;
        uint32_t mode = le32(inode + 52);
        if ((!S_ISCHR(mode) && !S_ISBLK(mode)) || le64(inode + 56) != 0)
            continue;
        uint64_t objectid = le64(it);
        if (objectid <= BTRFS_INO_OFFSET)
            continue;
        uint64_t rdev = device_of(objectid - BTRFS_INO_OFFSET);
        if (!rdev)
            continue;
        if (!copy) {
            if (!crc32c_block(b, n))
                return NULL;
            copy = malloc(n);
            if (!copy)
                abort();
            memcpy(copy, b, n);
        }
        put_le64(copy + HEADER_SIZE + off + 56, rdev);
    }
    if (copy) {
        uint32_t c = repro_crc32c(copy + 32, n - 32);
        memset(copy, 0, 32);
        copy[0] = (unsigned char)c;
        copy[1] = (unsigned char)(c >> 8);
        copy[2] = (unsigned char)(c >> 16);
        copy[3] = (unsigned char)(c >> 24);
    }
    return copy;
}

unsigned char *repro_patch_block(const void *buf, size_t n)
{
    if (!repro_get()->active || !have_devices() || !looks_like_fs_leaf(buf, n))
        return NULL;
    return patch_leaf(buf, n);
}
