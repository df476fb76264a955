/* Cheap checks of what the tools produced, and the seed-derived identifiers.
 * Pure functions over buffers (unit-tested) plus small readers for files. */
#ifndef MKIMAGE_DISK_PROBE_H
#define MKIMAGE_DISK_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkerr.h"

/* Where the primary superblocks live, and how much to read to check them. */
#define DISK_BTRFS_SB_OFFSET 65536u
#define DISK_EXT4_SB_OFFSET 1024u
#define DISK_SB_READ 4096u

/* A version-4-shaped UUID string (36 chars + NUL) from SHA-256(purpose, seed, label):
 * the same inputs always give the same UUID, different purposes different ones. */
void disk_derive_uuid(const char *purpose, const char *seed, const char *label, char out[37]);

/* Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" into 16 bytes. */
bool disk_parse_uuid(const char *s, uint8_t out[16]);

/* true when buf (DISK_SB_READ bytes read at the superblock offset) is a btrfs /
 * ext2-4 superblock whose filesystem UUID is uuid. */
bool disk_btrfs_sb_ok(const uint8_t *buf, size_t len, const uint8_t uuid[16]);
bool disk_ext4_sb_ok(const uint8_t *buf, size_t len, const uint8_t uuid[16]);

/* true when buf (the first bytes of a file) is a qcow2 header of the given virtual size. */
bool disk_qcow2_header_ok(const uint8_t *buf, size_t len, uint64_t virtual_size);

/* Reads len bytes at offset of fd / path; -1 with err on short read. */
int disk_read_at(int fd, const char *what, uint64_t offset, uint8_t *buf, size_t len, mk_err *err);

#endif
