/* The display helper's fake backend (ARG "fake" or "fake:DUMP"): two connectors kept in
 * memory, so the host library, the Linux front end and the Redox scheme adapter are tested
 * against the real helper without a VM or a DRM card. With DUMP, every dirty rectangle
 * rewrites DUMP as a PPM of connector 1's buffer (temp name + rename), like a screendump; a
 * file DUMP.unplugged makes connector 1 vanish (hot-plug tests). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disp.h"

typedef struct fake_out {
    uint8_t *fb;
    proto_disp_mode mode;
} fake_out;

typedef struct fake {
    guest_disp_backend base;
    char dump[1024];
    fake_out out[2];
} fake;

static const proto_disp_mode fake_modes[] = {
    {1024, 768, 60, PROTO_DISP_MODE_PREFERRED}, {1280, 1024, 60, 0}, {800, 600, 60, 0},
    {640, 480, 60, 0},
};

static bool unplugged(fake *f)
{
    char p[1100];
    if (!f->dump[0])
        return false;
    snprintf(p, sizeof p, "%s.unplugged", f->dump);
    return access(p, F_OK) == 0;
}

static int fake_probe(guest_disp_backend *b, proto_disp_conn *c, size_t max, size_t *n,
                      char *err, size_t errlen)
{
    fake *f = (fake *)b;
    (void)err, (void)errlen;
    *n = 0;
    if (max < 2)
        return 0;
    memset(c, 0, 2 * sizeof *c);
    c[0].id = 1;
    c[0].connected = !unplugged(f);
    strcpy(c[0].name, "Virtual-1");
    if (c[0].connected) {
        c[0].nmodes = sizeof fake_modes / sizeof fake_modes[0];
        memcpy(c[0].modes, fake_modes, sizeof fake_modes);
    }
    c[1].id = 2;
    strcpy(c[1].name, "Virtual-2");
    *n = 2;
    return 0;
}

static int fake_set_mode(guest_disp_backend *b, uint32_t id, const proto_disp_mode *m,
                         uint8_t **fb, uint32_t *pitch, char *err, size_t errlen)
{
    fake *f = (fake *)b;
    if (id != 1 || unplugged(f)) {
        snprintf(err, errlen, "connector %u has no display attached", id);
        return -ENODEV;
    }
    uint8_t *p = calloc((size_t)m->w * m->h, 4);
    if (!p) {
        snprintf(err, errlen, "out of memory for %ux%u", m->w, m->h);
        return -ENOMEM;
    }
    free(f->out[0].fb);
    f->out[0].fb = p;
    f->out[0].mode = *m;
    *fb = p;
    *pitch = (uint32_t)m->w * 4u;
    return 0;
}

static int write_dump(fake *f, char *err, size_t errlen)
{
    fake_out *o = &f->out[0];
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->dump);
    size_t row = (size_t)o->mode.w * 3;
    uint8_t *line = malloc(row);
    FILE *fp = line ? fopen(tmp, "wb") : NULL;
    if (!fp) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        free(line);
        return -EIO;
    }
    fprintf(fp, "P6\n%u %u\n255\n", o->mode.w, o->mode.h);
    for (unsigned y = 0; y < o->mode.h; y++) {
        const uint8_t *s = o->fb + (size_t)y * o->mode.w * 4;
        for (unsigned x = 0; x < o->mode.w; x++) {
            line[x * 3] = s[x * 4 + 2];
            line[x * 3 + 1] = s[x * 4 + 1];
            line[x * 3 + 2] = s[x * 4];
        }
        fwrite(line, 1, row, fp);
    }
    free(line);
    /* Only a complete picture replaces the dump: readers never see half a frame. */
    bool bad = ferror(fp);
    if (fclose(fp) != 0 || bad || rename(tmp, f->dump) != 0) {
        snprintf(err, errlen, "cannot write %s", f->dump);
        unlink(tmp);
        return -EIO;
    }
    return 0;
}

static int fake_dirty(guest_disp_backend *b, uint32_t id, const proto_disp_rect *r, char *err,
                      size_t errlen)
{
    fake *f = (fake *)b;
    (void)r;
    if (id != 1 || !f->out[0].fb) {
        snprintf(err, errlen, "connector %u has no buffer", id);
        return -ENODEV;
    }
    return f->dump[0] ? write_dump(f, err, errlen) : 0;
}

static void fake_release(guest_disp_backend *b, uint32_t id)
{
    fake *f = (fake *)b;
    if (id == 1) {
        free(f->out[0].fb);
        f->out[0].fb = NULL;
    }
}

static void fake_close(guest_disp_backend *b)
{
    fake *f = (fake *)b;
    free(f->out[0].fb);
    free(f);
}

static const guest_disp_ops fake_ops = {fake_probe, fake_set_mode, fake_dirty, fake_release,
                                        fake_close};

guest_disp_backend *guest_disp_fake_open(const char *spec, char *err, size_t errlen)
{
    fake *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->base.ops = &fake_ops;
    if (!strncmp(spec, "fake:", 5)) {
        if (strlen(spec + 5) >= sizeof f->dump) {
            free(f);
            snprintf(err, errlen, "fake display: dump path too long");
            return NULL;
        }
        strcpy(f->dump, spec + 5);
    }
    return &f->base;
}
