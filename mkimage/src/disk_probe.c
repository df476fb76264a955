#include "disk_probe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checksum.h"

void disk_derive_uuid(const char *purpose, const char *seed, const char *label, char out[37])
{
    char input[1024];
    char hex[65];
    /* NUL separators keep ("ab","c") and ("a","bc") apart. */
    int n = snprintf(input, sizeof input, "revm-disk-%s%c%s%c%s", purpose, 0, seed ? seed : "",
                     0, label ? label : "");
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof input)
        n = (int)sizeof input - 1;
    sha256_hex_of(input, (size_t)n, hex);
    /* Set the version (4) and variant (10xx) nibbles so tools treat it as random. */
    hex[12] = '4';
    static const char variant[] = "89ab";
    hex[16] = variant[hex_digit_value(hex[16]) & 3];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

bool disk_parse_uuid(const char *s, uint8_t out[16])
{
    size_t k = 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int hi = hex_digit_value(s[i]);
        if (hi < 0)
            return false;
        int lo = hex_digit_value(s[++i]);
        if (lo < 0)
            return false;
        out[k++] = (uint8_t)(hi << 4 | lo);
    }
    return s[36] == '\0' && k == 16;
}

bool disk_btrfs_sb_ok(const uint8_t *buf, size_t len, const uint8_t uuid[16])
{
    /* struct btrfs_super_block: csum[32], fsid[16] at 32, bytenr, flags, magic at 64. */
    return len >= 72 && memcmp(buf + 64, "_BHRfS_M", 8) == 0 && memcmp(buf + 32, uuid, 16) == 0;
}

bool disk_ext4_sb_ok(const uint8_t *buf, size_t len, const uint8_t uuid[16])
{
    /* struct ext2_super_block: s_magic (le16 0xEF53) at 56, s_uuid[16] at 104. */
    return len >= 120 && buf[56] == 0x53 && buf[57] == 0xef && memcmp(buf + 104, uuid, 16) == 0;
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

bool disk_qcow2_header_ok(const uint8_t *buf, size_t len, uint64_t virtual_size)
{
    /* docs/interop/qcow2.txt: magic "QFI\xfb", be32 version (2 or 3) at 4, be64 size at 24. */
    if (len < 32 || memcmp(buf, "QFI\xfb", 4) != 0)
        return false;
    uint32_t version = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
    return (version == 2 || version == 3) && be64(buf + 24) == virtual_size;
}

int disk_read_at(int fd, const char *what, uint64_t offset, uint8_t *buf, size_t len, mk_err *err)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return mk_fail_errno(err, errno, "%s: cannot read", what);
        if (n == 0)
            return mk_fail(err, "%s: too short", what);
        got += (size_t)n;
    }
    return 0;
}
