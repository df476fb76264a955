/* revm-guestd --desktop-service: enumerate XDG applications and report them (see desktop.h).
 * Simple blocking program on purpose: it has one output (stdout, a pipe to the daemon) and one
 * input (inotify), and the daemon's exec channel already provides flow control and clean-up. */
#include "desktop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cm_file.h"
#include "cm_io.h"
#include "desktop/desktop_entry.h"
#include "proto.h"

#define DEFAULT_DATA_DIRS "/usr/local/share:/usr/share"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define QUIET_MS 150      /* rescan once events have stopped for this long (dpkg renames) */
#define MAX_DEBOUNCE_MS 1000
#define ICON_RETRY_MS 1000 /* an app seen before its icon was unpacked: look again */
#define ICON_RETRIES 3
#define MAX_DEPTH 3        /* applications/ subdirectories (ids with '-') */

typedef struct app {
    char id[PROTO_APP_MAX_ID + 1];
    uint64_t sig; /* what was sent: text, icon path, icon size and time */
    bool seen;    /* in the current scan */
} app;

typedef struct svc {
    int out_fd, ino;
    const char *dirs, *locale;
    app *apps;
    size_t napps;
    char (*done)[PROTO_APP_MAX_ID + 1]; /* ids handled in this scan (first data dir wins) */
    size_t ndone;
    uint8_t *rec;   /* one record */
    char *text;     /* one desktop file */
    uint8_t *icon;  /* one icon */
    bool missing_icon;
    bool dead;      /* stdout is gone */
} svc;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_record(svc *s, const proto_app_event *ev)
{
    if (s->dead)
        return;
    size_t n = proto_enc_app_record(s->rec, PROTO_APP_STREAM_BUF, ev);
    if (!n)
        return; /* cannot happen for what we build; never send what the host must refuse */
    if (cm_write_all(s->out_fd, s->rec, n) < 0)
        s->dead = true;
}

static bool executable_in_path(const char *prog)
{
    if (strchr(prog, '/'))
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = DEFAULT_PATH;
    char buf[PATH_MAX];
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        if (n && snprintf(buf, sizeof buf, "%.*s/%s", (int)n, p, prog) < (int)sizeof buf &&
            access(buf, X_OK) == 0)
            return true;
        p += n + (p[n] == ':');
    }
    return false;
}

/* ---- icons ---- */

static bool icon_file_ok(const char *path, struct stat *st)
{
    return stat(path, st) == 0 && S_ISREG(st->st_mode) && st->st_size > 0 &&
           st->st_size <= (off_t)PROTO_APP_MAX_ICON;
}

/* Lower is better: PNG 48..64 px, then larger PNG, then smaller PNG, then SVG. */
static int png_score(int px)
{
    if (px >= 48 && px <= 64)
        return px - 48;
    if (px > 64)
        return 100 + px;
    return 2000 - px;
}

static void search_theme(const char *theme_dir, const char *name, char *best, size_t cap,
                         int *best_score, char ext[4])
{
    DIR *d = opendir(theme_dir);
    if (!d)
        return;
    struct dirent *de;
    char path[PATH_MAX];
    struct stat st;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        int px = 0, score;
        const char *e;
        if (!strcmp(de->d_name, "scalable")) {
            e = "svg";
            score = 5000;
        } else if (sscanf(de->d_name, "%dx%d", &px, &(int){0}) == 2 && px > 0 && px < 100000) {
            e = "png";
            score = png_score(px) + (strchr(de->d_name, '@') ? 1 : 0);
        } else {
            continue;
        }
        if (score >= *best_score)
            continue;
        if (snprintf(path, sizeof path, "%s/%s/apps/%s.%s", theme_dir, de->d_name, name, e) >=
            (int)sizeof path)
            continue;
        if (icon_file_ok(path, &st)) {
            *best_score = score;
            snprintf(best, cap, "%s", path);
            memcpy(ext, e, 4);
        }
    }
    closedir(d);
}

