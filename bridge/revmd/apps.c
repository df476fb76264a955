/* VM applications in the host launcher: the event handling and the per-VM client thread. */
#include "apps.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "desktop/desktop_entry.h"
#include "rb_conn.h"
#include "rb_unix.h"

#define APPS_CHAN 1
#define APPS_HANDSHAKE_MS 10000
#define APPS_BACKOFF_MIN_MS 1000
#define APPS_BACKOFF_MAX_MS 30000

/* ---- settings ---- */

int sup_apps_launcher(sup_launcher *l)
{
    memset(l, 0, sizeof *l);
#ifdef __redox__
    l->format = SUP_LAUNCHER_REDOX;
#else
    l->format = SUP_LAUNCHER_XDG;
#endif
    const char *d = getenv("REVM_LAUNCHER_DIR"), *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;
    if (d && !strcmp(d, "none"))
        return -1;
    if (d && *d)
        n = snprintf(l->dir, sizeof l->dir, "%s", d);
    else if (l->format == SUP_LAUNCHER_REDOX)
        n = snprintf(l->dir, sizeof l->dir, "/ui/apps");
    else if (xdg && *xdg == '/')
        n = snprintf(l->dir, sizeof l->dir, "%s/applications", xdg);
    else if (home && *home == '/')
        n = snprintf(l->dir, sizeof l->dir, "%s/.local/share/applications", home);
    else
        return -1;
    if (n < 0 || (size_t)n >= sizeof l->dir)
        return -1;
    /* revm lives beside revmd (the build tree and every install prefix look the same). */
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0;
        n = snprintf(l->revm, sizeof l->revm, "%s/revm", exe);
    } else {
        n = snprintf(l->revm, sizeof l->revm, "revm");
    }
    return n < 0 || (size_t)n >= sizeof l->revm ? -1 : 0;
}

/* ---- event handling ---- */

int sup_apps_state_init(sup_apps_state *st, const sup_launcher *l, const char *vm)
{
    memset(st, 0, sizeof *st);
    st->l = *l;
    snprintf(st->vm, sizeof st->vm, "%s", vm);
    st->ids = calloc(SUP_APPS_MAX, sizeof *st->ids);
    return st->ids ? 0 : -1;
}

void sup_apps_state_fini(sup_apps_state *st)
{
    free(st->ids);
    st->ids = NULL;
    st->n = 0;
}

static void forget(sup_apps_state *st, const char *safe)
{
    for (size_t i = 0; i < st->n; i++)
        if (!strcmp(st->ids[i], safe)) {
            memcpy(st->ids[i], st->ids[--st->n], sizeof st->ids[i]);
            return;
        }
}

static void remember(sup_apps_state *st, const char *safe)
{
    for (size_t i = 0; i < st->n; i++)
        if (!strcmp(st->ids[i], safe))
            return;
    if (st->n < SUP_APPS_MAX)
        snprintf(st->ids[st->n++], sizeof st->ids[0], "%s", safe);
}

/* Removes the VM's entries whose ids are not in this session's list. */
static void sweep(sup_apps_state *st)
{
    char prefix[64];
    int pn = snprintf(prefix, sizeof prefix, "revm-%s-", st->vm);
    DIR *d = opendir(st->l.dir);
    if (!d)
        return;
    struct dirent *de;
    char (*stale)[96] = calloc(SUP_APPS_MAX, sizeof *stale);
    size_t ns = 0;
    while (stale && (de = readdir(d)) && ns < SUP_APPS_MAX) {
        if (strncmp(de->d_name, prefix, (size_t)pn))
            continue;
        char id[256];
        snprintf(id, sizeof id, "%s", de->d_name + pn);
        size_t il = strlen(id);
        if (il > 8 && !strcmp(id + il - 8, ".desktop"))
            id[il - 8] = 0;
        else if (st->l.format == SUP_LAUNCHER_XDG)
            continue;
        bool known = false;
        for (size_t i = 0; i < st->n && !known; i++)
            known = !strcmp(st->ids[i], id);
        if (!known && strlen(id) < sizeof stale[0])
            memcpy(stale[ns++], id, strlen(id) + 1);
    }
    closedir(d);
    for (size_t i = 0; i < ns; i++)
        sup_launcher_remove(&st->l, st->vm, stale[i]);
    free(stale);
}

