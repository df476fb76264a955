/* The display helper's KMS backend: a DRM card driven with the legacy modesetting ioctls and
 * dumb buffers (works on every KMS driver: bochs, virtio-gpu, amdgpu, i915, ...). One dumb
 * buffer per connector the host set a mode on, scanned out by a CRTC chosen from the
 * connector's encoders; updates are memcpy into the mapping plus DIRTYFB for drivers that
 * need it (virtio-gpu) and ENOSYS from those that scan VRAM directly (bochs). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "disp.h"
#include "disp_uapi.h"

/* Bounds on what the kernel reports, so a strange driver cannot make us allocate without
 * limit: more is truncated. */
#define KMS_MAX_IDS 64
#define KMS_MAX_MODES 1024

typedef struct kms_out {
    uint32_t conn;          /* 0: free slot */
    uint32_t crtc;
    uint32_t fb_id, handle, pitch;
    uint8_t *map;
    size_t size;
} kms_out;

typedef struct kms {
    guest_disp_backend base;
    int fd;
    bool no_dirty;          /* the driver answered DIRTYFB with ENOSYS: scanout is direct */
    kms_out out[PROTO_DISP_MAX_CONNS];
} kms;

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do
        r = ioctl(fd, req, arg);
    while (r < 0 && (errno == EINTR || errno == EAGAIN));
    return r;
}

static int fail(char *err, size_t errlen, int e, const char *what)
{
    snprintf(err, errlen, "%s: %s", what, strerror(e));
    return -e;
}

static const char *type_name(uint32_t t)
{
    static const char *const names[] = {"Unknown", "VGA", "DVI-I", "DVI-D", "DVI-A", "Composite",
                                        "SVIDEO", "LVDS", "Component", "DIN", "DP", "HDMI-A",
                                        "HDMI-B", "TV", "eDP", "Virtual", "DSI", "DPI",
                                        "Writeback", "SPI", "USB"};
    return t < sizeof names / sizeof names[0] ? names[t] : "Unknown";
}

/* Resources: CRTC and connector ids (truncated to KMS_MAX_IDS). */
static int get_res(kms *k, uint32_t *crtcs, uint32_t *ncrtc, uint32_t *conns, uint32_t *nconn)
{
    struct guest_drm_card_res r;
    memset(&r, 0, sizeof r);
    if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_GETRESOURCES, &r) < 0)
        return -errno;
    r.count_fbs = r.count_encoders = 0;
    if (r.count_crtcs > KMS_MAX_IDS) r.count_crtcs = KMS_MAX_IDS;
    if (r.count_connectors > KMS_MAX_IDS) r.count_connectors = KMS_MAX_IDS;
    uint32_t want_crtc = r.count_crtcs, want_conn = r.count_connectors;
    r.crtc_id_ptr = (uintptr_t)crtcs;
    r.connector_id_ptr = (uintptr_t)conns;
    r.fb_id_ptr = r.encoder_id_ptr = 0;
    if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_GETRESOURCES, &r) < 0)
        return -errno;
    /* Counts that grew between the calls were not copied: keep what we asked for. */
    *ncrtc = r.count_crtcs < want_crtc ? r.count_crtcs : want_crtc;
    *nconn = r.count_connectors < want_conn ? r.count_connectors : want_conn;
    return 0;
}

/* One connector with its modes and encoders; *modes is malloc'd (caller frees). */
static int get_conn(kms *k, uint32_t id, struct guest_drm_connector *c,
                    struct guest_drm_modeinfo **modes, uint32_t *encs, uint32_t *nenc)
{
    *modes = NULL;
    for (int attempt = 0; attempt < 3; attempt++) {
        memset(c, 0, sizeof *c);
        c->connector_id = id;
        if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_GETCONNECTOR, c) < 0)
            return -errno;
        uint32_t nm = c->count_modes > KMS_MAX_MODES ? KMS_MAX_MODES : c->count_modes;
        uint32_t ne = c->count_encoders > KMS_MAX_IDS ? KMS_MAX_IDS : c->count_encoders;
        free(*modes);
        *modes = calloc(nm ? nm : 1, sizeof **modes);
        if (!*modes)
            return -ENOMEM;
        struct guest_drm_connector q;
        memset(&q, 0, sizeof q);
        q.connector_id = id;
        q.count_modes = nm;
        q.count_encoders = ne;
        q.modes_ptr = (uintptr_t)*modes;
        q.encoders_ptr = (uintptr_t)encs;
        if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_GETCONNECTOR, &q) < 0) {
            free(*modes);
            *modes = NULL;
            return -errno;
        }
        /* A list that grew meanwhile was not copied (the kernel only reports the new count),
         * unless we hit our own cap: then the first nm are there. */
        if ((q.count_modes > nm && nm < KMS_MAX_MODES) || (q.count_encoders > ne && ne < KMS_MAX_IDS))
            continue;
        *c = q;
        c->count_modes = q.count_modes < nm ? q.count_modes : nm;
        c->count_encoders = q.count_encoders < ne ? q.count_encoders : ne;
        *nenc = c->count_encoders;
        return 0;
    }
    free(*modes);
    *modes = NULL;
    return -EAGAIN;
}