int guest_desktop_find_icon(const char *icon, const char *data_dirs, char *out, size_t cap,
                            char ext[4])
{
    struct stat st;
    size_t n = strlen(icon);
    if (!n || n >= 256)
        return -1;
    if (icon[0] == '/') {
        if (n > 4 && (!strcmp(icon + n - 4, ".png") || !strcmp(icon + n - 4, ".svg")) &&
            icon_file_ok(icon, &st)) {
            snprintf(out, cap, "%s", icon);
            memcpy(ext, icon + n - 3, 4);
            return 0;
        }
        return -1;
    }
    if (strchr(icon, '/'))
        return -1;
    char name[256];
    snprintf(name, sizeof name, "%s", icon);
    if (n > 4 && (!strcmp(name + n - 4, ".png") || !strcmp(name + n - 4, ".svg") ||
                  !strcmp(name + n - 4, ".xpm")))
        name[n - 4] = 0;
    char dir[PATH_MAX];
    int best = 1 << 30;
    /* hicolor in every data dir first; then any other theme */
    for (int pass = 0; pass < 2 && best == 1 << 30; pass++)
        for (const char *p = data_dirs; *p;) {
            size_t k = strcspn(p, ":");
            if (k && pass == 0) {
                if (snprintf(dir, sizeof dir, "%.*s/icons/hicolor", (int)k, p) < (int)sizeof dir)
                    search_theme(dir, name, out, cap, &best, ext);
            } else if (k) {
                char icons[PATH_MAX];
                snprintf(icons, sizeof icons, "%.*s/icons", (int)k, p);
                DIR *d = opendir(icons);
                struct dirent *de;
                while (d && (de = readdir(d)))
                    if (de->d_name[0] != '.' && strcmp(de->d_name, "hicolor") &&
                        snprintf(dir, sizeof dir, "%s/%s", icons, de->d_name) < (int)sizeof dir)
                        search_theme(dir, name, out, cap, &best, ext);
                if (d)
                    closedir(d);
            }
            p += k + (p[k] == ':');
        }
    if (best != 1 << 30)
        return 0;
    static const char *const pix[] = {"/usr/share/pixmaps/%s.png", "/usr/share/pixmaps/%s.svg"};
    for (int i = 0; i < 2; i++) {
        snprintf(out, cap, pix[i], name);
        if (icon_file_ok(out, &st)) {
            memcpy(ext, i ? "svg" : "png", 4);
            return 0;
        }
    }
    return -1;
}

/* ---- scanning ---- */

static app *app_find(svc *s, const char *id)
{
    for (size_t i = 0; i < s->napps; i++)
        if (!strcmp(s->apps[i].id, id))
            return &s->apps[i];
    return NULL;
}

static bool done_has(svc *s, const char *id)
{
    for (size_t i = 0; i < s->ndone; i++)
        if (!strcmp(s->done[i], id))
            return true;
    return false;
}

static void consider(svc *s, const char *path, const char *id)
{
    if (done_has(s, id) || s->ndone >= GUEST_DESKTOP_MAX_APPS ||
        !proto_app_id_ok(id, strlen(id)))
        return;
    memcpy(s->done[s->ndone++], id, strlen(id) + 1); /* proto_app_id_ok: <= 255 bytes */
    long tn = (long)cm_read_file_buf(path, s->text, DESKTOP_MAX_BYTES);
    if (tn < 0)
        return;
    static desktop_entry e;
    char err[160];
    if (desktop_entry_parse(s->text, (size_t)tn, s->locale, &e, err, sizeof err) < 0 ||
        !desktop_entry_visible(&e, GUEST_DESKTOP_NAME) ||
        (e.try_exec[0] && !executable_in_path(e.try_exec)))
        return; /* not shown: if it was before, the sweep after the scan removes it */
    char icon_path[PATH_MAX] = "", ext[4] = "";
    struct stat st = {0};
    if (e.icon[0] && guest_desktop_find_icon(e.icon, s->dirs, icon_path, sizeof icon_path, ext) == 0)
        stat(icon_path, &st);
    else if (e.icon[0])
        s->missing_icon = true;
    uint64_t sig = fnv(0xcbf29ce484222325ull, s->text, (size_t)tn);
    sig = fnv(sig, icon_path, strlen(icon_path));
    sig = fnv(sig, &st.st_size, sizeof st.st_size);
    sig = fnv(sig, &st.st_mtim, sizeof st.st_mtim);
    app *a = app_find(s, id);
    if (a && a->sig == sig) {
        a->seen = true;
        return;
    }
    long in = icon_path[0] ? (long)cm_read_file_buf(icon_path, s->icon, PROTO_APP_MAX_ICON) : -1;
    proto_app_event ev = {.type = PROTO_APP_ADD, .id = {id, (uint32_t)strlen(id)},
                          .text = (const uint8_t *)s->text, .text_len = (uint32_t)tn};
    if (in > 0) {
        ev.icon_ext = (proto_str){ext, 3};
        ev.icon = s->icon;
        ev.icon_len = (uint32_t)in;
    }
    send_record(s, &ev);
    if (!a) {
        if (s->napps >= GUEST_DESKTOP_MAX_APPS)
            return;
        a = &s->apps[s->napps++];
        memcpy(a->id, id, strlen(id) + 1);
    }
    a->sig = sig;
    a->seen = true;
}