int sup_apps_apply(sup_apps_state *st, const proto_app_event *ev, char *err, size_t errlen)
{
    char id[PROTO_APP_MAX_ID + 1], safe[96];
    if (ev->type == PROTO_APP_SYNC_DONE) {
        st->synced = true;
        sweep(st);
        return 0;
    }
    /* The decoder checked the id already; check again, the handler must stand alone. */
    if (!proto_app_id_ok(ev->id.s, ev->id.n)) {
        snprintf(err, errlen, "application id refused");
        return -1;
    }
    memcpy(id, ev->id.s, ev->id.n);
    id[ev->id.n] = 0;
    if (!desktop_safe_id(id, safe, sizeof safe)) {
        snprintf(err, errlen, "%s: application id has no usable characters", id);
        return -1;
    }
    if (ev->type == PROTO_APP_REMOVE) {
        sup_launcher_remove(&st->l, st->vm, id);
        forget(st, safe);
        return 0;
    }
    if (ev->type != PROTO_APP_ADD) {
        snprintf(err, errlen, "unknown application event 0x%02x", ev->type);
        return -1;
    }
    bool known = false;
    for (size_t i = 0; i < st->n && !known; i++)
        known = !strcmp(st->ids[i], safe);
    if (!known && st->n >= SUP_APPS_MAX) {
        /* a guest cannot fill the host's disk with entries */
        snprintf(err, errlen, "%s: more than %d applications from this VM", id, SUP_APPS_MAX);
        return -1;
    }
    static __thread desktop_entry e;
    char perr[200];
    const char *loc = getenv("LC_ALL");
    if (!loc || !*loc)
        loc = getenv("LC_MESSAGES");
    if (!loc || !*loc)
        loc = getenv("LANG");
    int rc = -1;
    if (ev->text_len > DESKTOP_MAX_BYTES) {
        snprintf(err, errlen, "%s: desktop file over %d bytes", id, DESKTOP_MAX_BYTES);
    } else if (desktop_entry_parse((const char *)ev->text, ev->text_len, loc, &e, perr, sizeof perr) < 0) {
        snprintf(err, errlen, "%s: %s", id, perr);
    } else if (!desktop_entry_visible(&e, "Redox") || e.exec_argc == 0) {
        snprintf(err, errlen, "%s: not a visible application with a program", id);
    } else {
        char ext[4] = "";
        if (ev->icon_len && ev->icon_ext.n == 3)
            memcpy(ext, ev->icon_ext.s, 3);
        rc = sup_launcher_write(&st->l, st->vm, id, &e, ev->icon_len ? ev->icon : NULL,
                                ev->icon_len, ext[0] ? ext : NULL, err, errlen);
    }
    if (rc < 0) {
        /* An application that changed into something refused loses its old entry too. */
        sup_launcher_remove(&st->l, st->vm, id);
        forget(st, safe);
        return -1;
    }
    remember(st, safe);
    return 0;
}

void sup_apps_clear_stale(const char *vm)
{
    sup_launcher l;
    if (sup_apps_launcher(&l) == 0)
        sup_launcher_clear_vm(&l, vm);
}

/* ---- the client thread ---- */

struct sup_apps {
    pthread_t thread;
    char vm[32];
    char sock[108];
    int stop[2];
    sup_apps_state st;
    proto_app_stream rs;
    uint8_t *rbuf;
    rb_conn conn;
    bool open_ok, chan_over;
    const char *why; /* why the channel ended, for the back-off decision */
};

static void apps_log(sup_apps *a, const char *fmt, const char *s)
{
    fprintf(stderr, "revmd: VM %s: applications: ", a->vm);
    fprintf(stderr, fmt, s);
    fputc('\n', stderr);
}

static void apps_frame(void *ctx, const proto_hdr *h, const uint8_t *pl)
{
    sup_apps *a = ctx;
    if (h->chan != APPS_CHAN || a->chan_over) {
        if (h->type != PROTO_CH_ERROR && h->type != PROTO_CLOSE)
            rb_conn_send_cherr(&a->conn, h->chan, PROTO_EBADF, "channel not open");
        return;
    }
    uint8_t s;
    const uint8_t *d;
    size_t dn;
    uint32_t code;
    proto_str t;
    char err[512];
    switch (h->type) {
    case PROTO_OPEN_OK:
        a->open_ok = true;
        return;
    case PROTO_CH_ERROR:
        a->chan_over = true;
        if (proto_dec_error(pl, h->len, &code, &t)) {
            char txt[300];
            snprintf(txt, sizeof txt, "%.*s", (int)(t.n < 290 ? t.n : 290), t.s);
            apps_log(a, "desktop service refused: %s", txt);
            a->why = code == PROTO_EOPNOTSUPP ? "unsupported" : "error";
        }
        return;
    case PROTO_DATA:
        if (!proto_dec_data(pl, h->len, &s, &d, &dn) || s != PROTO_STDOUT || !a->open_ok) {
            rb_conn_send_cherr(&a->conn, APPS_CHAN, PROTO_EPROTO, "desktop records belong on stream 1");
            a->chan_over = true;
            return;
        }
        for (size_t off = 0; off < dn;) {
            size_t used;
            proto_app_event ev;
            int r = proto_app_stream_feed(&a->rs, d + off, dn - off, &used, &ev);
            off += used;
            if (r == PROTO_BAD_FRAME) {
                apps_log(a, "%s", "malformed desktop record from the VM; closing the channel");
                rb_conn_send_cherr(&a->conn, APPS_CHAN, PROTO_EPROTO, "malformed desktop record");
                a->chan_over = true;
                return;
            }
            if (r == PROTO_FRAME && sup_apps_apply(&a->st, &ev, err, sizeof err) < 0)
                apps_log(a, "skipped: %s", err);
        }
        if (dn)
            rb_conn_send_credit(&a->conn, APPS_CHAN, PROTO_STDOUT, (uint32_t)dn);
        return;
    case PROTO_EOF:
    case PROTO_EXIT:
        return; /* the watcher ended; CLOSE follows */
    case PROTO_CLOSE:
        rb_conn_send_empty(&a->conn, PROTO_CLOSE, APPS_CHAN);
        a->chan_over = true;
        return;
    default:
        rb_conn_send_cherr(&a->conn, APPS_CHAN, PROTO_EPROTO, "unexpected message on the desktop channel");
        a->chan_over = true;
        return;
    }
}

