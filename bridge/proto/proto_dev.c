/* Device service records (PROTOCOL.md, Device service). The host decodes what a guest sends,
 * so every decoder checks lengths, bounds and trailing bytes before the caller sees a value. */
#include "proto.h"

#include <string.h>

bool proto_dev_name_ok(const char *s, size_t n)
{
    if (n < 1 || n > PROTO_DEV_NAME_MAX)
        return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool text_ok(const proto_str *t, size_t max)
{
    if (t->n > max)
        return false;
    for (uint32_t i = 0; i < t->n; i++)
        if ((unsigned char)t->s[i] < 0x20 || t->s[i] == 0x7f)
            return false;
    return true;
}

size_t proto_enc_dev_add(uint8_t *out, size_t cap, const proto_dev_info *d)
{
    if (!proto_dev_name_ok(d->name.s, d->name.n) || !text_ok(&d->driver, PROTO_DEV_DRIVER_MAX) ||
        !text_ok(&d->model, PROTO_DEV_MODEL_MAX))
        return 0;
    proto_wr w;
    proto_wr_init(&w, out, cap);
    proto_wr_u8(&w, d->kind);
    proto_wr_str(&w, d->name.s, d->name.n);
    proto_wr_str(&w, d->driver.n ? d->driver.s : "", d->driver.n);
    proto_wr_str(&w, d->model.n ? d->model.s : "", d->model.n);
    proto_wr_u64(&w, d->size);
    proto_wr_u32(&w, d->sector);
    proto_wr_u32(&w, d->mtu);
    proto_wr_bytes(&w, d->mac, 6);
    proto_wr_u8(&w, d->state);
    return w.err ? 0 : w.len;
}

bool proto_dec_dev_add(const uint8_t *p, size_t n, proto_dev_info *d)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    d->kind = proto_rd_u8(&r);
    proto_rd_str(&r, &d->name.s, &d->name.n);
    proto_rd_str(&r, &d->driver.s, &d->driver.n);
    proto_rd_str(&r, &d->model.s, &d->model.n);
    d->size = proto_rd_u64(&r);
    d->sector = proto_rd_u32(&r);
    d->mtu = proto_rd_u32(&r);
    for (int i = 0; i < 6; i++)
        d->mac[i] = proto_rd_u8(&r);
    d->state = proto_rd_u8(&r);
    return proto_rd_done(&r) && (d->kind == PROTO_DEV_BLOCK || d->kind == PROTO_DEV_NET) &&
           proto_dev_name_ok(d->name.s, d->name.n) && text_ok(&d->driver, PROTO_DEV_DRIVER_MAX) &&
           text_ok(&d->model, PROTO_DEV_MODEL_MAX) && d->state <= 1;
}

size_t proto_enc_dev_remove(uint8_t *out, size_t cap, uint8_t kind, const char *name, size_t namen)
{
    if (!proto_dev_name_ok(name, namen))
        return 0;
    proto_wr w;
    proto_wr_init(&w, out, cap);
    proto_wr_u8(&w, kind);
    proto_wr_str(&w, name, namen);
    return w.err ? 0 : w.len;
}

bool proto_dec_dev_remove(const uint8_t *p, size_t n, uint8_t *kind, proto_str *name)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *kind = proto_rd_u8(&r);
    proto_rd_str(&r, &name->s, &name->n);
    return proto_rd_done(&r) && (*kind == PROTO_DEV_BLOCK || *kind == PROTO_DEV_NET) &&
           proto_dev_name_ok(name->s, name->n);
}

size_t proto_enc_blk_info(uint8_t *out, size_t cap, const proto_blk_info *b)
{
    proto_wr w;
    proto_wr_init(&w, out, cap);
    proto_wr_u64(&w, b->size);
    proto_wr_u32(&w, b->sector);
    proto_wr_u32(&w, b->max_io);
    proto_wr_u32(&w, b->queue);
    proto_wr_u32(&w, b->flags);
    return w.err ? 0 : w.len;
}

