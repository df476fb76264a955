/* A small, bounded parser for XML property lists, the format of xbps repository
 * indexes (index.plist, index-meta.plist) and key files (/var/db/xbps/keys/FP.plist).
 *
 * The input comes from a web server: every size is bounded (nesting depth, node
 * count), nothing is allocated from a size read out of the input, and anything that
 * is not well-formed plist XML is an error. Supported elements: dict, key, array,
 * string, integer, real, date, data (base64), true, false; plus the XML declaration,
 * a DOCTYPE, comments and the five predefined entities and numeric character
 * references in text.
 *
 * Parsing is in place: texts are decoded into the caller's buffer (decoding only
 * shrinks) and NUL-terminated there, so the tree points into the buffer, which must
 * outlive it. Nodes live in one array and refer to each other by index (0: none). */
#ifndef MKIMAGE_PLIST_H
#define MKIMAGE_PLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkerr.h"

#define PLIST_MAX_DEPTH 32
#define PLIST_MAX_NODES (8u << 20) /* Void's whole index is well under 2 M nodes */

typedef enum plist_type {
    PLIST_DICT = 1, /* children: key, value, key, value, ... */
    PLIST_ARRAY,
    PLIST_KEY,
    PLIST_STRING,
    PLIST_INTEGER,
    PLIST_REAL,
    PLIST_DATE,
    PLIST_DATA, /* text holds the decoded bytes (len of them) */
    PLIST_TRUE,
    PLIST_FALSE,
} plist_type;

typedef struct plist_node {
    uint32_t type, first, next; /* first child, next sibling: node indices, 0 none */
    uint32_t len;               /* text length (bytes) */
    const char *text;           /* NUL-terminated, inside the parsed buffer */
} plist_node;

typedef struct plist {
    plist_node *n; /* n[0] is unused, n[1] the root value */
    uint32_t count, cap;
} plist;

/* Parses buf[0..len) (modified in place). The root is node 1. */
int plist_parse(char *buf, size_t len, plist *out, mk_err *err);
void plist_free(plist *p);

/* The value of key in dict (the last one when a key repeats), or 0. */
uint32_t plist_dict_get(const plist *p, uint32_t dict, const char *key);

/* Iterates a dict: start with *it = 0; returns false at the end. */
bool plist_dict_next(const plist *p, uint32_t dict, uint32_t *it, uint32_t *key, uint32_t *val);

/* The node's text when it has this type, else NULL. */
const char *plist_text(const plist *p, uint32_t node, plist_type type, size_t *len);

/* An integer node's value (decimal or 0x hex, unsigned). -1 when not one. */
int plist_uint(const plist *p, uint32_t node, uint64_t *out);

#endif