static void scan_dir(svc *s, const char *dir, const char *prefix, int depth)
{
    if (s->ino >= 0)
        inotify_add_watch(s->ino, dir, IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                           IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_ONLYDIR);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[PATH_MAX], id[PROTO_APP_MAX_ID + 2];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path ||
            snprintf(id, sizeof id, "%s%s", prefix, de->d_name) >= (int)sizeof id)
            continue;
        struct stat st;
        if (stat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < MAX_DEPTH && strlen(id) + 1 < sizeof id) {
                strcat(id, "-"); /* XDG: subdirectory separators become '-' in the id */
                scan_dir(s, path, id, depth + 1);
            }
        } else if (S_ISREG(st.st_mode)) {
            size_t n = strlen(de->d_name);
            if (n > 8 && !strcmp(de->d_name + n - 8, ".desktop"))
                consider(s, path, id);
        }
    }
    closedir(d);
}

static void scan(svc *s)
{
    s->ndone = 0;
    s->missing_icon = false;
    for (size_t i = 0; i < s->napps; i++)
        s->apps[i].seen = false;
    char dir[PATH_MAX];
    for (const char *p = s->dirs; *p;) {
        size_t k = strcspn(p, ":");
        if (k && snprintf(dir, sizeof dir, "%.*s", (int)k, p) < (int)sizeof dir) {
            /* the data dir itself: to notice applications/ created later */
            if (s->ino >= 0)
                inotify_add_watch(s->ino, dir, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
            if (strlen(dir) + 14 < sizeof dir) {
                strcat(dir, "/applications");
                scan_dir(s, dir, "", 0);
            }
        }
        p += k + (p[k] == ':');
    }
    for (size_t i = 0; i < s->napps;) {
        if (s->apps[i].seen) {
            i++;
            continue;
        }
        proto_app_event ev = {.type = PROTO_APP_REMOVE,
                              .id = {s->apps[i].id, (uint32_t)strlen(s->apps[i].id)}};
        send_record(s, &ev);
        s->apps[i] = s->apps[--s->napps];
    }
}

int guest_desktop_run(int out_fd, const char *data_dirs, const char *locale)
{
    svc s = {.out_fd = out_fd, .dirs = data_dirs, .locale = locale};
    s.apps = calloc(GUEST_DESKTOP_MAX_APPS, sizeof *s.apps);
    s.done = calloc(GUEST_DESKTOP_MAX_APPS, sizeof *s.done);
    s.rec = malloc(PROTO_APP_STREAM_BUF);
    s.text = malloc(DESKTOP_MAX_BYTES);
    s.icon = malloc(PROTO_APP_MAX_ICON);
    int rc = 1;
    if (!s.apps || !s.done || !s.rec || !s.text || !s.icon)
        goto out;
    s.ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    scan(&s);
    proto_app_event done = {.type = PROTO_APP_SYNC_DONE};
    send_record(&s, &done);
    int retries = s.missing_icon ? ICON_RETRIES : 0;
    int64_t first_ev = 0, last_ev = 0, retry_at = retries ? now_ms() + ICON_RETRY_MS : 0;
    static char evbuf[16384] __attribute__((aligned(8)));
    while (!s.dead) {
        int timeout = -1;
        int64_t now = now_ms();
        if (last_ev) {
            int64_t due = last_ev + QUIET_MS;
            if (due > first_ev + MAX_DEBOUNCE_MS)
                due = first_ev + MAX_DEBOUNCE_MS;
            timeout = due > now ? (int)(due - now) : 0;
        } else if (retry_at) {
            timeout = retry_at > now ? (int)(retry_at - now) : 0;
        }
        /* POLLOUT-less watch of stdout's hang-up: a closed channel ends us even when idle. */
        struct pollfd pf[2] = {{.fd = s.ino, .events = POLLIN}, {.fd = out_fd, .events = 0}};
        int r = poll(pf, 2, s.ino >= 0 ? timeout : (timeout < 0 ? 5000 : timeout));
        if (r < 0 && errno != EINTR)
            break;
        if (pf[1].revents & (POLLERR | POLLHUP))
            break;
        if (s.ino >= 0 && (pf[0].revents & POLLIN)) {
            while (read(s.ino, evbuf, sizeof evbuf) > 0) {
            }
            now = now_ms();
            if (!last_ev)
                first_ev = now;
            last_ev = now;
            continue;
        }
        now = now_ms();
        bool due = (last_ev && (now >= last_ev + QUIET_MS || now >= first_ev + MAX_DEBOUNCE_MS)) ||
                   (retry_at && now >= retry_at) || s.ino < 0;
        if (!due)
            continue;
        if (last_ev)
            retries = ICON_RETRIES;
        last_ev = first_ev = 0;
        scan(&s);
        retries = s.missing_icon && retries > 0 ? retries - 1 : 0;
        retry_at = retries ? now_ms() + ICON_RETRY_MS : 0;
    }
    rc = 0;
out:
    if (s.ino >= 0)
        close(s.ino);
    free(s.apps);
    free(s.done);
    free(s.rec);
    free(s.text);
    free(s.icon);
    return rc;
}

/* LANG from the environment, else from the distribution's locale file; "C" means none. */
static const char *guest_locale(char *buf, size_t cap)
{
    const char *vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strcmp(v, "C") && strcmp(v, "POSIX") ? v : NULL;
    }
    const char *files[] = {"/etc/default/locale", "/etc/locale.conf"};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "re");
        if (!f)
            continue;
        char line[256];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "LANG=", 5)) {
                char *v = line + 5;
                v[strcspn(v, "\n\"'")] = 0;
                if (*v == '"' || *v == '\'')
                    v++;
                int n = snprintf(buf, cap, "%s", v);
                fclose(f);
                if (n < 0 || (size_t)n >= cap)
                    return NULL;
                return *buf && strcmp(buf, "C") && strcmp(buf, "POSIX") ? buf : NULL;
            }
        fclose(f);
    }
    return NULL;
}

