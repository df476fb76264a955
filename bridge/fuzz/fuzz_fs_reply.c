/* Host-side decoding of the filesystem service (PROTOCOL.md, Filesystem service): a hostile
 * guest's reply stream through the record reassembler, in chunks chosen by the input, and
 * every record body through every reply decoder the host uses (entries, attributes, INFO,
 * STATFS, READDIR with and without attributes, VOLUMES, ERR). Decoded names must satisfy
 * the rules the FUSE and scheme adapters rely on: no '/', no NUL, within bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz/fuzz_records.h"
#include "proto.h"

static void check_name(proto_str n, bool dots_ok)
{
    if (n.n == 0 || n.n > PROTO_FS_MAX_NAME || memchr(n.s, '/', n.n) || memchr(n.s, 0, n.n))
        __builtin_trap();
    bool dot = (n.n == 1 && n.s[0] == '.') || (n.n == 2 && n.s[0] == '.' && n.s[1] == '.');
    if (dot && !dots_ok)
        __builtin_trap();
}

static void decode(void *ctx, const proto_rec *r)
{
    (void)ctx;
    proto_fs_attr a;
    proto_fs_entry e;
    proto_fs_info in;
    proto_fs_statfs sf;
    uint64_t v64;
    uint32_t v32;
    (void)proto_fs_dec_attr(r->body, r->body_len, &a);
    (void)proto_fs_dec_entry(r->body, r->body_len, &e);
    (void)proto_fs_dec_create(r->body, r->body_len, &e, &v64);
    (void)proto_fs_dec_u64(r->body, r->body_len, &v64);
    (void)proto_fs_dec_u32(r->body, r->body_len, &v32);
    (void)proto_fs_dec_statfs(r->body, r->body_len, &sf);
    if (proto_fs_dec_info(r->body, r->body_len, &in) &&
        (in.max_io < 4096 || in.max_io > PROTO_FS_MAX_IO || in.volume.n > 64))
        __builtin_trap();
    for (int plus = 0; plus < 2; plus++) {
        proto_fs_dirit it;
        proto_fs_dirent d;
        if (!proto_fs_dir_begin(&it, r->body, r->body_len, plus))
            continue;
        uint32_t count = 0;
        while (proto_fs_dir_next(&it, &d) == 1) {
            check_name(d.name, true);
            if (++count > r->body_len)
                __builtin_trap(); /* more entries than bytes: the walk would not end */
        }
    }
    proto_fs_dirit it;
    proto_fs_volume vol;
    if (proto_fs_vol_begin(&it, r->body, r->body_len))
        while (proto_fs_vol_next(&it, &vol) == 1)
            if (!proto_fs_volume_name_ok(vol.name.s, vol.name.n) || vol.fstype.n > 32)
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A small record bound keeps the fuzzer fast; the decoders do not depend on it. */
    static uint8_t buf[4 + 65536];
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    fuzz_feed_records(buf, 65536, data, size, chunk, decode, NULL);
    return 0;
}
