/* First-seen numbering of host inodes (see repro_map_inode in repro.h). */
#include "repro.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct slot {
    dev_t dev;
    ino_t ino;
    ino_t mapped; /* 0: empty slot */
} slot;

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static slot *table;
static size_t capacity, used;
/* btrfs-progs 6.2 uses st_ino + 256 as the btrfs inode number (256 is the root
 * directory, lower ids are reserved), so numbering from 1 gives compact ids 257... */
static ino_t next_number = 1;

static size_t slot_of(const slot *t, size_t cap, dev_t dev, ino_t ino)
{
    uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)dev * 0xc2b2ae3d27d4eb4full);
    size_t i = (size_t)(h ^ (h >> 29)) & (cap - 1);
    while (t[i].mapped && !(t[i].dev == dev && t[i].ino == ino))
        i = (i + 1) & (cap - 1);
    return i;
}

static int grow(void)
{
    size_t ncap = capacity ? capacity * 2 : 1u << 14;
    slot *nt = calloc(ncap, sizeof *nt);
    if (!nt)
        return -1;
    for (size_t i = 0; i < capacity; i++)
        if (table[i].mapped)
            nt[slot_of(nt, ncap, table[i].dev, table[i].ino)] = table[i];
    free(table);
    table = nt;
    capacity = ncap;
    return 0;
}

ino_t repro_map_inode(dev_t dev, ino_t ino)
{
    ino_t out = ino;
    pthread_mutex_lock(&map_lock);
    /* Keep the load factor under one half so probes stay short. */
    if ((used + 1) * 2 > capacity && grow() < 0)
        abort(); /* out of memory: a silently unmapped inode would break hard links */
    size_t i = slot_of(table, capacity, dev, ino);
    if (!table[i].mapped) {
        table[i].dev = dev;
        table[i].ino = ino;
        table[i].mapped = next_number++;
        used++;
    }
    out = table[i].mapped;
    pthread_mutex_unlock(&map_lock);
    return out;
}