bool guest_desktop_request(const uint8_t *p, size_t n, struct proto_exec_open *req)
{
    if (!proto_dec_desktop_open(p, n))
        return false;
    /* Our own binary: /proc/self/exe is still the daemon in the child before it execs. */
    req->flags = PROTO_EXEC_NOPATH;
    req->rows = req->cols = 0;
    req->user = req->cwd = (proto_str){"", 0};
    req->argc = 2;
    req->argv[0] = (proto_str){"/proc/self/exe", 14};
    req->argv[1] = (proto_str){GUEST_DESKTOP_ARG, sizeof GUEST_DESKTOP_ARG - 1};
    /* The exec environment is built from defaults; the daemon's own data dirs and locale are
     * what the service must see (runit or a test may set them). */
    static char envbuf[3][1024];
    static const char *const names[] = {"XDG_DATA_DIRS", "LC_ALL", "LANG"};
    req->envc = 0;
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(names[i]);
        int k = v ? snprintf(envbuf[i], sizeof envbuf[i], "%s=%s", names[i], v) : -1;
        if (k > 0 && (size_t)k < sizeof envbuf[i])
            req->env[req->envc++] = (proto_str){envbuf[i], (uint32_t)k};
    }
    return true;
}

int guest_desktop_main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a closed channel shows as a failed write */
    const char *dirs = getenv("XDG_DATA_DIRS");
    if (!dirs || !*dirs)
        dirs = DEFAULT_DATA_DIRS;
    char loc[128];
    return guest_desktop_run(1, dirs, guest_locale(loc, sizeof loc));
}