static proto_disp_mode to_mode(const struct guest_drm_modeinfo *m)
{
    proto_disp_mode o = {m->hdisplay, m->vdisplay,
                         (uint16_t)(m->vrefresh > 0xffff ? 0xffff : m->vrefresh),
                         (m->type & GUEST_DRM_MODE_TYPE_PREFERRED) ? PROTO_DISP_MODE_PREFERRED : 0};
    return o;
}

static int kms_probe(guest_disp_backend *b, proto_disp_conn *out, size_t max, size_t *n,
                     char *err, size_t errlen)
{
    kms *k = (kms *)b;
    uint32_t crtcs[KMS_MAX_IDS], conns[KMS_MAX_IDS], ncrtc, nconn;
    *n = 0;
    int r = get_res(k, crtcs, &ncrtc, conns, &nconn);
    if (r < 0)
        return fail(err, errlen, -r, "DRM_IOCTL_MODE_GETRESOURCES");
    for (uint32_t i = 0; i < nconn && *n < max; i++) {
        struct guest_drm_connector c;
        struct guest_drm_modeinfo *modes;
        uint32_t encs[KMS_MAX_IDS], nenc;
        if (get_conn(k, conns[i], &c, &modes, encs, &nenc) < 0)
            continue; /* vanished between the two calls: not listed */
        proto_disp_conn *o = &out[(*n)++];
        memset(o, 0, sizeof *o);
        o->id = conns[i];
        o->connected = c.connection == GUEST_DRM_MODE_CONNECTED;
        char name[64];
        snprintf(name, sizeof name, "%s-%u", type_name(c.connector_type), c.connector_type_id);
        guest_disp_sanitize_name(name, o->name);
        proto_disp_mode *all = calloc(c.count_modes ? c.count_modes : 1, sizeof *all);
        if (all) {
            for (uint32_t m = 0; m < c.count_modes; m++)
                all[m] = to_mode(&modes[m]);
            o->nmodes = (uint8_t)guest_disp_pick_modes(all, c.count_modes, o->modes);
            free(all);
        }
        if (!o->connected)
            o->nmodes = 0;
        free(modes);
    }
    return 0;
}

static kms_out *out_of(kms *k, uint32_t conn)
{
    for (size_t i = 0; i < PROTO_DISP_MAX_CONNS; i++)
        if (k->out[i].conn == conn)
            return &k->out[i];
    return NULL;
}

static bool crtc_taken(kms *k, uint32_t crtc, uint32_t conn)
{
    for (size_t i = 0; i < PROTO_DISP_MAX_CONNS; i++)
        if (k->out[i].conn && k->out[i].conn != conn && k->out[i].crtc == crtc)
            return true;
    return false;
}

/* A CRTC for the connector: the one its encoder drives now, else the first free one any of
 * its encoders can drive. 0 when none. */