bool proto_dec_blk_info(const uint8_t *p, size_t n, proto_blk_info *b)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    b->size = proto_rd_u64(&r);
    b->sector = proto_rd_u32(&r);
    b->max_io = proto_rd_u32(&r);
    b->queue = proto_rd_u32(&r);
    b->flags = proto_rd_u32(&r);
    if (!proto_rd_done(&r))
        return false;
    bool pow2 = b->sector >= 512 && b->sector <= 65536 && (b->sector & (b->sector - 1)) == 0;
    return pow2 && b->max_io >= b->sector && b->max_io <= PROTO_DEV_MAX_IO &&
           b->max_io % b->sector == 0 && b->queue >= 1 && b->queue <= PROTO_DEV_MAX_QUEUE &&
           b->size % b->sector == 0 && (b->flags & ~7u) == 0;
}

size_t proto_enc_blk_range(uint8_t *out, size_t cap, uint64_t offset, uint32_t length)
{
    proto_wr w;
    proto_wr_init(&w, out, cap);
    proto_wr_u64(&w, offset);
    proto_wr_u32(&w, length);
    return w.err ? 0 : w.len;
}

bool proto_dec_blk_range(const uint8_t *p, size_t n, uint64_t *offset, uint32_t *length)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    *offset = proto_rd_u64(&r);
    *length = proto_rd_u32(&r);
    return proto_rd_done(&r);
}

void proto_enc_blk_write_head(uint8_t out[PROTO_BLK_REQ_HDR], uint64_t offset, uint32_t flags)
{
    proto_wr w;
    proto_wr_init(&w, out, PROTO_BLK_REQ_HDR);
    proto_wr_u64(&w, offset);
    proto_wr_u32(&w, flags);
}

bool proto_dec_blk_write(const uint8_t *p, size_t n, uint64_t *offset, uint32_t *flags,
                         const uint8_t **data, size_t *datalen)
{
    if (n < PROTO_BLK_REQ_HDR)
        return false;
    proto_rd r;
    proto_rd_init(&r, p, PROTO_BLK_REQ_HDR);
    *offset = proto_rd_u64(&r);
    *flags = proto_rd_u32(&r);
    *data = p + PROTO_BLK_REQ_HDR;
    *datalen = n - PROTO_BLK_REQ_HDR;
    return (*flags & ~PROTO_BLK_WRITE_FUA) == 0;
}

bool proto_dec_blk_done(const uint8_t *p, size_t n, uint32_t *error, const uint8_t **data,
                        size_t *datalen)
{
    if (n < 4)
        return false;
    *error = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    *data = p + 4;
    *datalen = n - 4;
    /* An error completion carries nothing else. */
    return *error == 0 || *datalen == 0;
}

bool proto_blk_range_ok(uint64_t offset, uint64_t length, uint64_t size, uint32_t max_io)
{
    return length >= 1 && length <= max_io && offset <= size && length <= size - offset;
}

size_t proto_enc_net_info(uint8_t *out, size_t cap, const proto_net_info *ni)
{
    if (ni->mtu < PROTO_DEV_MIN_MTU || ni->mtu > PROTO_DEV_MAX_MTU || ni->link > 1)
        return 0;
    proto_wr w;
    proto_wr_init(&w, out, cap);
    proto_wr_bytes(&w, ni->mac, 6);
    proto_wr_u32(&w, ni->mtu);
    proto_wr_u8(&w, ni->link);
    return w.err ? 0 : w.len;
}

bool proto_dec_net_info(const uint8_t *p, size_t n, proto_net_info *ni)
{
    proto_rd r;
    proto_rd_init(&r, p, n);
    for (int i = 0; i < 6; i++)
        ni->mac[i] = proto_rd_u8(&r);
    ni->mtu = proto_rd_u32(&r);
    ni->link = proto_rd_u8(&r);
    return proto_rd_done(&r) && ni->mtu >= PROTO_DEV_MIN_MTU && ni->mtu <= PROTO_DEV_MAX_MTU &&
           ni->link <= 1;
}

bool proto_net_frame_ok(size_t n, uint32_t mtu)
{
    return n >= PROTO_DEV_ETH_HDR && n <= (size_t)mtu + PROTO_DEV_FRAME_OVERHEAD &&
           n <= PROTO_DEV_MAX_FRAME;
}
