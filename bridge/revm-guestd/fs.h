/* The filesystem service helper (PROTOCOL.md, Filesystem service): `revm-guestd --service fs
 * VOLUME` serves one volume on fds 0/1. Nodes and handles are bounded tables of descriptors;
 * every name is resolved with *at() beneath its parent node's O_PATH descriptor. */
#ifndef BRIDGE_REVM_GUESTD_FS_H
#define BRIDGE_REVM_GUESTD_FS_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define GUEST_FS_MAX_NODES 65536u
#define GUEST_FS_MAX_HANDLES 4096u
#define GUEST_FS_VOLDIR "/run/revm/volumes"

/* Entry point (svc.c table). */
int guest_fs_main(const char *arg, uint32_t flags);

/* ---- node table (fs_nodes.c) ---- */
void guest_fs_nodes_init(int rootfd);
/* The O_PATH descriptor of a node and its file type bits, or -1 (errno ESTALE). */
int guest_fs_node_fd(uint64_t id, mode_t *type);
/* Looks up name beneath parent's descriptor (no symlink followed): adds one lookup and returns
 * the node id with *st filled, or 0 with errno. */
uint64_t guest_fs_node_lookup(int parentfd, const char *name, struct stat *st);
void guest_fs_node_forget(uint64_t id, uint64_t count);

/* ---- open handles ---- */
uint64_t guest_fs_handle_add(int fd, DIR *dir); /* 0 with errno ENFILE when full (fd closed) */
int guest_fs_handle_fd(uint64_t fh);            /* -1 with errno EBADF */
DIR *guest_fs_handle_dir(uint64_t fh);          /* NULL with errno EBADF (or not a directory) */
int guest_fs_handle_close(uint64_t fh);         /* 0 or -1 (EBADF) */

/* ---- volumes (fs_volumes.c) ---- */
typedef struct guest_fs_vol {
    char name[72], fstype[16], dev[64];
    bool rdonly;
} guest_fs_vol;
/* Finds the block devices with a known filesystem, mounts each under GUEST_FS_VOLDIR/NAME
 * (idempotent). Returns the number found (up to cap), filling vols. */
size_t guest_fs_volumes_scan(guest_fs_vol *vols, size_t cap);
/* Filesystem type by superblock magic of the open device ("" when unknown); label into
 * label[labcap] ("" when none). */
const char *guest_fs_probe(int devfd, char *label, size_t labcap, bool *ext_journal);

#endif