static uint32_t pick_crtc(kms *k, const struct guest_drm_connector *c, const uint32_t *encs,
                          uint32_t nenc, const uint32_t *crtcs, uint32_t ncrtc)
{
    kms_out *o = out_of(k, c->connector_id);
    if (o && o->crtc)
        return o->crtc;
    if (c->encoder_id) {
        struct guest_drm_encoder e = {.encoder_id = c->encoder_id};
        if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_GETENCODER, &e) == 0 && e.crtc_id &&
            !crtc_taken(k, e.crtc_id, c->connector_id))
            return e.crtc_id;
    }
    for (uint32_t i = 0; i < nenc; i++) {
        struct guest_drm_encoder e = {.encoder_id = encs[i]};
        if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_GETENCODER, &e) < 0)
            continue;
        for (uint32_t j = 0; j < ncrtc && j < 32; j++)
            if ((e.possible_crtcs & (1u << j)) && !crtc_taken(k, crtcs[j], c->connector_id))
                return crtcs[j];
    }
    return 0;
}

static void drop_buffer(kms *k, uint32_t fb_id, uint32_t handle, uint8_t *map, size_t size)
{
    if (map)
        munmap(map, size);
    if (fb_id)
        xioctl(k->fd, GUEST_DRM_IOCTL_MODE_RMFB, &fb_id);
    if (handle) {
        struct guest_drm_destroy_dumb d = {handle};
        xioctl(k->fd, GUEST_DRM_IOCTL_MODE_DESTROY_DUMB, &d);
    }
}

static int kms_set_mode(guest_disp_backend *b, uint32_t id, const proto_disp_mode *want,
                        uint8_t **fb, uint32_t *pitch, char *err, size_t errlen)
{
    kms *k = (kms *)b;
    uint32_t crtcs[KMS_MAX_IDS], conns[KMS_MAX_IDS], ncrtc, nconn;
    int r = get_res(k, crtcs, &ncrtc, conns, &nconn);
    if (r < 0)
        return fail(err, errlen, -r, "DRM_IOCTL_MODE_GETRESOURCES");
    struct guest_drm_connector c;
    struct guest_drm_modeinfo *modes;
    uint32_t encs[KMS_MAX_IDS], nenc;
    if ((r = get_conn(k, id, &c, &modes, encs, &nenc)) < 0) {
        snprintf(err, errlen, "connector %u is gone", id);
        return -ENODEV;
    }
    if (c.connection != GUEST_DRM_MODE_CONNECTED) {
        free(modes);
        snprintf(err, errlen, "connector %u has no display attached", id);
        return -ENODEV;
    }
    const struct guest_drm_modeinfo *m = NULL;
    for (uint32_t i = 0; i < c.count_modes && !m; i++) {
        proto_disp_mode pm = to_mode(&modes[i]);
        if (pm.w == want->w && pm.h == want->h && pm.refresh == want->refresh)
            m = &modes[i];
    }
    if (!m) {
        free(modes);
        snprintf(err, errlen, "connector %u no longer lists %ux%u@%u", id, want->w, want->h, want->refresh);
        return -EINVAL;
    }
    struct guest_drm_modeinfo mode = *m;
    free(modes);
    uint32_t crtc = pick_crtc(k, &c, encs, nenc, crtcs, ncrtc);
    if (!crtc) {
        snprintf(err, errlen, "no free CRTC can drive connector %u", id);
        return -EBUSY;
    }
    struct guest_drm_create_dumb cd = {.height = want->h, .width = want->w, .bpp = 32};
    if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_CREATE_DUMB, &cd) < 0)
        return fail(err, errlen, errno == EINVAL ? ENOMEM : errno, "DRM_IOCTL_MODE_CREATE_DUMB");
    /* The kernel's pitch and size must hold the mode: never write past a mapping. */
    if (cd.pitch < (uint32_t)want->w * 4u || cd.size < (uint64_t)cd.pitch * want->h) {
        drop_buffer(k, 0, cd.handle, NULL, 0);
        snprintf(err, errlen, "dumb buffer too small (pitch %u, size %llu)", cd.pitch, (unsigned long long)cd.size);
        return -EIO;
    }
    struct guest_drm_fb_cmd fbc = {.width = want->w, .height = want->h, .pitch = cd.pitch,
                                   .bpp = 32, .depth = 24, .handle = cd.handle};
    if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_ADDFB, &fbc) < 0) {
        int e = errno;
        drop_buffer(k, 0, cd.handle, NULL, 0);
        return fail(err, errlen, e, "DRM_IOCTL_MODE_ADDFB");
    }
    struct guest_drm_map_dumb md = {.handle = cd.handle};
    uint8_t *map = MAP_FAILED;
    if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_MAP_DUMB, &md) == 0)
        map = mmap(NULL, (size_t)cd.size, PROT_READ | PROT_WRITE, MAP_SHARED, k->fd, (off_t)md.offset);
    if (map == MAP_FAILED) {
        int e = errno;
        drop_buffer(k, fbc.fb_id, cd.handle, NULL, 0);
        return fail(err, errlen, e, "mapping the dumb buffer");
    }
    memset(map, 0, (size_t)cd.size);
    struct guest_drm_crtc sc;
    memset(&sc, 0, sizeof sc);
    uint32_t conn_id = id;
    sc.set_connectors_ptr = (uintptr_t)&conn_id;
    sc.count_connectors = 1;
    sc.crtc_id = crtc;
    sc.fb_id = fbc.fb_id;
    sc.mode_valid = 1;
    sc.mode = mode;
    if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_SETCRTC, &sc) < 0) {
        int e = errno;
        drop_buffer(k, fbc.fb_id, cd.handle, map, (size_t)cd.size);
        return fail(err, errlen, e, "DRM_IOCTL_MODE_SETCRTC");
    }
    kms_out *o = out_of(k, id);
    if (!o)
        o = out_of(k, 0);
    if (!o) { /* cannot happen: at most 16 connectors are listed */
        drop_buffer(k, fbc.fb_id, cd.handle, map, (size_t)cd.size);
        snprintf(err, errlen, "too many displays");
        return -ENOMEM;
    }
    /* The old buffer goes only now that the new one is on screen. */
    if (o->conn)
        drop_buffer(k, o->fb_id, o->handle, o->map, o->size);
    *o = (kms_out){id, crtc, fbc.fb_id, cd.handle, cd.pitch, map, (size_t)cd.size};
    *fb = map;
    *pitch = cd.pitch;
    return 0;
}