static void apps_ready(void *ctx, bool reset)
{
    sup_apps *a = ctx;
    if (reset)
        a->chan_over = true;
}

static void apps_conn_log(void *ctx, const char *msg)
{
    apps_log(ctx, "%s", msg);
}

static const rb_conn_ops apps_ops = {.frame = apps_frame, .ready = apps_ready, .log = apps_conn_log};

static bool stopping(sup_apps *a, int ms)
{
    struct pollfd p = {.fd = a->stop[0], .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

/* One session: connect, open the service, apply events until the channel or connection ends.
 * Returns false when stopped. */
static bool session(sup_apps *a)
{
    char err[256];
    int fd = rb_unix_connect(a->sock, err, sizeof err);
    if (fd < 0)
        return true;
    rb_conn_cfg cfg = {.agent = "revmd applications", .features = PROTO_F_EXEC};
    if (rb_conn_init(&a->conn, fd, RB_HOST, &cfg, &apps_ops, a) < 0)
        return true;
    a->open_ok = a->chan_over = false;
    a->why = NULL;
    proto_app_stream_init(&a->rs, a->rbuf);
    if (rb_conn_handshake(&a->conn, a->stop[0], APPS_HANDSHAKE_MS) < 0) {
        rb_conn_destroy(&a->conn);
        return !stopping(a, 0);
    }
    a->st.n = 0;
    a->st.synced = false;
    uint8_t f[64];
    rb_conn_send(&a->conn, f, proto_enc_desktop_open(f, sizeof f, APPS_CHAN));
    bool run = true;
    while (!a->conn.dead && !a->chan_over) {
        int timeout = rb_conn_tick(&a->conn, rb_now_ms());
        struct pollfd p[2] = {{.fd = a->conn.fd, .events = POLLIN | (rb_conn_want_write(&a->conn) ? POLLOUT : 0)},
                              {.fd = a->stop[0], .events = POLLIN}};
        if (poll(p, 2, timeout) < 0 && errno != EINTR)
            break;
        if (p[1].revents) {
            run = false;
            break;
        }
        if ((p[0].revents & POLLOUT) && rb_conn_flush(&a->conn) < 0)
            break;
        if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && rb_conn_on_readable(&a->conn) < 0)
            break;
        rb_conn_flush(&a->conn);
    }
    rb_conn_flush(&a->conn);
    rb_conn_destroy(&a->conn);
    return run;
}

static void *apps_main(void *arg)
{
    sup_apps *a = arg;
    int backoff = APPS_BACKOFF_MIN_MS;
    while (session(a)) {
        /* a guest without the service will not grow one: ask again only rarely */
        int wait = a->why && !strcmp(a->why, "unsupported") ? APPS_BACKOFF_MAX_MS : backoff;
        if (a->st.synced)
            backoff = APPS_BACKOFF_MIN_MS;
        else if (backoff < APPS_BACKOFF_MAX_MS)
            backoff *= 2;
        if (stopping(a, wait))
            break;
    }
    return NULL;
}

sup_apps *sup_apps_start(const char *vm, const char *client_sock)
{
    sup_launcher l;
    if (sup_apps_launcher(&l) < 0)
        return NULL;
    sup_apps *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    snprintf(a->vm, sizeof a->vm, "%s", vm);
    snprintf(a->sock, sizeof a->sock, "%s", client_sock);
    a->rbuf = malloc(PROTO_APP_STREAM_BUF);
    if (!a->rbuf || sup_apps_state_init(&a->st, &l, vm) < 0 || pipe2(a->stop, O_CLOEXEC) < 0)
        goto fail;
    if (pthread_create(&a->thread, NULL, apps_main, a) != 0) {
        close(a->stop[0]);
        close(a->stop[1]);
        goto fail;
    }
    return a;
fail:
    sup_apps_state_fini(&a->st);
    free(a->rbuf);
    free(a);
    return NULL;
}

void sup_apps_stop(sup_apps *a)
{
    if (!a)
        return;
    (void)!write(a->stop[1], "x", 1);
    pthread_join(a->thread, NULL);
    close(a->stop[0]);
    close(a->stop[1]);
    sup_apps_state_fini(&a->st);
    free(a->rbuf);
    free(a);
}