static int kms_dirty(guest_disp_backend *b, uint32_t id, const proto_disp_rect *r, char *err,
                     size_t errlen)
{
    kms *k = (kms *)b;
    kms_out *o = out_of(k, id);
    if (!o)
        return fail(err, errlen, ENODEV, "connector has no buffer");
    if (k->no_dirty)
        return 0;
    struct guest_drm_clip_rect clip = {r->x, r->y, (unsigned short)(r->x + r->w),
                                       (unsigned short)(r->y + r->h)};
    struct guest_drm_fb_dirty d = {.fb_id = o->fb_id, .num_clips = 1, .clips_ptr = (uintptr_t)&clip};
    if (xioctl(k->fd, GUEST_DRM_IOCTL_MODE_DIRTYFB, &d) < 0) {
        if (errno == ENOSYS || errno == EOPNOTSUPP) {
            k->no_dirty = true;
            return 0;
        }
        return fail(err, errlen, errno, "DRM_IOCTL_MODE_DIRTYFB");
    }
    return 0;
}

static void kms_release(guest_disp_backend *b, uint32_t id)
{
    kms *k = (kms *)b;
    kms_out *o = out_of(k, id);
    if (o) {
        drop_buffer(k, o->fb_id, o->handle, o->map, o->size);
        memset(o, 0, sizeof *o);
    }
}

static void kms_close(guest_disp_backend *b)
{
    kms *k = (kms *)b;
    for (size_t i = 0; i < PROTO_DISP_MAX_CONNS; i++)
        if (k->out[i].conn)
            kms_release(b, k->out[i].conn);
    close(k->fd);
    free(k);
}

static const guest_disp_ops kms_ops = {kms_probe, kms_set_mode, kms_dirty, kms_release, kms_close};

guest_disp_backend *guest_disp_kms_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    /* The first opener is master already; an explicit SET_MASTER covers a card whose previous
     * master went away. Failure is not fatal here: SETCRTC will say so. */
    ioctl(fd, GUEST_DRM_IOCTL_SET_MASTER, 0);
    struct guest_drm_card_res r;
    memset(&r, 0, sizeof r);
    if (xioctl(fd, GUEST_DRM_IOCTL_MODE_GETRESOURCES, &r) < 0) {
        snprintf(err, errlen, "%s is not a KMS device: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    kms *k = calloc(1, sizeof *k);
    if (!k) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->base.ops = &kms_ops;
    k->fd = fd;
    return &k->base;
}
